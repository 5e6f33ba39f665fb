//! Text, and JSON under a schema, through `POST /v1/chat/completions`. How the schema
//! is sent depends on `structured_output` (see the crate docs); the answer is checked
//! client-side either way, since some servers accept a schema and ignore it.

use chute_plugin_sdk::bindings::chute::provider::host::Request;
use chute_plugin_sdk::http::send;
use chute_plugin_sdk::serde_json::{self, Value, json};
use chute_plugin_sdk::{Level, ProviderError, TextRequest, TextResult, log};

use crate::failure::{self, Said};
use crate::{answer, flag, number, setting, strict};

/// How the schema travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `response_format: {type: json_schema, json_schema: {name, strict, schema}}`.
    JsonSchema,
    /// `response_format: {type: json_object}`, the schema in the prompt.
    JsonObject,
    /// vLLM's extra body field `structured_outputs: {json: schema}`.
    StructuredOutputs,
    /// Nothing but the schema stated in the system prompt.
    Prompt,
}

impl Mode {
    fn configured() -> Result<Mode, ProviderError> {
        Ok(match setting("structured_output").as_deref() {
            None | Some("json_schema") => Mode::JsonSchema,
            Some("json_object") => Mode::JsonObject,
            Some("structured_outputs") => Mode::StructuredOutputs,
            Some("prompt") => Mode::Prompt,
            Some(other) => {
                return Err(ProviderError::BadRequest(format!(
                    "structured_output = `{other}` is not one of json_schema, json_object, structured_outputs, prompt"
                )));
            }
        })
    }
}

/// Answers a text request.
pub fn generate(req: TextRequest) -> Result<TextResult, ProviderError> {
    let model = setting("model").unwrap_or_else(|| "gpt-4o-mini".into());
    let schema = req
        .json_schema
        .as_deref()
        .map(|schema| {
            serde_json::from_str::<Value>(schema).map_err(|error| {
                ProviderError::BadRequest(format!("the JSON schema does not parse: {error}"))
            })
        })
        .transpose()?;
    let mode = Mode::configured()?;
    let shape = Shape {
        mode,
        strict: flag("strict", true)?,
        schema_in_prompt: flag("schema_in_prompt", mode != Mode::JsonSchema)?,
        require_parameters: flag("require_parameters", crate::is_openrouter())?,
        // Through its shortest decimal form, so 0.2f32 goes out as 0.2.
        temperature: req
            .temperature
            .and_then(|t| t.to_string().parse::<f64>().ok())
            .or(number("temperature")?),
        max_tokens: match req.max_output_tokens {
            Some(limit) => Some(limit),
            None => number("max_output")?.map(|limit| limit.clamp(1.0, f64::from(u32::MAX)) as u32),
        },
    };
    let mut response = post(&body(&req, &model, schema.as_ref(), &shape))?;
    if schema.is_some()
        && mode != Mode::Prompt
        && refuses_response_format(response.status, &response.body)
    {
        // LM Studio and older servers refuse a response_format they do not take:
        // ask again with the schema in the prompt only, and check the answer.
        log(
            Level::Warn,
            &format!(
                "the server refused the response_format ({}); asking again with the schema in the prompt",
                Said::read(&response.body).message
            ),
        );
        let fallback = Shape {
            mode: Mode::Prompt,
            schema_in_prompt: true,
            ..shape
        };
        response = post(&body(&req, &model, schema.as_ref(), &fallback))?;
    }
    if !(200..300).contains(&response.status) {
        return Err(failure::from_response(&response));
    }
    let parsed: Value = serde_json::from_slice(&response.body).map_err(|error| {
        ProviderError::Other(format!(
            "the server answered {} with a body that is not JSON: {error}",
            response.status
        ))
    })?;
    let reply = answer::read(&parsed, &model)?;
    if let Some(schema) = &schema {
        check(&reply.content, schema)?;
    }
    Ok(TextResult {
        text: reply.content,
        model: reply.model,
        input_tokens: reply.prompt_tokens,
        output_tokens: reply.completion_tokens,
    })
}

/// How a request is shaped.
#[derive(Debug, Clone, Copy)]
struct Shape {
    mode: Mode,
    strict: bool,
    schema_in_prompt: bool,
    require_parameters: bool,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

/// The request body.
fn body(req: &TextRequest, model: &str, schema: Option<&Value>, shape: &Shape) -> Value {
    let mut system = req.system.clone().unwrap_or_default();
    if let Some(schema) = schema.filter(|_| shape.schema_in_prompt) {
        if !system.is_empty() {
            system.push_str("\n\n");
        }
        system.push_str("Answer with one JSON value only, no prose and no code fences, matching this JSON Schema:\n");
        system.push_str(&schema.to_string());
    }
    let mut messages = Vec::new();
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": req.prompt}));
    let mut body = json!({"model": model, "messages": messages});
    if let Some(temperature) = shape.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(limit) = shape.max_tokens {
        body["max_tokens"] = json!(limit);
    }
    let Some(schema) = schema else {
        return body;
    };
    match shape.mode {
        Mode::JsonSchema => {
            let sent = if shape.strict {
                strict::strict(schema)
            } else {
                schema.clone()
            };
            body["response_format"] = json!({"type": "json_schema", "json_schema": {
                "name": schema_name(schema), "strict": shape.strict, "schema": sent}});
        }
        Mode::JsonObject => body["response_format"] = json!({"type": "json_object"}),
        Mode::StructuredOutputs => body["structured_outputs"] = json!({"json": schema}),
        Mode::Prompt => {}
    }
    if shape.require_parameters && shape.mode != Mode::Prompt {
        body["provider"] = json!({"require_parameters": true});
    }
    body
}

/// POSTs a chat completion, with OpenRouter's optional attribution headers.
fn post(
    body: &Value,
) -> Result<chute_plugin_sdk::bindings::chute::provider::host::Response, ProviderError> {
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "application/json".to_string()),
    ];
    for (name, header) in [
        ("http_referer", "HTTP-Referer"),
        ("app_title", "X-OpenRouter-Title"),
    ] {
        if let Some(value) = setting(name) {
            headers.push((header.to_string(), value));
        }
    }
    send(Request {
        method: "POST".into(),
        url: crate::endpoint("chat/completions"),
        headers,
        body: body.to_string().into_bytes(),
    })
}

