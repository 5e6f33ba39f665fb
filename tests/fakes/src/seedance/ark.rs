//! Ark's answers that are not results: the error envelope `{"error": {"code",
//! "message", "param", "type"}}` (messages end in `Request id: …`), the faults of
//! [`Fault`] in that form, and TOS's own JSON errors for the storage origin.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::faults::Fault;

/// A request id in Ark's form (`0217…`, 45 characters or so).
pub fn request_id(seq: u64) -> String {
    format!("0217{:013}{seq:016x}c0a80001", 1_778_754_737_000u64 + seq)
}

/// The HTTP class Ark names in `error.type`.
fn kind(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

/// An Ark error answer.
pub fn error(status: u16, code: &str, message: &str, param: &str, seq: u64) -> Response {
    let id = request_id(seq);
    let code_status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = (
        code_status,
        axum::Json(json!({"error": {
            "code": code,
            "message": format!("{message} Request id: {id}"),
            "param": param,
            "type": kind(status),
        }})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        answer.headers_mut().insert("x-request-id", value);
    }
    answer
}

/// 400 `InvalidParameter` naming the field.
pub fn invalid(param: &str, why: &str, seq: u64) -> Response {
    error(
        400,
        "InvalidParameter",
        &format!("The parameter `{param}` specified in the request is not valid: {why}."),
        param,
        seq,
    )
}

/// 401 for a missing or unknown key.
pub fn unauthenticated(seq: u64) -> Response {
    error(
        401,
        "AuthenticationError",
        "The API key or AK/SK in the request is missing or invalid.",
        "",
        seq,
    )
}

/// 404 for a model id the account cannot use (unknown, retired or mistyped).
pub fn model_not_found(model: &str, seq: u64) -> Response {
    error(
        404,
        "InvalidEndpointOrModel.NotFound",
        &format!("The model or endpoint {model} does not exist or you do not have access to it."),
        "",
        seq,
    )
}

/// Ark's answer for a fault that is an HTTP error; `None` for faults answered
/// otherwise (malformed bodies, delays, truncation).
pub fn fault(fault: &Fault, model: &str, seq: u64) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited(delay) => {
            let mut answer = rate_limited(model, seq);
            // Ark's own body has no delay; a gateway's Retry-After is honoured when sent.
            let seconds = delay.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                answer.headers_mut().insert("retry-after", value);
            }
            answer
        }
        Fault::BareRateLimit => rate_limited(model, seq),
        Fault::TooManyConcurrent => error(
            429,
            "RequestBurstTooFast",
            "The request was rejected because the request rate increased too quickly. Please reduce the request rate and try again.",
            "",
            seq,
        ),
        Fault::QuotaExhausted => error(
            429,
            "QuotaExceeded",
            &format!(
                "The request has exceeded the quota of model {model} in the free trial. Please activate the model service in the console to continue."
            ),
            "",
            seq,
        ),
        Fault::Unauthorized => unauthenticated(seq),
        // The key may not do this (Ark's other 403, AccountOverdueError, is billing).
        Fault::Forbidden => error(
            403,
            "AccessDenied",
            "The request failed because you do not have access to the requested resource.",
            "",
            seq,
        ),
        Fault::ModelGone => model_not_found(model, seq),
        Fault::Internal => error(
            500,
            "InternalServiceError",
            "The service encountered an unexpected internal error.",
            "",
            seq,
        ),
        Fault::Unavailable => error(
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please try again later.",
            "",
            seq,
        ),
        Fault::Blocked => error(
            400,
            "InputTextSensitiveContentDetected",
            "The request failed because the input text may contain sensitive information.",
            "",
            seq,
        ),
        Fault::Malformed | Fault::Truncated | Fault::Slow(_) => return None,
    })
}

/// 429 for the account's per-model RPM.
pub fn rate_limited(model: &str, seq: u64) -> Response {
    error(
        429,
        "ModelAccountRpmRateLimitExceeded",
        &format!(
            "The request has exceeded the RPM (requests per minute) limit of the account for model {model}. Please try again later."
        ),
        "",
        seq,
    )
}

/// A TOS error: `{"Code", "Message", "RequestId", "HostId", "EC"}` with the same
/// request id and EC in `x-tos-request-id` / `x-tos-ec` and `server: TosServer`.
pub fn tos_error(status: u16, code: &str, message: &str, ec: &str, seq: u64) -> Response {
    let id = format!("{:032x}", 0x7050_0000_0000u64 + seq);
    let code_status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = (
        code_status,
        axum::Json(json!({"Code": code, "Message": message, "RequestId": id,
                          "HostId": "ark-content-generation-ap-southeast-1", "EC": ec})),
    )
        .into_response();
    let headers = answer.headers_mut();
    for (name, value) in [
        ("x-tos-request-id", id.as_str()),
        ("x-tos-ec", ec),
        ("server", "TosServer"),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    answer
}

/// The TOS answer for a storage fault; `None` for faults storage has no form of.
pub fn storage_fault(fault: &Fault, seq: u64) -> Option<Response> {
    Some(match fault {
        Fault::Internal => tos_error(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
            "0005-00000001",
            seq,
        ),
        Fault::Unavailable | Fault::BareRateLimit | Fault::RateLimited(_) => tos_error(
            503,
            "ServiceUnavailable",
            "Please reduce your request rate.",
            "0005-00000002",
            seq,
        ),
        Fault::Forbidden | Fault::Unauthorized => {
            tos_error(403, "AccessDenied", "Access Denied", "0003-00000001", seq)
        }
        _ => return None,
    })
}
