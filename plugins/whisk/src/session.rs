//! Cookie → session → access token: `GET {base_url}/fx/api/auth/session` with the
//! cookie (attached by the host) answers `{user, expires, access_token}`, or the
//! same with `error: ACCESS_TOKEN_REFRESH_NEEDED` once the cookie can no longer mint
//! tokens. The token is held for this call only.

use chute_plugin_sdk::ProviderError;
use chute_plugin_sdk::bindings::chute::provider::host::Request;
use chute_plugin_sdk::http::send;
use chute_plugin_sdk::serde_json::Value;

use crate::failure::{self, FRESH_COOKIE};

/// A fresh access token for the aisandbox API.
pub fn token() -> Result<String, ProviderError> {
    let labs = crate::labs();
    let response = send(Request {
        method: "GET".into(),
        url: format!("{labs}/fx/api/auth/session"),
        headers: vec![
            ("accept".into(), "application/json".into()),
            ("referer".into(), format!("{labs}/")),
        ],
        body: Vec::new(),
    })?;
    let body = failure::json(&response, "the labs.google session")?;
    read(&body, now())
}

/// Seconds since the epoch, when the sandbox has a clock.
fn now() -> Option<i64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|elapsed| elapsed.as_secs() as i64)
}

/// The token a session answer carries, or why there is none.
fn read(body: &Value, now: Option<i64>) -> Result<String, ProviderError> {
    if !body.is_object() {
        return Err(failure::malformed("the labs.google session", "JSON object"));
    }
    if let Some(error) = body.get("error").and_then(Value::as_str) {
        return Err(ProviderError::Unauthorized(format!(
            "the labs.google session answered {error}: the cookie can no longer mint tokens; {FRESH_COOKIE}"
        )));
    }
    let Some(token) = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
    else {
        return Err(ProviderError::Unauthorized(format!(
            "the labs.google session has no access token (the cookie is signed out or expired); {FRESH_COOKIE}"
        )));
    };
    // It goes into a header: printable ASCII only.
    if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(failure::malformed(
            "the labs.google session",
            "usable access_token",
        ));
    }
    let expires = body.get("expires").and_then(Value::as_str);
    if let (Some(at), Some(now)) = (expires.and_then(epoch_seconds), now)
        && at <= now
    {
        return Err(ProviderError::Unauthorized(format!(
            "the labs.google session expired at {}; {FRESH_COOKIE}",
            expires.unwrap_or("")
        )));
    }
    Ok(token.to_string())
}

/// `2025-12-08T04:48:36.000Z` (or with a `±hh:mm` offset) in seconds since the epoch.
fn epoch_seconds(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if text.get(4..5) != Some("-") || !matches!(text.get(10..11), Some("T" | "t" | " ")) {
        return None;
    }
    let zone = text[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match zone {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chute_plugin_sdk::serde_json::json;

    #[test]
    fn a_session_gives_its_token_or_says_why_not() {
        let now = epoch_seconds("2026-03-01T00:00:00Z");
        assert_eq!(now, Some(1_772_323_200));
        let good = json!({"user": {"name": "a"}, "expires": "2026-03-02T04:48:36.000Z",
                          "access_token": "ya29.token"});
        assert_eq!(read(&good, now).ok().as_deref(), Some("ya29.token"));
        let refresh = json!({"expires": "2026-03-02T00:00:00Z", "access_token": "ya29.old",
                             "error": "ACCESS_TOKEN_REFRESH_NEEDED"});
        let Err(ProviderError::Unauthorized(why)) = read(&refresh, now) else {
            panic!("refresh needed is unauthorized")
        };
        assert!(why.contains("ACCESS_TOKEN_REFRESH_NEEDED") && why.contains("fresh"));
        let expired = json!({"expires": "2026-02-28T23:59:59+00:00", "access_token": "ya29.x"});
        assert!(matches!(
            read(&expired, now),
            Err(ProviderError::Unauthorized(_))
        ));
        assert!(matches!(
            read(&json!({}), now),
            Err(ProviderError::Unauthorized(_))
        ));
        assert!(matches!(
            read(&json!([1]), now),
            Err(ProviderError::Unavailable(_))
        ));
        let bad = json!({"access_token": "ya29\r\nx: y"});
        assert!(matches!(
            read(&bad, now),
            Err(ProviderError::Unavailable(_))
        ));
        assert_eq!(
            epoch_seconds("2026-03-01T07:00:00+07:00"),
            epoch_seconds("2026-03-01T00:00:00Z")
        );
        assert_eq!(epoch_seconds("tomorrow"), None);
    }
}
