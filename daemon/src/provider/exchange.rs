//! What the host remembers of one HTTP exchange (method, URL without its query,
//! status, the provider's retry hints, the key by fingerprint) and how the hints are
//! read from a response: `Retry-After` and Google's error envelope. Key pools learn
//! from these records; result.json lists them. Nothing here knows about keys or
//! plugins, so both can depend on it.

use std::time::Duration;

use serde::Serialize;

/// One request as the host saw it: no key, no query string.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Exchange {
    /// `GET`, `POST`, …
    pub method: String,
    /// Scheme, host, port and path.
    pub url: String,
    /// The HTTP status, when one came back.
    pub status: Option<u16>,
    /// How long the provider asked to wait (Retry-After or RetryInfo).
    #[serde(with = "humantime_serde")]
    pub retry_after: Option<Duration>,
    /// A 429 naming a per-day quota.
    pub daily_quota: bool,
    /// The provider said the key itself is invalid (Google `API_KEY_INVALID`).
    pub key_rejected: bool,
    /// Transport failure or refusal, when no status came back.
    pub error: Option<String>,
    /// Milliseconds from send to the end of the body.
    pub millis: u64,
    /// The key's fingerprint, when one was used.
    pub key: Option<String>,
}

/// `Retry-After` in seconds.
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))?;
    let seconds: f64 = value.1.trim().parse().ok()?;
    (seconds.is_finite() && (0.0..86_400.0).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// Google's error envelope: `RetryInfo.retryDelay`, per-day `QuotaFailure` ids and
/// `ErrorInfo.reason == API_KEY_INVALID`.
pub fn read_google_error(body: &[u8], exchange: &mut Exchange) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let Some(details) = value
        .pointer("/error/details")
        .and_then(|details| details.as_array())
    else {
        return;
    };
    for detail in details {
        let kind = detail
            .get("@type")
            .and_then(|kind| kind.as_str())
            .unwrap_or("");
        if kind.ends_with("google.rpc.RetryInfo")
            && let Some(delay) = detail.get("retryDelay").and_then(|delay| delay.as_str())
            && let Some(seconds) = delay.strip_suffix('s').and_then(|s| s.parse::<f64>().ok())
            && seconds.is_finite()
            && (0.0..86_400.0).contains(&seconds)
        {
            exchange.retry_after = Some(Duration::from_secs_f64(seconds));
        }
        if kind.ends_with("google.rpc.QuotaFailure") {
            exchange.daily_quota |= detail
                .get("violations")
                .and_then(|violations| violations.as_array())
                .into_iter()
                .flatten()
                .filter_map(|violation| violation.get("quotaId")?.as_str())
                .any(|id| id.contains("PerDay"));
        }
        if kind.ends_with("google.rpc.ErrorInfo")
            && detail.get("reason").and_then(|r| r.as_str()) == Some("API_KEY_INVALID")
        {
            exchange.key_rejected = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_retry_info_and_daily_quota_are_read() {
        let body = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"29.5s"}]}}"#;
        let mut exchange = Exchange::default();
        read_google_error(body, &mut exchange);
        assert_eq!(exchange.retry_after, Some(Duration::from_millis(29_500)));
        assert!(exchange.daily_quota);
        assert_eq!(
            retry_after(&[("Retry-After".into(), "7".into())]),
            Some(Duration::from_secs(7))
        );
    }
}
