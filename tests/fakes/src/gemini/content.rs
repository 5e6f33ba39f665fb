//! `models/{model}:generateContent`: checks the request as the API does (fields,
//! contents, inline images), then answers as a text, image or TTS model by the
//! model's name and `responseModalities`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Inner, count_quota, image, retired, speech, take_fault};
use crate::faults::{Call, Fault};
use crate::google::{field, invalid, unknown_field};
use crate::schema_answer;
use crate::server::Exchange;

const TOP_LEVEL: &[&str] = &[
    "contents",
    "systemInstruction",
    "generationConfig",
    "safetySettings",
    "tools",
    "toolConfig",
    "cachedContent",
];

const GENERATION_CONFIG: &[&str] = &[
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "imageConfig",
    "speechConfig",
    "temperature",
    "topP",
    "topK",
    "maxOutputTokens",
    "candidateCount",
    "stopSequences",
    "thinkingConfig",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "mediaResolution",
];

/// Mime types the API takes as inline input.
const INPUT_IMAGES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

/// What the request holds, read once.
pub(super) struct Asked {
    /// Every text part, joined by newlines.
    pub text: String,
    /// Inline images: (mime type, bytes).
    pub images: Vec<(String, Vec<u8>)>,
    /// `generationConfig` (or `{}`).
    pub config: Value,
    /// The system instruction's text.
    pub system: String,
}

/// Answers a `generateContent` call.
pub(super) async fn generate(inner: &Arc<Inner>, model: &str, exchange: &Exchange) -> Response {
    if let Some(gone) = retired(inner, model, "generateContent") {
        return gone;
    }
    if model.starts_with("veo-") {
        return invalid(&format!(
            "models/{model} is not supported for generateContent. Veo must be accessed through the PredictLongRunning API."
        ));
    }
    let Ok(body) = exchange.json() else {
        return invalid("Invalid JSON payload received. Expected a JSON object.");
    };
    let asked = match read(&body) {
        Ok(asked) => asked,
        Err(refusal) => return refusal,
    };
    let call = kind(model, &asked.config);
    if let Some(over) = count_quota(inner, model) {
        return over;
    }
    let fault = match take_fault(inner, call, model, "generateContent").await {
        Ok(fault) => fault,
        Err(answer) => return answer,
    };
    tokio::time::sleep(inner.faults.latency_of(call)).await;
    if fault == Some(Fault::Malformed) {
        return (
            StatusCode::OK,
            [("content-type", "text/html")],
            "<!DOCTYPE html><html><body>Upstream gateway error</body></html>",
        )
            .into_response();
    }
    match call {
        Call::Image => image::answer(inner, model, &asked, fault.as_ref()),
        Call::Speech => speech::answer(model, &asked, fault.as_ref()),
        _ => text(inner, model, &asked, fault.as_ref()),
    }
}

/// Checks the request's fields and reads its parts.
fn read(body: &Value) -> Result<Asked, Response> {
    if let Some(refusal) = unknown_field(body, TOP_LEVEL, "") {
        return Err(refusal);
    }
    let config = field(body, "generationConfig")
        .cloned()
        .unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(&config, GENERATION_CONFIG, "generation_config") {
        return Err(refusal);
    }
    let contents = field(body, "contents")
        .and_then(Value::as_array)
        .filter(|contents| !contents.is_empty())
        .ok_or_else(|| invalid("* GenerateContentRequest.contents: contents is not specified"))?;
    let mut text = Vec::new();
    let mut images = Vec::new();
    for part in contents
        .iter()
        .filter_map(|content| content.get("parts")?.as_array())
        .flatten()
    {
        if let Some(words) = part.get("text").and_then(Value::as_str) {
            text.push(words.to_string());
        } else if let Some(data) = field(part, "inlineData") {
            let mime = field(data, "mimeType")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !INPUT_IMAGES.contains(&mime) {
                return Err(invalid(&format!(
                    "Unsupported MIME type: {mime}. Supported types are image/png, image/jpeg and image/webp."
                )));
            }
            let bytes = field(data, "data")
                .and_then(Value::as_str)
                .and_then(|b64| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.decode(b64).ok()
                })
                .ok_or_else(|| {
                    invalid("Invalid value at 'contents[0].parts[1].inline_data.data' (TYPE_BYTES), Base64 decoding failed")
                })?;
            images.push((mime.to_string(), bytes));
        } else {
            return Err(invalid(
                "* GenerateContentRequest.contents[0].parts: a part must hold text or inlineData",
            ));
        }
    }
    if text.is_empty() && images.is_empty() {
        return Err(invalid(
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.",
        ));
    }
    let system = field(body, "systemInstruction")
        .and_then(|system| system.get("parts")?.as_array().cloned())
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text")?.as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Asked {
        text: text.join("\n"),
        images,
        config,
        system,
    })
}

/// Which kind of model answers: by name first, then by the modalities asked for.
fn kind(model: &str, config: &Value) -> Call {
    let modalities: Vec<&str> = field(config, "responseModalities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if model.contains("-tts") || modalities.contains(&"AUDIO") {
        Call::Speech
    } else if model.contains("-image") || modalities.contains(&"IMAGE") {
        Call::Image
    } else {
        Call::Text
    }
}

/// Rough token count of a text (four characters a token).
pub(super) fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// A text answer: a scripted text, else JSON matching the schema in JSON mode, else
/// an echo of the prompt.
fn text(inner: &Inner, model: &str, asked: &Asked, fault: Option<&Fault>) -> Response {
    let prompt_tokens = tokens(&asked.text) + tokens(&asked.system);
    if fault == Some(&Fault::Blocked) {
        return axum::Json(json!({
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]},
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
            "modelVersion": model,
            "responseId": "fake-blocked"
        }))
        .into_response();
    }
    let json_mode = field(&asked.config, "responseMimeType").and_then(Value::as_str)
        == Some("application/json");
    let scripted = inner.state().text_answers.pop_front();
    let mut answer = match scripted {
        Some(text) => text,
        None if json_mode => {
            let schema = field(&asked.config, "responseJsonSchema")
                .or_else(|| field(&asked.config, "responseSchema"))
                .cloned()
                .unwrap_or(json!({"type": "object"}));
            schema_answer::value(&schema, &asked.text).to_string()
        }
        None => format!("echo: {}", asked.text),
    };
    let mut finish = "STOP";
    if fault == Some(&Fault::Truncated) {
        let cut = answer.char_indices().nth(answer.chars().count() / 2);
        answer.truncate(cut.map_or(0, |(at, _)| at));
        finish = "MAX_TOKENS";
    }
    let output = tokens(&answer);
    let thoughts = 8;
    json_answer(
        model,
        json!([{"text": answer}]),
        finish,
        json!({"promptTokenCount": prompt_tokens, "candidatesTokenCount": output,
               "thoughtsTokenCount": thoughts, "totalTokenCount": prompt_tokens + output + thoughts}),
    )
}

/// A `GenerateContentResponse` with one candidate.
pub(super) fn json_answer(model: &str, parts: Value, finish: &str, usage: Value) -> Response {
    let content = if parts.as_array().is_some_and(|parts| parts.is_empty()) {
        json!({"role": "model"})
    } else {
        json!({"role": "model", "parts": parts})
    };
    axum::Json(json!({
        "candidates": [{"content": content, "finishReason": finish, "index": 0}],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": format!("fake-{}", uuid_like()),
    }))
    .into_response()
}

/// A short random id.
fn uuid_like() -> String {
    use rand::Rng;
    let value: u64 = rand::rng().random();
    format!("{value:016x}")
}
