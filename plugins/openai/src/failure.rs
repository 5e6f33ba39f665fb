//! The error an OpenAI-compatible answer means. Bodies come in three shapes —
//! `{"error": {"message", "type", "code"}}` (OpenAI, vLLM ≥ 0.10.1, Ollama, llama.cpp,
//! OpenRouter with an integer `code`), `{"error": "text"}` (vLLM's auth check, LM
//! Studio) and the flat `{"object": "error", "message", …}` (older vLLM) — and are
//! classified by HTTP status first, then by `code`/`type`:
//!
//! - 429 `insufficient_quota` (or "exceeded your current quota") and 402 (OpenRouter's
//!   credits) → quota-exhausted; any other 429 → rate-limited with the hint from
//!   `retry-after-ms`, `retry-after` or the `x-ratelimit-reset-*` header of the limit
//!   that ran out;
//! - 401/403 → unauthorized; 400/404/413/422 → bad-request (a retired model, a schema
//!   strict mode refuses); 408/409/5xx → unavailable.

use chute_plugin_sdk::bindings::chute::provider::host::Response;
use chute_plugin_sdk::http::header;
use chute_plugin_sdk::serde_json::{self, Value};
use chute_plugin_sdk::{ProviderError, errors};

/// What an error body says.
#[derive(Debug, Default, PartialEq)]
pub struct Said {
    /// `error.message` (or the error string, or the flat `message`).
    pub message: String,
    /// `error.type`.
    pub kind: String,
    /// `error.code`, as text (OpenAI's are strings, llama.cpp's and OpenRouter's numbers).
    pub code: String,
}

impl Said {
    /// Reads any of the three body shapes; an unreadable body gives its first bytes.
    pub fn read(body: &[u8]) -> Said {
        let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let text = |value: Option<&Value>| match value {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => String::new(),
        };
        match parsed.get("error") {
            Some(Value::Object(error)) => Said {
                message: text(error.get("message")),
                kind: text(error.get("type")),
                code: text(error.get("code")),
            },
            Some(Value::String(message)) => Said {
                message: message.clone(),
                ..Said::default()
            },
            _ if parsed.get("message").is_some() => Said {
                message: text(parsed.get("message")),
                kind: text(parsed.get("type")),
                code: text(parsed.get("code")),
            },
            _ => Said {
                message: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
                ..Said::default()
            },
        }
    }

    /// `HTTP 429 insufficient_quota: You exceeded…`, for the operator.
    fn describe(&self, status: u16) -> String {
        let label = if !self.code.is_empty() && self.code != status.to_string() {
            format!(" {}", self.code)
        } else if !self.kind.is_empty() {
            format!(" {}", self.kind)
        } else {
            String::new()
        };
        format!("HTTP {status}{label}: {}", self.message.trim())
    }
}

/// The error an answer with a non-2xx status means.
pub fn from_response(response: &Response) -> ProviderError {
    from_parts(response.status, &Said::read(&response.body), || {
        retry_hint(response)
    })
}

/// The error a status and what the body said mean; `hint` gives a rate limit's wait.
pub fn from_parts(status: u16, said: &Said, hint: impl Fn() -> Option<u64>) -> ProviderError {
    let message = said.describe(status);
    match status {
        429 if said.code == "insufficient_quota"
            || said.kind == "insufficient_quota"
            || said.message.contains("exceeded your current quota") =>
        {
            ProviderError::QuotaExhausted(message)
        }
        429 => ProviderError::RateLimited(hint()),
        402 => ProviderError::QuotaExhausted(message),
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::BadRequest(format!(
            "{message} (check the model setting: the server does not serve it)"
        )),
        408 | 409 | 500..=599 => ProviderError::Unavailable(message),
        400..=499 => ProviderError::BadRequest(message),
        _ => ProviderError::Other(message),
    }
}

/// How long a 429 says to wait, in milliseconds: `retry-after-ms`, `retry-after`, else
/// the `x-ratelimit-reset-*` of the limit that ran out (the sooner one when neither
/// says it did).
fn retry_hint(response: &Response) -> Option<u64> {
    if let Some(ms) = header(response, "retry-after-ms")
        .and_then(|ms| ms.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(ms.ceil() as u64);
    }
    if let Some(ms) = errors::retry_after_ms(response) {
        return Some(ms);
    }
    let reset =
        |limit: &str| header(response, &format!("x-ratelimit-reset-{limit}")).and_then(duration_ms);
    let spent = |limit: &str| {
        header(response, &format!("x-ratelimit-remaining-{limit}")).map(str::trim) == Some("0")
    };
    let resets = [("requests", reset("requests")), ("tokens", reset("tokens"))];
    resets
        .iter()
        .filter(|(limit, _)| spent(limit))
        .filter_map(|(_, ms)| *ms)
        .max()
        .or_else(|| resets.iter().filter_map(|(_, ms)| *ms).min())
}

/// OpenAI's reset durations in milliseconds: `20ms`, `1s`, `6m0s`, `1h2m3.5s`.
pub fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        let unit = match c {
            'h' => 3_600_000.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                1.0
            }
            'm' => 60_000.0,
            's' => 1_000.0,
            _ => return None,
        };
        total += value * unit;
    }
    if !number.is_empty() {
        // A bare number is seconds.
        total += number.parse::<f64>().ok()? * 1_000.0;
    }
    total.is_finite().then(|| total.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_read_as_openai_writes_them() {
        assert_eq!(duration_ms("20ms"), Some(20));
        assert_eq!(duration_ms("1s"), Some(1_000));
        assert_eq!(duration_ms("6m0s"), Some(360_000));
        assert_eq!(duration_ms("1h2m3.5s"), Some(3_723_500));
        assert_eq!(duration_ms("2"), Some(2_000));
        assert_eq!(duration_ms("soon"), None);
    }

    #[test]
    fn the_three_body_shapes_are_read() {
        let nested = Said::read(
            br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(nested.code, "rate_limit_exceeded");
        let string = Said::read(br#"{"error":"Unauthorized"}"#);
        assert_eq!(string.message, "Unauthorized");
        let flat = Said::read(
            br#"{"object":"error","message":"bad","type":"BadRequestError","code":400}"#,
        );
        assert_eq!((flat.message.as_str(), flat.code.as_str()), ("bad", "400"));
        let quota = Said {
            message: "You exceeded your current quota".into(),
            ..Said::default()
        };
        assert!(matches!(
            from_parts(429, &quota, || Some(1)),
            ProviderError::QuotaExhausted(_)
        ));
        assert!(matches!(
            from_parts(429, &nested, || Some(7)),
            ProviderError::RateLimited(Some(7))
        ));
        assert!(matches!(
            from_parts(402, &Said::default(), || None),
            ProviderError::QuotaExhausted(_)
        ));
    }
}