/// True for a 400 that refuses the `response_format` itself (LM Studio's
/// "'response_format.type' must be …"), not the schema inside it (OpenAI's
/// `invalid_json_schema`, which asking again cannot fix).
fn refuses_response_format(status: u16, body: &[u8]) -> bool {
    if status != 400 {
        return false;
    }
    let said = Said::read(body);
    said.message.contains("response_format")
        && said.code != "invalid_json_schema"
        && !said.message.starts_with("Invalid schema")
}

/// `json_schema.name`: the schema's title when it is a valid name (letters, digits,
/// `_`, `-`, at most 64), else `answer`.
fn schema_name(schema: &Value) -> String {
    schema
        .get("title")
        .and_then(Value::as_str)
        .filter(|title| {
            !title.is_empty()
                && title.len() <= 64
                && title
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
        })
        .unwrap_or("answer")
        .to_string()
}

/// Fails unless `content` is JSON of the schema's top-level type with its required
/// properties (a server that ignored the schema answers prose or another shape).
fn check(content: &str, schema: &Value) -> Result<(), ProviderError> {
    let value: Value = serde_json::from_str(content).map_err(|error| {
        ProviderError::Other(format!(
            "the answer is not the JSON the schema asks for ({error}): {}",
            content.chars().take(120).collect::<String>()
        ))
    })?;
    let wants_object = schema.get("type").and_then(Value::as_str) == Some("object")
        || schema.get("properties").is_some();
    if !wants_object {
        return Ok(());
    }
    let Some(object) = value.as_object() else {
        return Err(ProviderError::Other(
            "the answer is JSON but not the object the schema asks for".into(),
        ));
    };
    let missing: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| !object.contains_key(*name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ProviderError::Other(format!(
            "the answer lacks the required {}",
            missing.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TextRequest {
        TextRequest {
            system: Some("You summarise.".into()),
            prompt: "Tides".into(),
            json_schema: None,
            temperature: Some(0.2),
            max_output_tokens: Some(800),
        }
    }

    #[test]
    fn each_mode_sends_the_schema_its_own_way() {
        let schema = json!({"title": "summary", "type": "object", "required": ["title"],
            "properties": {"title": {"type": "string", "maxLength": 80}}});
        let mut shape = Shape {
            mode: Mode::JsonSchema,
            strict: true,
            schema_in_prompt: false,
            require_parameters: false,
            temperature: Some(0.2),
            max_tokens: Some(800),
        };
        let sent = body(&request(), "m", Some(&schema), &shape);
        assert_eq!(sent["response_format"]["type"], "json_schema");
        assert_eq!(sent["response_format"]["json_schema"]["name"], "summary");
        assert_eq!(sent["response_format"]["json_schema"]["strict"], true);
        let strict_schema = &sent["response_format"]["json_schema"]["schema"];
        assert_eq!(strict_schema["additionalProperties"], false);
        assert!(
            strict_schema["properties"]["title"]
                .get("maxLength")
                .is_none()
        );
        assert_eq!(sent["messages"][0]["content"], "You summarise.");
        assert_eq!(sent["max_tokens"], 800);
        assert!(sent.get("guided_json").is_none());

        shape.mode = Mode::StructuredOutputs;
        shape.schema_in_prompt = true;
        let sent = body(&request(), "m", Some(&schema), &shape);
        assert!(sent.get("response_format").is_none());
        assert_eq!(sent["structured_outputs"]["json"], schema);
        let system = sent["messages"][0]["content"].as_str().unwrap_or("");
        assert!(system.contains("\"maxLength\":80"), "{system}");

        shape.mode = Mode::JsonObject;
        shape.require_parameters = true;
        let sent = body(&request(), "m", Some(&schema), &shape);
        assert_eq!(sent["response_format"], json!({"type": "json_object"}));
        assert_eq!(sent["provider"], json!({"require_parameters": true}));

        // No schema: plain text, no response_format.
        let sent = body(&request(), "m", None, &shape);
        assert!(sent.get("response_format").is_none() && sent.get("provider").is_none());
    }

    #[test]
    fn answers_are_checked_against_the_schema_top_level() {
        let schema = json!({"type": "object", "required": ["title", "points"]});
        assert!(check(r#"{"title": "t", "points": []}"#, &schema).is_ok());
        assert!(check(r#"{"title": "t"}"#, &schema).is_err());
        assert!(check("Sure! Here is the summary.", &schema).is_err());
        assert!(check("[1]", &schema).is_err());
        assert!(refuses_response_format(
            400,
            br#"{"error":"'response_format.type' must be 'json_schema' or 'text'"}"#
        ));
        assert!(!refuses_response_format(
            400,
            br#"{"error":{"message":"Invalid schema for response_format 'x': ...","code":"invalid_json_schema"}}"#
        ));
    }
}
