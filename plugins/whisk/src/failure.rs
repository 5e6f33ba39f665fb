//! What a Whisk answer means when it is not what was asked for. Whisk is unofficial
//! and was reported shut down, so anything unexpected (404, 410, a web page, a body
//! that is not the API's, an unknown 400) is `unavailable`: the chain moves on to
//! the next provider instead of failing the job. A refused cookie or token is
//! `unauthorized` (the host disables the key), a 429 is `rate-limited` (a minute
//! when Whisk gives no hint), and Google's `PUBLIC_ERROR_*` reasons are read:
//! safety filters are `content-blocked`, the account's quota `quota-exhausted`.

use chute_plugin_sdk::ProviderError;
use chute_plugin_sdk::bindings::chute::provider::host::Response;
use chute_plugin_sdk::errors::{retry_after_ms, retry_delay_ms};
use chute_plugin_sdk::http::header;
use chute_plugin_sdk::serde_json::{self, Value};

/// What the operator should know when Whisk looks gone.
pub const RETIRED: &str = "Whisk was reported shut down on 2026-04-30; take whisk out of the provider chains if this lasts";

/// The remedy for a cookie that no longer works.
pub const FRESH_COOKIE: &str =
    "export a fresh labs.google cookie from a logged-in browser into the key file";

/// How long a rate-limited account rests when Whisk gives no hint (community clients
/// cool a token down for about a minute).
pub const COOLDOWN_MS: u64 = 60_000;

/// Safety filters' reasons (`PUBLIC_ERROR_…`), by the words they contain.
const BLOCK_WORDS: &[&str] = &[
    "UNSAFE", "FILTER", "SEXUAL", "MINOR", "CHILD", "VIOLEN", "HATE", "HARASS",
];

/// The JSON body of a 2xx answer, or the error the answer means; `what` names the
/// call in messages.
pub fn json(response: &Response, what: &str) -> Result<Value, ProviderError> {
    if !(200..300).contains(&response.status) {
        return Err(from_status(response, what));
    }
    if is_web_page(response) {
        return Err(ProviderError::Unavailable(format!(
            "{what}: Whisk answered a web page instead of JSON; {RETIRED}"
        )));
    }
    serde_json::from_slice(&response.body).map_err(|error| {
        ProviderError::Unavailable(format!(
            "{what}: Whisk answered HTTP {} with a body that is not JSON ({error}); {RETIRED}",
            response.status
        ))
    })
}

/// An answer whose shape is not the API's (a field missing or of another type).
pub fn malformed(what: &str, missing: &str) -> ProviderError {
    ProviderError::Unavailable(format!(
        "{what}: Whisk's answer has no {missing}; its unofficial API may have changed"
    ))
}

/// True for an HTML answer (a retired service's landing page, a login page).
fn is_web_page(response: &Response) -> bool {
    header(response, "content-type").is_some_and(|kind| kind.contains("html"))
        || response
            .body
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|byte| *byte == b'<')
}

/// The error an HTTP error status (and its body) means.
pub fn from_status(response: &Response, what: &str) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let message = message(&body).unwrap_or_else(|| {
        if is_web_page(response) {
            "a web page instead of JSON".into()
        } else {
            String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).into_owned()
        }
    });
    let status = response.status;
    let said = format!("{what}: HTTP {status}: {message}");
    if let Some(reason) = public_reason(&body) {
        let said = format!("{said} ({reason})");
        if reason.contains("QUOTA") {
            return ProviderError::QuotaExhausted(said);
        }
        if reason.contains("ACCESS_DENIED") {
            return ProviderError::Unauthorized(format!(
                "{said}; this Google account may not use the model"
            ));
        }
        if BLOCK_WORDS.iter().any(|word| reason.contains(word)) {
            return ProviderError::ContentBlocked(said);
        }
    }
    match status {
        401 | 403 => ProviderError::Unauthorized(format!("{said}; {FRESH_COOKIE}")),
        429 => ProviderError::RateLimited(Some(
            retry_delay_ms(&body)
                .or_else(|| retry_after_ms(response))
                .unwrap_or(COOLDOWN_MS),
        )),
        404 | 410 => ProviderError::Unavailable(format!("{said}; {RETIRED}")),
        408 | 500..=599 => ProviderError::Unavailable(said),
        _ => ProviderError::Unavailable(format!("{said}; Whisk's unofficial API may have changed")),
    }
}

