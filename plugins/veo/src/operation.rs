//! A `google.longrunning.Operation` as progress: still running (absent `done` counts as
//! false), a video to download, filtered by the safety system, or failed with a gRPC
//! code.

use chute_plugin_sdk::serde_json::Value;
use chute_plugin_sdk::{Download, Media, Pending, Progress, ProviderError, config};

/// The progress an operation shows.
pub fn progress(operation: &Value) -> Result<Progress, ProviderError> {
    let name = operation
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Other("the operation has no name".into()))?;
    check_name(name)?;
    if operation.get("done").and_then(Value::as_bool) != Some(true) {
        let after = config("poll_ms")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(10_000);
        return Ok(Progress::Pending(Pending {
            state: name.to_string(),
            poll_after_ms: after,
        }));
    }
    if let Some(error) = operation.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(2);
        return Err(grpc_error(code, message));
    }
    let response = operation
        .pointer("/response/generateVideoResponse")
        .ok_or_else(|| ProviderError::Other("the finished operation has no response".into()))?;
    if let Some(uri) = response
        .pointer("/generatedSamples/0/video/uri")
        .and_then(Value::as_str)
    {
        return Ok(Progress::Done(Media::Download(Download {
            url: uri.to_string(),
            mime_type: "video/mp4".into(),
        })));
    }
    let reasons: Vec<&str> = response
        .get("raiMediaFilteredReasons")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if reasons.is_empty() {
        return Err(ProviderError::Other(
            "the operation finished without a video or a reason".into(),
        ));
    }
    Err(ProviderError::ContentBlocked(reasons.join(" ")))
}

/// An operation name this plugin made: `models/<model>/operations/<id>`.
pub fn check_name(name: &str) -> Result<(), ProviderError> {
    let mut parts = name.split('/');
    let ok = parts.next() == Some("models")
        && parts.next().is_some_and(|model| !model.is_empty())
        && parts.next() == Some("operations")
        && parts.next().is_some_and(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        && parts.next().is_none()
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ProviderError::BadRequest(format!(
            "not a Veo operation name: {name}"
        )))
    }
}

/// A gRPC status code (not HTTP) from a failed operation.
fn grpc_error(code: i64, message: &str) -> ProviderError {
    let message = format!("{message} (gRPC {code})");
    match code {
        3 | 9 | 11 => ProviderError::BadRequest(message),
        7 | 16 => ProviderError::Unauthorized(message),
        8 => ProviderError::RateLimited(None),
        4 | 10 | 13 | 14 => ProviderError::Unavailable(message),
        _ => ProviderError::Other(message),
    }
}
