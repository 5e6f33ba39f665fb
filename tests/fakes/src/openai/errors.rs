//! Error answers in each flavor's own body shape (providers.md §6, §11.2, §11.3), and
//! the injected faults rendered as that flavor would answer them.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Flavor;
use crate::faults::Fault;

/// An error of `status` in `flavor`'s shape: `kind` is OpenAI's `type`, `code` its
/// `code` (each flavor keeps what it has of them).
pub fn error(flavor: Flavor, status: u16, kind: &str, code: Value, message: &str) -> Response {
    let body = match flavor {
        Flavor::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": param(&code), "code": code}})
        }
        Flavor::Vllm => json!({"error": {"message": message, "type": vllm_type(status),
                                          "param": null, "code": status}}),
        Flavor::Ollama => json!({"error": {"message": message, "type": ollama_type(status),
                                            "param": null, "code": null}}),
        Flavor::LlamaCpp => json!({"error": {"code": status, "message": message,
                                              "type": llamacpp_type(status)}}),
        Flavor::LmStudio => json!({"error": message}),
        Flavor::OpenRouter => json!({"error": {"code": status, "message": message}}),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// OpenAI names the field at fault for schema errors.
fn param(code: &Value) -> Value {
    match code.as_str() {
        Some("invalid_json_schema") => json!("response_format"),
        Some("model_not_found") => json!("model"),
        _ => Value::Null,
    }
}

fn vllm_type(status: u16) -> &'static str {
    match status {
        400 => "BadRequestError",
        401 => "AuthenticationError",
        404 => "NotFoundError",
        429 => "RateLimitError",
        503 => "ServiceUnavailableError",
        _ => "InternalServerError",
    }
}

fn ollama_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        404 => "not_found_error",
        _ => "api_error",
    }
}

fn llamacpp_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        501 => "not_supported_error",
        503 => "unavailable_error",
        _ => "server_error",
    }
}

/// A 400 about the request.
pub fn invalid(flavor: Flavor, message: &str, code: Value) -> Response {
    error(flavor, 400, "invalid_request_error", code, message)
}

/// No key was sent where one is required.
pub fn no_key(flavor: Flavor) -> Response {
    match flavor {
        Flavor::Vllm => unauthorized_string(),
        Flavor::LlamaCpp => error(
            flavor,
            401,
            "authentication_error",
            Value::Null,
            "Invalid API Key",
        ),
        Flavor::OpenRouter => error(flavor, 401, "", Value::Null, "No auth credentials found"),
        _ => error(
            flavor,
            401,
            "invalid_request_error",
            Value::Null,
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        ),
    }
}

/// A key the server does not know.
pub fn bad_key(flavor: Flavor) -> Response {
    match flavor {
        Flavor::Vllm => unauthorized_string(),
        Flavor::LlamaCpp => error(
            flavor,
            401,
            "authentication_error",
            Value::Null,
            "Invalid API Key",
        ),
        Flavor::OpenRouter => error(flavor, 401, "", Value::Null, "User not found."),
        _ => error(
            flavor,
            401,
            "invalid_request_error",
            json!("invalid_api_key"),
            "Incorrect API key provided: sk-fake***. You can find your API key at https://platform.openai.com/account/api-keys.",
        ),
    }
}

/// vLLM's auth middleware: a string, not an object.
fn unauthorized_string() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": "Unauthorized"})),
    )
        .into_response()
}

/// A path the server does not have.
pub fn not_found(flavor: Flavor, path: &str) -> Response {
    error(
        flavor,
        404,
        "invalid_request_error",
        Value::Null,
        &format!("Invalid URL (POST {path})"),
    )
}

/// A model the server does not serve (or that was retired).
pub fn model_gone(flavor: Flavor, model: &str) -> Response {
    let message = match flavor {
        Flavor::OpenAi => {
            format!("The model `{model}` does not exist or you do not have access to it.")
        }
        Flavor::Vllm => format!("The model `{model}` does not exist."),
        Flavor::Ollama => format!("model \"{model}\" not found, try pulling it first"),
        Flavor::OpenRouter => format!("No endpoints found for {model}."),
        Flavor::LlamaCpp | Flavor::LmStudio => format!("Model '{model}' not found"),
    };
    error(
        flavor,
        404,
        "invalid_request_error",
        json!("model_not_found"),
        &message,
    )
}