/// Google's `error.message`, or tRPC's `error.json.message`.
fn message(body: &Value) -> Option<String> {
    body.pointer("/error/message")
        .or_else(|| body.pointer("/error/json/message"))
        .and_then(Value::as_str)
        .map(|text| text.chars().take(300).collect())
}

/// The first `details[].reason` that is one of Google's `PUBLIC_ERROR_…` reasons.
fn public_reason(body: &Value) -> Option<String> {
    body.pointer("/error/details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|detail| detail.get("reason")?.as_str())
        .find(|reason| reason.starts_with("PUBLIC_ERROR"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, kind: &str, body: &str) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), kind.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn google(code: u16, status: &str, reason: Option<&str>) -> Response {
        let details = reason
            .map(|reason| format!(r#","details":[{{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"{reason}"}}]"#))
            .unwrap_or_default();
        answer(
            code,
            "application/json",
            &format!(r#"{{"error":{{"code":{code},"message":"m","status":"{status}"{details}}}}}"#),
        )
    }

    fn kind(error: &ProviderError) -> &'static str {
        match error {
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::QuotaExhausted(_) => "quota-exhausted",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::BadRequest(_) => "bad-request",
            ProviderError::ContentBlocked(_) => "content-blocked",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::Other(_) => "other",
        }
    }

    #[test]
    fn whisk_answers_map_to_what_the_host_acts_on() {
        let cases = [
            (google(401, "UNAUTHENTICATED", None), "unauthorized"),
            (google(403, "PERMISSION_DENIED", None), "unauthorized"),
            (google(429, "RESOURCE_EXHAUSTED", None), "rate-limited"),
            (
                google(
                    400,
                    "INVALID_ARGUMENT",
                    Some("PUBLIC_ERROR_UNSAFE_GENERATION"),
                ),
                "content-blocked",
            ),
            (
                google(
                    400,
                    "INVALID_ARGUMENT",
                    Some("PUBLIC_ERROR_PROMINENT_PEOPLE_FILTER_FAILED"),
                ),
                "content-blocked",
            ),
            (
                google(
                    429,
                    "RESOURCE_EXHAUSTED",
                    Some("PUBLIC_ERROR_USER_QUOTA_REACHED"),
                ),
                "quota-exhausted",
            ),
            (
                google(
                    403,
                    "PERMISSION_DENIED",
                    Some("PUBLIC_ERROR_MODEL_ACCESS_DENIED"),
                ),
                "unauthorized",
            ),
            (google(400, "INVALID_ARGUMENT", None), "unavailable"),
            (google(404, "NOT_FOUND", None), "unavailable"),
            (answer(410, "text/html", "<html>gone</html>"), "unavailable"),
            (google(503, "UNAVAILABLE", None), "unavailable"),
        ];
        for (response, expected) in cases {
            let error = from_status(&response, "call");
            assert_eq!(kind(&error), expected, "{error:?}");
        }
        let ProviderError::RateLimited(Some(ms)) = from_status(&google(429, "X", None), "call")
        else {
            panic!("a 429 rests the account")
        };
        assert_eq!(ms, COOLDOWN_MS);
        let page = answer(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><p>Whisk has moved</p>",
        );
        assert_eq!(kind(&json(&page, "call").unwrap_err()), "unavailable");
        let junk = answer(200, "application/json", "{\"imagePan");
        assert_eq!(kind(&json(&junk, "call").unwrap_err()), "unavailable");
        assert!(json(&answer(200, "application/json", "{}"), "call").is_ok());
    }
}
