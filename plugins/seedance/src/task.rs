//! A content generation task as progress: `queued`/`running` wait, `succeeded` is a
//! download of `content.video_url` (a pre-signed link valid for 24 hours: the host
//! fetches it as soon as the task is seen done), `failed` carries `error.code`, mapped
//! as the API's HTTP errors are, and `expired`/`cancelled` end it.

use chute_plugin_sdk::serde_json::Value;
use chute_plugin_sdk::{Download, Media, Pending, Progress, ProviderError, config};

use crate::errors::code_error;

/// Still running: poll again after `poll_ms` (10 s, as the official samples do).
pub fn pending(id: &str) -> Progress {
    let after = config("poll_ms")
        .and_then(|ms| ms.trim().parse().ok())
        .unwrap_or(10_000);
    Progress::Pending(Pending {
        state: id.to_string(),
        poll_after_ms: after,
    })
}

/// A task id as the API makes them (`cgt-20250629201507-n6k56`): letters, digits,
/// `-` and `_` only, so it is safe in a path.
pub fn check_id(id: &str) -> Result<(), ProviderError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::BadRequest(format!(
            "not a Seedance task id: {id:?}"
        )))
    }
}

/// What the task `id` shows.
pub fn progress(id: &str, task: &Value) -> Result<Progress, ProviderError> {
    if let Some(other) = task.get("id").and_then(Value::as_str)
        && other != id
    {
        return Err(ProviderError::Other(format!(
            "asked for task {id}, the API answered with task {other}"
        )));
    }
    let status = task
        .get("status")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Other(format!("task {id} has no status")))?;
    match status {
        "queued" | "running" => Ok(pending(id)),
        "succeeded" => {
            let url = task
                .pointer("/content/video_url")
                .and_then(Value::as_str)
                .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
                .ok_or_else(|| {
                    ProviderError::Other(format!("task {id} succeeded without a video URL"))
                })?;
            Ok(Progress::Done(Media::Download(Download {
                url: url.to_string(),
                mime_type: "video/mp4".into(),
            })))
        }
        "failed" => {
            // The Go SDK names it `failure_reason` in lists; the docs say `error`.
            let error = task
                .get("error")
                .filter(|error| error.is_object())
                .or_else(|| task.get("failure_reason"));
            let code = error
                .and_then(|error| error.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let message = error
                .and_then(|error| error.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("no message");
            Err(
                code_error(code, None, format!("task {id} failed: {code}: {message}"))
                    .unwrap_or_else(|| {
                        ProviderError::Other(format!("task {id} failed: {code}: {message}"))
                    }),
            )
        }
        "expired" => Err(ProviderError::Unavailable(format!(
            "task {id} expired: it waited in the queue past execution_expires_after"
        ))),
        "cancelled" => Err(ProviderError::Other(format!(
            "task {id} was cancelled (by someone with this account's key)"
        ))),
        other => Err(ProviderError::Other(format!(
            "task {id} has an unknown status {other:?}"
        ))),
    }
}
