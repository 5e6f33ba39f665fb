//! Veo on the Gemini API: `predictLongRunning` submits (validated as the API does:
//! durations 4, 6 or 8 with its misleading message, aspect ratios, resolutions,
//! person generation, both image encodings, reference-image rules), operation polls
//! that finish after N polls and the configured latency, and result files that
//! redirect to the storage origin, which serves a real MP4 until it expires.

use std::sync::Arc;
use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Inner, Operation, count_quota, retired, take_fault};
use crate::faults::Call;
use crate::google::{error, field, invalid, unknown_field};
use crate::media::{self, ClipShape};
use crate::server::Exchange;

/// How an operation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoOutcome {
    /// A video.
    Success,
    /// Done with no video: the safety filter took it (`raiMediaFilteredReasons`).
    Filtered,
    /// Done with an `error` carrying this gRPC code (3 invalid argument, 8 resource
    /// exhausted, 13 internal).
    Failed(i32),
    /// Never finishes (the client must give up).
    Never,
}

const INSTANCE: &[&str] = &["prompt", "image", "lastFrame", "referenceImages", "video"];
const PARAMETERS: &[&str] = &[
    "sampleCount",
    "durationSeconds",
    "aspectRatio",
    "resolution",
    "personGeneration",
    "negativePrompt",
    "enhancePrompt",
];

/// Answers a submit.
pub(super) async fn submit(inner: &Arc<Inner>, model: &str, exchange: &Exchange) -> Response {
    if let Some(gone) = retired(inner, model, "predictLongRunning") {
        return gone;
    }
    let Ok(body) = exchange.json() else {
        return invalid("Invalid JSON payload received. Expected a JSON object.");
    };
    if let Some(refusal) = unknown_field(&body, &["instances", "parameters", "webhookConfig"], "") {
        return refusal;
    }
    let shape = match check(model, &body) {
        Ok(shape) => shape,
        Err(refusal) => return refusal,
    };
    if let Some(over) = count_quota(inner, model) {
        return over;
    }
    if let Err(answer) = take_fault(inner, Call::Submit, model, "predictLongRunning").await {
        return answer;
    }
    let mut state = inner.state();
    state.next_operation += 1;
    let id = format!("op{:06}", state.next_operation);
    let outcome = state.outcomes.pop_front().unwrap_or(VideoOutcome::Success);
    let divisor = state.clip_divisor;
    let even = |pixels: u32| (pixels / divisor).max(16) & !1;
    state.operations.insert(
        id.clone(),
        Operation {
            model: model.to_string(),
            submitted: Instant::now(),
            polls: 0,
            outcome,
            width: even(shape.0),
            height: even(shape.1),
            seconds: shape.2,
            done_at: None,
        },
    );
    axum::Json(json!({"name": format!("models/{model}/operations/{id}")})).into_response()
}

/// The request's values, checked; the clip's width, height and seconds.
fn check(model: &str, body: &Value) -> Result<(u32, u32, u32), Response> {
    let instances = body
        .get("instances")
        .and_then(Value::as_array)
        .filter(|list| list.len() == 1)
        .ok_or_else(|| invalid("* instances: exactly one instance is required."))?;
    let instance = &instances[0];
    if let Some(refusal) = unknown_field(instance, INSTANCE, "instances[0]") {
        return Err(refusal);
    }
    let parameters = body.get("parameters").cloned().unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(&parameters, PARAMETERS, "parameters") {
        return Err(refusal);
    }
    let has_image = instance.get("image").is_some();
    let prompt = instance.get("prompt").and_then(Value::as_str).unwrap_or("");
    if prompt.trim().is_empty() && !has_image {
        return Err(invalid(
            "* instances[0].prompt: a prompt or an image is required.",
        ));
    }
    for name in ["image", "lastFrame"] {
        if let Some(image) = instance.get(name) {
            check_image(image, name)?;
        }
    }
    let seconds = match field(&parameters, "durationSeconds") {
        None => 8,
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as u32,
        Some(Value::String(text)) => text.parse().unwrap_or(0),
        Some(_) => 0,
    };
    let allowed: &[u32] = if model.starts_with("veo-2") {
        &[5, 6, 7, 8]
    } else {
        &[4, 6, 8]
    };
    if !allowed.contains(&seconds) {
        return Err(invalid(
            "The number value for durationSeconds is out of bound. Please provide a value between 4 and 8, inclusive.",
        ));
    }
    let aspect = field(&parameters, "aspectRatio")
        .and_then(Value::as_str)
        .unwrap_or("16:9");
    if !["16:9", "9:16"].contains(&aspect) {
        return Err(invalid(&format!("Aspect ratio {aspect} is not supported.")));
    }
    let resolution = field(&parameters, "resolution")
        .and_then(Value::as_str)
        .unwrap_or("720p");
    let long_side: u32 = match resolution {
        "720p" => 1280,
        "1080p" => 1920,
        "4k" if model.starts_with("veo-3.1") && !model.contains("lite") => 3840,
        _ => {
            return Err(invalid(&format!(
                "Resolution {resolution} is not supported for {model}."
            )));
        }
    };
    if long_side > 1280 && seconds != 8 {
        return Err(invalid(&format!(
            "Resolution {resolution} requires durationSeconds 8."
        )));
    }
    if let Some(person) = field(&parameters, "personGeneration").and_then(Value::as_str)
        && !["dont_allow", "allow_adult", "allow_all"]
            .contains(&person.to_ascii_lowercase().as_str())
    {
        return Err(invalid(&format!(
            "personGeneration {person} is not supported."
        )));
    }
    if let Some(references) = instance.get("referenceImages").and_then(Value::as_array) {
        if !model.starts_with("veo-3.1") || model.contains("lite") {
            return Err(invalid(&format!(
                "referenceImages is not supported for {model}."
            )));
        }
        if references.len() > 3 || seconds != 8 || has_image {
            return Err(invalid(
                "referenceImages takes at most 3 images, needs durationSeconds 8 and cannot be combined with image.",
            ));
        }
    }
    let short_side = long_side * 9 / 16;
    Ok(if aspect == "9:16" {
        (short_side, long_side, seconds)
    } else {
        (long_side, short_side, seconds)
    })
}

