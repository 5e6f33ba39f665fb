//! `POST /v1/chat/completions`: the body, the model and the messages checked, then
//! what the flavor makes of `response_format` (and vLLM's `structured_outputs`,
//! OpenRouter's `provider.require_parameters`), then the answer: scripted text, JSON
//! built from the schema the server honoured, or free prose when it ignored it.

use std::sync::Arc;

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::{self, invalid};
use super::{Flavor, Inner, next_request, strict};
use crate::faults::{Call, Fault};
use crate::schema_answer;
use crate::server::Exchange;

/// Top-level fields OpenAI takes; anything else is refused there.
const OPENAI_FIELDS: &[&str] = &[
    "model",
    "messages",
    "response_format",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "stop",
    "stream",
    "stream_options",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "store",
    "metadata",
    "reasoning_effort",
    "service_tier",
    "modalities",
    "audio",
    "prediction",
    "verbosity",
    "safety_identifier",
    "prompt_cache_key",
];

/// Roles a message may have.
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool"];

/// What the server will constrain the answer to.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Wanted {
    /// JSON matching this schema.
    Schema(Value),
    /// Any JSON object.
    AnyJson,
    /// Free text (no format asked, or the one asked was ignored).
    Free,
}

/// Answers a chat completion.
pub(super) async fn complete(
    inner: &Arc<Inner>,
    exchange: &Exchange,
) -> Result<Response, Response> {
    let flavor = inner.state().flavor;
    let Ok(body) = exchange.json() else {
        return Err(invalid(
            flavor,
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            Value::Null,
        ));
    };
    if flavor == Flavor::OpenAi
        && let Some(field) = body.as_object().and_then(|fields| {
            fields
                .keys()
                .find(|key| !OPENAI_FIELDS.contains(&key.as_str()))
        })
    {
        return Err(invalid(
            flavor,
            &format!("Unrecognized request argument supplied: {field}"),
            Value::Null,
        ));
    }
    let model = check_model(inner, flavor, &body)?;
    let prompt = check_messages(flavor, &body)?;
    let wanted = wanted(flavor, &body, &prompt)?;
    let fault = inner.faults.next(Call::Text);
    if let Some(answer) = fault
        .as_ref()
        .and_then(|f| errors::fault(flavor, f, &model))
    {
        return Err(answer);
    }
    let latency = match &fault {
        Some(Fault::Slow(delay)) => *delay,
        _ => inner.faults.latency_of(Call::Text),
    };
    tokio::time::sleep(latency).await;
    let number = next_request(inner);
    if fault == Some(Fault::Malformed) {
        return Ok((
            [("content-type", "application/json")],
            format!("{{\"id\":\"chatcmpl-fake{number}\",\"object\":\"chat.completion\",\"choices\":[{{\"index\":0,\"message\":"),
        )
            .into_response());
    }
    let scripted = inner.state().text_answers.pop_front();
    let mut content = scripted.unwrap_or_else(|| match &wanted {
        Wanted::Schema(schema) => {
            schema_answer::value(schema, schema_answer::material(&prompt.user)).to_string()
        }
        Wanted::AnyJson => {
            json!({"answer": prompt.user.chars().take(120).collect::<String>()}).to_string()
        }
        Wanted::Free => format!(
            "Sure! Here is what you asked for: {}",
            prompt.user.chars().take(120).collect::<String>()
        ),
    });
    let mut finish = "stop";
    let mut refusal = Value::Null;
    match fault {
        Some(Fault::Truncated) => {
            let cut = content.char_indices().nth(content.chars().count() / 2);
            content.truncate(cut.map_or(0, |(at, _)| at));
            finish = "length";
        }
        Some(Fault::Blocked) => refusal = json!("I'm sorry, but I can't help with that request."),
        _ => {}
    }
    let prompt_tokens = tokens(&prompt.all);
    let completion_tokens = if refusal.is_null() {
        tokens(&content)
    } else {
        12
    };
    let message = if refusal.is_null() {
        json!({"role": "assistant", "content": content, "refusal": null})
    } else {
        json!({"role": "assistant", "content": null, "refusal": refusal})
    };
    let mut answer = json!({
        "id": format!("chatcmpl-fake{number}"),
        "object": "chat.completion",
        "created": 1_767_225_600 + number,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": "fp_fake",
    });
    if flavor == Flavor::OpenRouter {
        answer["provider"] = json!("Fake");
    }
    let mut response = axum::Json(answer).into_response();
    if flavor == Flavor::OpenAi {
        for (name, value) in [
            ("x-request-id", format!("req_fake{number:08}")),
            ("openai-processing-ms", "42".to_string()),
            ("x-ratelimit-limit-requests", "500".to_string()),
            ("x-ratelimit-remaining-requests", "499".to_string()),
            ("x-ratelimit-reset-requests", "120ms".to_string()),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    Ok(response)
}

/// Rough token count of a text (four characters a token).
fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// The model asked for, when the server serves it (llama.cpp serves whatever it
/// loaded, whatever the name).
fn check_model(inner: &Inner, flavor: Flavor, body: &Value) -> Result<String, Response> {
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let state = inner.state();
    if flavor == Flavor::LlamaCpp {
        return Ok(state.models.first().cloned().unwrap_or_default());
    }
    if model.is_empty() {
        return Err(invalid(
            flavor,
            "you must provide a model parameter",
            Value::Null,
        ));
    }
    if state.retired.contains(model) || !state.models.iter().any(|served| served == model) {
        return Err(errors::model_gone(flavor, model));
    }
    Ok(model.to_string())
}

/// The messages' text.
pub(super) struct Prompt {
    /// The last user message.
    pub user: String,
    /// Every message's text, for the usage count and the json_object rule.
    pub all: String,
}

/// Messages are a non-empty list of `{role, content}` with a known role and text (or
/// parts) as content.
fn check_messages(flavor: Flavor, body: &Value) -> Result<Prompt, Response> {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Err(invalid(
            flavor,
            "Missing required parameter: 'messages'.",
            json!("missing_required_parameter"),
        ));
    };
    if messages.is_empty() {
        return Err(invalid(flavor, "[] is too short - 'messages'", Value::Null));
    }
    let mut prompt = Prompt {
        user: String::new(),
        all: String::new(),
    };
    for (index, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        if !ROLES.contains(&role) {
            return Err(invalid(
                flavor,
                &format!(
                    "Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."
                ),
                json!("invalid_value"),
            ));
        }
        let text = match message.get("content") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            Some(Value::Null) if role == "assistant" => String::new(),
            _ => {
                return Err(invalid(
                    flavor,
                    &format!(
                        "Invalid type for 'messages[{index}].content': expected one of a string or array of objects, but got {} instead.",
                        message.get("content").map_or("nothing", kind_name)
                    ),
                    json!("invalid_type"),
                ));
            }
        };
        if role == "user" {
            prompt.user = text.clone();
        }
        prompt.all.push_str(&text);
        prompt.all.push('\n');
    }
    Ok(prompt)
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What the flavor makes of the request's format fields (providers.md §11.1).
pub(super) fn wanted(flavor: Flavor, body: &Value, prompt: &Prompt) -> Result<Wanted, Response> {
    let format = body.get("response_format");
    let kind = format
        .and_then(|format| format.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("text");
    let nested = format
        .and_then(|format| format.pointer("/json_schema/schema"))
        .cloned();
    match flavor {
        Flavor::OpenAi => openai(flavor, format, kind, prompt),
        Flavor::Vllm => {
            // guided_json & co. were removed in v0.12 and are ignored without a word.
            if let Some(schema) = body.pointer("/structured_outputs/json") {
                return Ok(Wanted::Schema(schema.clone()));
            }
            match kind {
                "json_schema" => Ok(nested.map_or(Wanted::AnyJson, Wanted::Schema)),
                "json_object" => Ok(Wanted::AnyJson),
                "text" => Ok(Wanted::Free),
                other => Err(invalid(
                    flavor,
                    &format!("Unknown response_format type: {other}"),
                    json!(400),
                )),
            }
        }
        Flavor::Ollama => Ok(match kind {
            "json_schema" => nested.map_or(Wanted::AnyJson, Wanted::Schema),
            "json_object" => Wanted::AnyJson,
            _ => Wanted::Free,
        }),
        Flavor::LlamaCpp => {
            if body.get("grammar").is_some() && kind == "json_schema" {
                return Err(invalid(
                    flavor,
                    "Either \"json_schema\" or \"grammar\" can be specified, but not both",
                    Value::Null,
                ));
            }
            match kind {
                // Only the nested schema is read: the flat form is an empty schema.
                "json_schema" => Ok(nested.map_or(Wanted::Free, Wanted::Schema)),
                "json_object" => Ok(format
                    .and_then(|format| format.get("schema"))
                    .cloned()
                    .map_or(Wanted::AnyJson, Wanted::Schema)),
                "text" => Ok(Wanted::Free),
                other => Err(invalid(
                    flavor,
                    &format!(
                        "response_format type must be one of \"text\" or \"json_object\", but got: {other}"
                    ),
                    Value::Null,
                )),
            }
        }
        Flavor::LmStudio => match kind {
            "json_schema" => Ok(nested.map_or(Wanted::Free, Wanted::Schema)),
            "text" => Ok(Wanted::Free),
            _ => Err(invalid(
                flavor,
                "'response_format.type' must be 'json_schema' or 'text'",
                Value::Null,
            )),
        },
        Flavor::OpenRouter => {
            // Without require_parameters the request may land on a provider that
            // ignores response_format; the fake always routes it to one.
            let required = body.pointer("/provider/require_parameters") == Some(&Value::Bool(true));
            Ok(match kind {
                "json_schema" if required => nested.map_or(Wanted::AnyJson, Wanted::Schema),
                "json_object" if required => Wanted::AnyJson,
                _ => Wanted::Free,
            })
        }
    }
}

/// OpenAI's own rules for `response_format`.
fn openai(
    flavor: Flavor,
    format: Option<&Value>,
    kind: &str,
    prompt: &Prompt,
) -> Result<Wanted, Response> {
    match kind {
        "text" => Ok(Wanted::Free),
        "json_object" => {
            if prompt.all.to_lowercase().contains("json") {
                Ok(Wanted::AnyJson)
            } else {
                Err(invalid(
                    flavor,
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    Value::Null,
                ))
            }
        }
        "json_schema" => {
            let Some(spec) = format.and_then(|format| format.get("json_schema")) else {
                return Err(invalid(
                    flavor,
                    "Missing required parameter: 'response_format.json_schema'.",
                    json!("missing_required_parameter"),
                ));
            };
            let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid_name {
                return Err(invalid(
                    flavor,
                    "Invalid 'response_format.json_schema.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    json!("invalid_value"),
                ));
            }
            let schema = spec.get("schema").cloned().unwrap_or(json!({}));
            if spec.get("strict") == Some(&Value::Bool(true))
                && let Err(problem) = strict::check(&schema)
            {
                return Err(invalid(
                    flavor,
                    &format!("Invalid schema for response_format '{name}': {problem}"),
                    json!("invalid_json_schema"),
                ));
            }
            Ok(Wanted::Schema(schema))
        }
        other => Err(invalid(
            flavor,
            &format!(
                "Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."
            ),
            json!("invalid_value"),
        )),
    }
}
