//! What every Google API fake shares: the `google.rpc.Status` error envelope (with
//! ErrorInfo, RetryInfo, QuotaFailure and LocalizedMessage details), API-key auth
//! from `x-goog-api-key` or `?key=`, and the Google form of each injected fault.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::server::{Exchange, KeyCheck, KeyMode, Keys};

/// A Google error: `{"error": {"code", "message", "status", "details"?}}`.
pub fn error(code: u16, status: &str, message: &str, details: Value) -> Response {
    let mut body = json!({"error": {"code": code, "message": message, "status": status}});
    if details.as_array().is_some_and(|list| !list.is_empty()) {
        body["error"]["details"] = details;
    }
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

/// 400 INVALID_ARGUMENT with this message.
pub fn invalid(message: &str) -> Response {
    error(400, "INVALID_ARGUMENT", message, json!([]))
}

/// The API key: the `x-goog-api-key` header, else `?key=`.
pub fn api_key(exchange: &Exchange) -> Option<String> {
    exchange
        .header("x-goog-api-key")
        .map(str::to_string)
        .or_else(|| exchange.query_param("key"))
}

/// Google's answers to a missing, unknown, refused or leaked key; `Ok` for a good one.
pub fn authorize(keys: &Keys, exchange: &Exchange, service: &str) -> Result<(), Response> {
    match keys.check(api_key(exchange).as_deref()) {
        KeyCheck::Known(KeyMode::Valid) => Ok(()),
        KeyCheck::Missing => Err(error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            json!([]),
        )),
        KeyCheck::Invalid => Err(error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            json!([
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": service}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                 "message": "API key not valid. Please pass a valid API key."}]),
        )),
        KeyCheck::Known(KeyMode::Unauthenticated) => Err(error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            json!([
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                 "metadata": {"service": service}}]),
        )),
        KeyCheck::Known(KeyMode::Revoked) => Err(error(
            403,
            "PERMISSION_DENIED",
            "Your API key was reported as leaked. Please use another API key.",
            json!([]),
        )),
    }
}

/// 404 for a model that is gone (or never was).
pub fn model_gone(model: &str, method: &str) -> Response {
    error(
        404,
        "NOT_FOUND",
        &format!(
            "models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."
        ),
        json!([]),
    )
}

/// A 429 for a quota with this id (`…PerMinute…` or `…PerDay…`) and retry hint.
pub fn quota(model: &str, quota_id: &str, delay: Option<f64>) -> Response {
    let mut details = vec![
        json!({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": quota_id,
        "quotaDimensions": {"model": model, "location": "global"}}]}),
    ];
    let mut message = format!(
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10, model: {model}"
    );
    if let Some(seconds) = delay {
        details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{seconds}s")}));
        message.push_str(&format!("\nPlease retry in {seconds}s."));
    }
    error(429, "RESOURCE_EXHAUSTED", &message, Value::Array(details))
}

/// The Google answer for a fault that is an HTTP error; `None` for faults the caller
/// renders inside a 200 (blocks, truncation, malformed bodies) or as a delay.
pub fn fault(fault: &Fault, model: &str, method: &str) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited(delay) => quota(
            model,
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            Some(delay.as_secs_f64()),
        ),
        Fault::TooManyConcurrent | Fault::BareRateLimit => error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            json!([]),
        ),
        Fault::QuotaExhausted => quota(
            model,
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            Some(3600.0),
        ),
        Fault::Unauthorized => error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            json!([]),
        ),
        Fault::Forbidden => error(
            403,
            "PERMISSION_DENIED",
            "Your API key was reported as leaked. Please use another API key.",
            json!([]),
        ),
        Fault::ModelGone => model_gone(model, method),
        Fault::Internal => error(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
            json!([]),
        ),
        Fault::Unavailable => error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
            json!([]),
        ),
        Fault::Malformed | Fault::Blocked | Fault::Truncated | Fault::Slow(_) => return None,
    })
}

/// Unknown keys of a JSON object, checked against the names the API knows (camelCase
/// and snake_case both accepted, as Google's JSON parser does).
pub fn unknown_field(object: &Value, known: &[&str], at: &str) -> Option<Response> {
    let object = object.as_object()?;
    let unknown = object.keys().find(|key| {
        !known
            .iter()
            .any(|name| *name == key.as_str() || snake(name) == key.as_str())
    })?;
    Some(invalid(&format!(
        "Invalid JSON payload received. Unknown name \"{unknown}\" at '{at}': Cannot find field."
    )))
}

/// camelCase → snake_case.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for letter in name.chars() {
        if letter.is_ascii_uppercase() {
            out.push('_');
            out.push(letter.to_ascii_lowercase());
        } else {
            out.push(letter);
        }
    }
    out
}

/// A field by its camelCase name or its snake_case twin.
pub fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| object.get(snake(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_a_field_are_accepted_and_others_refused() {
        let body = json!({"generation_config": {}, "contents": []});
        assert!(unknown_field(&body, &["contents", "generationConfig"], "").is_none());
        assert!(field(&body, "generationConfig").is_some());
        let bad = json!({"thinkingLevel": 1});
        assert!(unknown_field(&bad, &["contents"], "").is_some());
    }
}