/// The answer for an injected fault that is an error; `None` for the faults rendered
/// inside a normal answer (malformed bodies, refusals, cut-offs, delays).
pub fn fault(flavor: Flavor, fault: &Fault, model: &str) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited(delay) => {
            let seconds = delay.as_secs_f64().ceil().max(1.0) as u64;
            let mut answer = error(
                flavor,
                429,
                "requests",
                json!("rate_limit_exceeded"),
                &format!(
                    "Rate limit reached for {model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in {seconds}s. Visit https://platform.openai.com/account/rate-limits to learn more."
                ),
            );
            headers(
                &mut answer,
                &[
                    ("retry-after", seconds.to_string()),
                    ("x-ratelimit-limit-requests", "3".into()),
                    ("x-ratelimit-remaining-requests", "0".into()),
                    ("x-ratelimit-reset-requests", format!("{seconds}s")),
                    ("x-ratelimit-limit-tokens", "40000".into()),
                    ("x-ratelimit-remaining-tokens", "39000".into()),
                    ("x-ratelimit-reset-tokens", "1.5s".into()),
                ],
            );
            answer
        }
        // The tokens-per-minute limit: no Retry-After, only the reset headers.
        Fault::BareRateLimit | Fault::TooManyConcurrent => {
            let mut answer = error(
                flavor,
                429,
                "tokens",
                json!("rate_limit_exceeded"),
                &format!(
                    "Rate limit reached for {model} in organization org-fake on tokens per min (TPM): Limit 40000, Used 39800, Requested 900. Please try again in 7.5s."
                ),
            );
            headers(
                &mut answer,
                &[
                    ("x-ratelimit-remaining-requests", "42".into()),
                    ("x-ratelimit-reset-requests", "120ms".into()),
                    ("x-ratelimit-remaining-tokens", "0".into()),
                    ("x-ratelimit-reset-tokens", "7.5s".into()),
                ],
            );
            answer
        }
        Fault::QuotaExhausted if flavor == Flavor::OpenRouter => error(
            flavor,
            402,
            "",
            Value::Null,
            "Insufficient credits. This account never purchased credits. Make sure your key is on the correct account or org, and if so, purchase more at https://openrouter.ai/settings/credits",
        ),
        Fault::QuotaExhausted => error(
            flavor,
            429,
            "insufficient_quota",
            json!("insufficient_quota"),
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        ),
        Fault::Unauthorized => bad_key(flavor),
        Fault::Forbidden => error(
            flavor,
            403,
            "request_forbidden",
            json!("unsupported_country_region_territory"),
            "Country, region, or territory not supported",
        ),
        Fault::ModelGone => model_gone(flavor, model),
        // OpenRouter: once a model has started, its errors come back as HTTP 200.
        Fault::Internal if flavor == Flavor::OpenRouter => axum::Json(json!({"error": {
            "code": 502, "message": "Provider returned error",
            "metadata": {"provider_name": "Fake", "raw": "upstream 500"}}}))
        .into_response(),
        Fault::Internal => error(
            flavor,
            500,
            "server_error",
            Value::Null,
            "The server had an error while processing your request. Sorry about that!",
        ),
        Fault::Unavailable => {
            let message = match flavor {
                Flavor::Ollama => {
                    "server busy, please try again.  maximum pending requests exceeded"
                }
                Flavor::LlamaCpp => "Loading model",
                Flavor::OpenRouter => "No allowed providers are available for the selected model.",
                _ => "The engine is currently overloaded, please try again later.",
            };
            error(flavor, 503, "server_error", Value::Null, message)
        }
        Fault::Malformed | Fault::Blocked | Fault::Truncated | Fault::Slow(_) => return None,
    })
}

fn headers(answer: &mut Response, pairs: &[(&'static str, String)]) {
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            answer.headers_mut().insert(*name, value);
        }
    }
}
