//! The checks ElevenLabs makes before speaking: the path, `output_format`, the body
//! (FastAPI 422s), the model and its character limit, the language, the voice
//! settings' ranges and the voice id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Asked, Inner, MODELS, OUTPUT_FORMATS, detail, unprocessable};
use crate::server::Exchange;

/// The checks the API makes before speaking.
pub(super) fn check(inner: &Inner, exchange: &Exchange) -> Result<Asked, Response> {
    let rest = exchange
        .path
        .strip_prefix("/v1/text-to-speech/")
        .unwrap_or("");
    let (voice, timestamps) = match rest.split_once('/') {
        None => (rest, false),
        Some((voice, "stream")) => (voice, false),
        Some((voice, "with-timestamps")) => (voice, true),
        Some(_) => {
            return Err((
                StatusCode::NOT_FOUND,
                axum::Json(json!({"detail": "Not Found"})),
            )
                .into_response());
        }
    };
    let format = exchange
        .query_param("output_format")
        .unwrap_or_else(|| "mp3_44100_128".into());
    if !OUTPUT_FORMATS.contains(&format.as_str()) {
        return Err(unprocessable(
            "enum",
            &["query", "output_format"],
            "Input should be one of the supported output formats",
            json!(format),
        ));
    }
    let body: Value = exchange.json().map_err(|error| {
        unprocessable(
            "json_invalid",
            &["body", "0"],
            "JSON decode error",
            json!({"error": error.to_string()}),
        )
    })?;
    let Some(text) = body.get("text").and_then(Value::as_str) else {
        return Err(unprocessable(
            "missing",
            &["body", "text"],
            "Field required",
            body.clone(),
        ));
    };
    let model = body
        .get("model_id")
        .and_then(Value::as_str)
        .unwrap_or("eleven_multilingual_v2");
    let Some((_, limit)) = MODELS.iter().find(|(name, _)| *name == model) else {
        return Err(detail(
            400,
            "model_not_found",
            &format!("A model with model ID {model} does not exist."),
        ));
    };
    let characters = text.chars().count();
    if characters > *limit {
        return Err(detail(
            400,
            "max_character_limit_exceeded",
            &format!(
                "You are sending {characters} characters with a single request, but the maximum allowed amount of characters for {model} is {limit}."
            ),
        ));
    }
    if let Some(code) = body.get("language_code") {
        let ok = code
            .as_str()
            .is_some_and(|code| code.len() == 2 && code.bytes().all(|b| b.is_ascii_lowercase()));
        if !ok {
            return Err(detail(
                400,
                "unsupported_language",
                &format!("Language code {code} is not supported."),
            ));
        }
    }
    check_voice_settings(&body)?;
    let state = inner.state();
    if !state.voices.contains(voice) {
        return Err(detail(
            state.voice_not_found_status,
            "voice_not_found",
            &format!("A voice with the voice_id {voice} was not found."),
        ));
    }
    Ok(Asked {
        voice: voice.to_string(),
        timestamps,
        format,
        text: text.to_string(),
    })
}

/// `voice_settings` fields are numbers in their ranges (422 otherwise).
fn check_voice_settings(body: &Value) -> Result<(), Response> {
    let Some(settings) = body.get("voice_settings") else {
        return Ok(());
    };
    let Some(settings) = settings.as_object() else {
        return Err(unprocessable(
            "model_attributes_type",
            &["body", "voice_settings"],
            "Input should be a valid dictionary or object to extract fields from",
            settings.clone(),
        ));
    };
    for (name, low, high) in [
        ("stability", 0.0, 1.0),
        ("similarity_boost", 0.0, 1.0),
        ("style", 0.0, 1.0),
        ("speed", 0.7, 1.2),
    ] {
        let Some(value) = settings.get(name) else {
            continue;
        };
        match value.as_f64() {
            Some(number) if (low..=high).contains(&number) => {}
            Some(_) => {
                return Err(unprocessable(
                    "less_than_equal",
                    &["body", "voice_settings", name],
                    &format!("Input should be between {low} and {high}"),
                    value.clone(),
                ));
            }
            None => {
                return Err(unprocessable(
                    "float_parsing",
                    &["body", "voice_settings", name],
                    "Input should be a valid number",
                    value.clone(),
                ));
            }
        }
    }
    Ok(())
}
