//! Map an HTTP error response to a [`ProviderError`] the host can act on.
//!
//! Understands Google's `google.rpc.Status` envelope (`RetryInfo.retryDelay`, a
//! `…PerDay…` quota id meaning "not before tomorrow"), OpenAI/ElevenLabs-style
//! `{"error": {...}}` / `{"detail": {...}}` bodies, and the `Retry-After` header.

use crate::ProviderError;
use crate::bindings::chute::provider::host::Response;
use crate::http::header;
use serde_json::Value;

/// The error an HTTP status (and its body) means.
pub fn from_status(response: &Response) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let message = error_message(&body).unwrap_or_else(|| {
        String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned()
    });
    let message = format!("HTTP {}: {message}", response.status);
    match response.status {
        429 => {
            if is_daily_quota(&body) || message.contains("insufficient_quota") {
                ProviderError::QuotaExhausted(message)
            } else {
                ProviderError::RateLimited(
                    retry_delay_ms(&body).or_else(|| retry_after_ms(response)),
                )
            }
        }
        401 | 403 => ProviderError::Unauthorized(message),
        400 if google_reason(&body).as_deref() == Some("API_KEY_INVALID") => {
            ProviderError::Unauthorized(message)
        }
        408 | 500 | 502 | 503 | 504 => ProviderError::Unavailable(message),
        400..=499 => ProviderError::BadRequest(message),
        _ => ProviderError::Other(message),
    }
}

/// `error.message` (Google, OpenAI) or `detail.message` (ElevenLabs).
fn error_message(body: &Value) -> Option<String> {
    body.pointer("/error/message")
        .or_else(|| body.pointer("/detail/message"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The first `google.rpc.ErrorInfo` reason, e.g. `API_KEY_INVALID`.
fn google_reason(body: &Value) -> Option<String> {
    details(body)
        .find(|detail| type_is(detail, "google.rpc.ErrorInfo"))
        .and_then(|detail| detail.get("reason")?.as_str().map(str::to_string))
}

/// True when a `QuotaFailure` violation is a per-day quota (retrying today is useless).
fn is_daily_quota(body: &Value) -> bool {
    details(body)
        .filter(|detail| type_is(detail, "google.rpc.QuotaFailure"))
        .filter_map(|detail| detail.get("violations")?.as_array())
        .flatten()
        .filter_map(|violation| violation.get("quotaId")?.as_str())
        .any(|id| id.contains("PerDay"))
}

/// `RetryInfo.retryDelay` ("47s", "29.72s") in milliseconds.
pub fn retry_delay_ms(body: &Value) -> Option<u64> {
    let delay = details(body)
        .find(|detail| type_is(detail, "google.rpc.RetryInfo"))?
        .get("retryDelay")?
        .as_str()?;
    let seconds: f64 = delay.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).ceil() as u64)
}

/// The `Retry-After` header in milliseconds (seconds form only).
pub fn retry_after_ms(response: &Response) -> Option<u64> {
    let seconds: f64 = header(response, "retry-after")?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).ceil() as u64)
}

fn details(body: &Value) -> impl Iterator<Item = &Value> {
    body.pointer("/error/details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn type_is(detail: &Value, name: &str) -> bool {
    detail
        .get("@type")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with(name))
}
