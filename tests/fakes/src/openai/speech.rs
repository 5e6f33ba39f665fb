//! `POST /v1/audio/speech` (OpenAI only, providers.md §5.3): the model, voice, input
//! (≤ 4,096 characters), `response_format`, `speed` and `instructions` checked as the
//! API does; the answer is the audio file's bytes — MP3 (the default), WAV, or raw
//! 24 kHz 16-bit PCM. `opus`, `aac` and `flac` are valid but not encoded here (500).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::{self, invalid};
use super::{Flavor, Inner, next_request};
use crate::faults::{Call, Fault};
use crate::media;
use crate::server::Exchange;

/// OpenAI's built-in voices.
pub const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
];

/// The speech models.
const MODELS: &[&str] = &[
    "tts-1",
    "tts-1-hd",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-12-15",
];

/// The rate OpenAI speaks at.
const RATE: u32 = 24_000;

/// Answers a speech request.
pub(super) async fn speak(inner: &Arc<Inner>, exchange: &Exchange) -> Result<Response, Response> {
    let flavor = Flavor::OpenAi;
    let Ok(body) = exchange.json() else {
        return Err(invalid(
            flavor,
            "We could not parse the JSON body of your request.",
            Value::Null,
        ));
    };
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return Err(invalid(
            flavor,
            "Missing required parameter: 'model'.",
            json!("missing_required_parameter"),
        ));
    }
    if !MODELS.contains(&model) || inner.state().retired.contains(model) {
        return Err(errors::model_gone(flavor, model));
    }
    let input = body.get("input").and_then(Value::as_str).unwrap_or("");
    if input.is_empty() {
        return Err(invalid(
            flavor,
            "Missing required parameter: 'input'.",
            json!("missing_required_parameter"),
        ));
    }
    let characters = input.chars().count();
    if characters > 4096 {
        return Err(invalid(
            flavor,
            &format!(
                "[{{'type': 'string_too_long', 'loc': ('body', 'input'), 'msg': 'String should have at most 4096 characters', 'input': '…', 'ctx': {{'max_length': 4096}}}}] ({characters} characters)"
            ),
            json!("string_above_max_length"),
        ));
    }
    let voice_ok = match body.get("voice") {
        Some(Value::String(voice)) => VOICES.contains(&voice.as_str()),
        Some(Value::Object(custom)) => custom
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| id.starts_with("voice_")),
        _ => false,
    };
    if !voice_ok {
        return Err(invalid(
            flavor,
            &format!(
                "Invalid value: {}. Supported values are: {}.",
                body.get("voice").unwrap_or(&Value::Null),
                VOICES
                    .iter()
                    .map(|v| format!("'{v}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            json!("invalid_value"),
        ));
    }
    let format = body
        .get("response_format")
        .and_then(Value::as_str)
        .unwrap_or("mp3");
    if !["mp3", "opus", "aac", "flac", "wav", "pcm"].contains(&format) {
        return Err(invalid(
            flavor,
            &format!(
                "Invalid value: '{format}'. Supported values are: 'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'."
            ),
            json!("invalid_value"),
        ));
    }
    if let Some(speed) = body.get("speed")
        && !speed
            .as_f64()
            .is_some_and(|speed| (0.25..=4.0).contains(&speed))
    {
        return Err(invalid(
            flavor,
            &format!("{speed} is not in [0.25, 4.0] - 'speed'"),
            Value::Null,
        ));
    }
    if body.get("instructions").is_some() && model.starts_with("tts-1") {
        return Err(invalid(
            flavor,
            "Instructions are not supported for tts-1 or tts-1-hd.",
            Value::Null,
        ));
    }
    let fault = inner.faults.next(Call::Speech);
    if let Some(answer) = fault.as_ref().and_then(|f| errors::fault(flavor, f, model)) {
        return Err(answer);
    }
    let latency = match &fault {
        Some(Fault::Slow(delay)) => *delay,
        _ => inner.faults.latency_of(Call::Speech),
    };
    tokio::time::sleep(latency).await;
    let number = next_request(inner);
    if fault == Some(Fault::Malformed) {
        return Ok((
            [("content-type", "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response());
    }
    let (samples, _) = media::speech(input, RATE);
    let (bytes, mime) = match format {
        "wav" => (media::wav(&samples, RATE), "audio/wav"),
        "pcm" => (media::pcm_bytes(&samples), "audio/pcm"),
        "mp3" => {
            let made = tokio::task::spawn_blocking(move || media::mp3(&samples, RATE, 64)).await;
            match made {
                Ok(Ok(bytes)) => (bytes, "audio/mpeg"),
                _ => return Err(errors::fault(flavor, &Fault::Internal, model).unwrap_or_default()),
            }
        }
        other => {
            return Err(errors::error(
                flavor,
                500,
                "server_error",
                Value::Null,
                &format!("the fake does not encode {other}"),
            ));
        }
    };
    Ok((
        [
            ("content-type", mime.to_string()),
            ("x-request-id", format!("req_fake{number:08}")),
        ],
        bytes,
    )
        .into_response())
}