/// An image as `{bytesBase64Encoded, mimeType}` or `{inlineData: {mimeType, data}}`,
/// holding a PNG or JPEG.
fn check_image(image: &Value, name: &str) -> Result<(), Response> {
    let (data, mime) = match field(image, "inlineData") {
        Some(inline) => (field(inline, "data"), field(inline, "mimeType")),
        None => (field(image, "bytesBase64Encoded"), field(image, "mimeType")),
    };
    let bytes = data
        .and_then(Value::as_str)
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .ok_or_else(|| {
            invalid(&format!(
                "* instances[0].{name}: the image bytes are missing or not base64."
            ))
        })?;
    let mime = mime.and_then(Value::as_str).unwrap_or("");
    let png = bytes.starts_with(b"\x89PNG") && mime == "image/png";
    let jpeg = bytes.starts_with(&[0xff, 0xd8]) && mime == "image/jpeg";
    if png || jpeg {
        Ok(())
    } else {
        Err(invalid(&format!(
            "* instances[0].{name}: unsupported or mislabelled image ({mime})."
        )))
    }
}

/// Answers a poll.
pub(super) async fn poll(inner: &Arc<Inner>, model: &str, id: &str) -> Response {
    if let Err(answer) = take_fault(inner, Call::Poll, model, "getOperation").await {
        return answer;
    }
    let latency = inner.faults.latency_of(Call::Submit);
    let mut state = inner.state();
    let until = state.polls_until_done.max(1);
    let api = state.api.clone();
    let Some(operation) = state.operations.get_mut(id).filter(|op| op.model == model) else {
        return error(
            404,
            "NOT_FOUND",
            &format!("Operation models/{model}/operations/{id} not found."),
            json!([]),
        );
    };
    operation.polls += 1;
    let name = format!("models/{model}/operations/{id}");
    let finished = operation.polls >= until
        && operation.submitted.elapsed() >= latency
        && operation.outcome != VideoOutcome::Never;
    if !finished {
        // Both shapes of "still running" occur: `done: false`, and no `done` at all.
        return if operation.polls % 2 == 1 {
            axum::Json(json!({"name": name, "done": false})).into_response()
        } else {
            axum::Json(json!({"name": name, "metadata": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningMetadata"}})).into_response()
        };
    }
    operation.done_at.get_or_insert_with(Instant::now);
    let answer = match operation.outcome {
        VideoOutcome::Success => json!({"name": name, "done": true, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [
                {"video": {"uri": format!("{api}/v1beta/files/{id}:download?alt=media")}}]}}}),
        VideoOutcome::Filtered => json!({"name": name, "done": true, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [
                "Sorry, we can't create videos from input images containing celebrity or their likenesses. Please remove the reference and try again."]}}}),
        VideoOutcome::Failed(code) => json!({"name": name, "done": true,
            "error": {"code": code, "message": grpc_message(code)}}),
        VideoOutcome::Never => unreachable!("never-finishing operations return above"),
    };
    axum::Json(answer).into_response()
}

fn grpc_message(code: i32) -> &'static str {
    match code {
        3 => "The prompt could not be processed.",
        8 => "Resource has been exhausted (e.g. check quota).",
        _ => "Internal error encountered.",
    }
}

/// The result file on the API origin: a redirect to storage.
pub(super) async fn download(inner: &Arc<Inner>, file: &str) -> Response {
    if let Err(answer) = take_fault(inner, Call::Download, "files", "download").await {
        return answer;
    }
    let state = inner.state();
    let ready = state
        .operations
        .get(file)
        .is_some_and(|op| op.done_at.is_some() && op.outcome == VideoOutcome::Success);
    if !ready {
        return error(
            404,
            "NOT_FOUND",
            &format!("File {file} not found."),
            json!([]),
        );
    }
    (
        StatusCode::FOUND,
        [("location", format!("{}/blobs/{file}.mp4", state.storage))],
    )
        .into_response()
}

/// The storage origin: the MP4 itself.
pub(super) async fn blob(inner: &Arc<Inner>, exchange: &Exchange) -> Response {
    let id = exchange
        .path
        .trim_start_matches("/blobs/")
        .trim_end_matches(".mp4")
        .to_string();
    let shape = {
        let mut state = inner.state();
        if state.storage_failures > 0 {
            state.storage_failures -= 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable").into_response();
        }
        let expiry = state.download_expiry;
        let Some(operation) = state.operations.get(&id) else {
            return (StatusCode::NOT_FOUND, "no such object").into_response();
        };
        let expired = match (operation.done_at, expiry) {
            (Some(done), Some(expiry)) => done.elapsed() > expiry,
            _ => false,
        };
        if expired || operation.done_at.is_none() {
            return (StatusCode::NOT_FOUND, "The specified key does not exist.").into_response();
        }
        ClipShape {
            width: operation.width,
            height: operation.height,
            seconds: operation.seconds,
            colour: media::colour(&id),
        }
    };
    match tokio::task::spawn_blocking(move || media::mp4(shape)).await {
        Ok(Ok(bytes)) => ([("content-type", "video/mp4")], bytes.as_ref().clone()).into_response(),
        Ok(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the fake could not make a clip: {error:#}"),
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the fake's encoder died: {error}"),
        )
            .into_response(),
    }
}
