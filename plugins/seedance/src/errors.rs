//! Ark's errors: `{"error": {"code": "<Code[.Sub]>", "message": "… Request id: …",
//! "param": "", "type": "BadRequest"}}`, mapped by `code` (a prefix match, never the
//! message text), else by the HTTP status. The same codes name why a task `failed`.

use chute_plugin_sdk::ProviderError;
use chute_plugin_sdk::errors::retry_after_ms;
use chute_plugin_sdk::host::Response;
use chute_plugin_sdk::serde_json::Value;

/// The body as JSON on a 2xx, else the error the answer means.
pub fn json_ok(response: Response) -> Result<Value, ProviderError> {
    if !(200..300).contains(&response.status) {
        return Err(from_status(&response));
    }
    serde_json::from_slice(&response.body).map_err(|error| {
        ProviderError::Other(format!(
            "the API answered {} with a body that is not JSON: {error}",
            response.status
        ))
    })
}

/// The error an HTTP answer means.
pub fn from_status(response: &Response) -> ProviderError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let text = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&response.body[..response.body.len().min(300)]).into_owned()
        });
    let param = body
        .pointer("/error/param")
        .and_then(Value::as_str)
        .filter(|param| !param.is_empty())
        .map(|param| format!(" (param {param})"))
        .unwrap_or_default();
    let status = response.status;
    let message = if code.is_empty() {
        format!("HTTP {status}: {text}")
    } else {
        format!("HTTP {status} {code}: {text}{param}")
    };
    let hint = retry_after_ms(response);
    if let Some(error) = code_error(code, hint, message.clone()) {
        return error;
    }
    match status {
        429 => ProviderError::RateLimited(hint),
        401 | 403 => ProviderError::Unauthorized(message),
        408 | 500..=599 => ProviderError::Unavailable(message),
        400..=499 => ProviderError::BadRequest(message),
        _ => ProviderError::Other(message),
    }
}

/// The error an Ark error code means (`hint`: a rate limit's retry delay in ms), or
/// `None` for a code not known here.
pub fn code_error(code: &str, hint: Option<u64>, message: String) -> Option<ProviderError> {
    let first = code.split('.').next().unwrap_or("");
    Some(match first {
        // Input moderation at submit, output moderation as a failed task.
        _ if first.ends_with("SensitiveContentDetected") || first.ends_with("RiskDetection") => {
            ProviderError::ContentBlocked(message)
        }
        // The free-trial quota, the queued-task cap, a spend cap, an unpaid bill.
        "QuotaExceeded" | "SetLimitExceeded" | "AccountQuotaExceeded" | "AccountOverdueError" => {
            ProviderError::QuotaExhausted(message)
        }
        "OperationDenied" if code.ends_with(".ServiceOverdue") => {
            ProviderError::QuotaExhausted(message)
        }
        "AuthenticationError" | "AccessDenied" | "OperationDenied" => {
            ProviderError::Unauthorized(message)
        }
        "RequestBurstTooFast" | "InflightBatchsizeExceeded" | "ServerOverloaded" => {
            ProviderError::RateLimited(hint)
        }
        _ if first.ends_with("RateLimitExceeded") => ProviderError::RateLimited(hint),
        "MissingParameter" | "InvalidParameter" | "InvalidEndpointOrModel" => {
            ProviderError::BadRequest(message)
        }
        // The model is not activated for this account: the operator's to fix.
        "ModelNotOpen" => {
            ProviderError::BadRequest(format!("{message} (activate the model in the Ark console)"))
        }
        "InternalServiceError" | "ServiceUnavailable" => ProviderError::Unavailable(message),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind each Ark code maps to, as the host acts on it.
    fn kind(code: &str) -> &'static str {
        match code_error(code, Some(1_000), String::new()) {
            Some(ProviderError::ContentBlocked(_)) => "content-blocked",
            Some(ProviderError::QuotaExhausted(_)) => "quota-exhausted",
            Some(ProviderError::Unauthorized(_)) => "unauthorized",
            Some(ProviderError::RateLimited(_)) => "rate-limited",
            Some(ProviderError::BadRequest(_)) => "bad-request",
            Some(ProviderError::Unavailable(_)) => "unavailable",
            Some(ProviderError::Other(_)) => "other",
            None => "unknown",
        }
    }

    #[test]
    fn billing_403s_are_spent_quota_and_permission_403s_are_refused_keys() {
        assert_eq!(kind("AccountOverdueError"), "quota-exhausted");
        assert_eq!(kind("OperationDenied.ServiceOverdue"), "quota-exhausted");
        assert_eq!(kind("AccessDenied"), "unauthorized");
        assert_eq!(kind("OperationDenied.ServiceNotOpen"), "unauthorized");
        assert_eq!(
            kind("InputImageSensitiveContentDetected.PrivacyInformation"),
            "content-blocked"
        );
        assert_eq!(
            kind("RateLimitExceeded.EndpointRPMExceeded"),
            "rate-limited"
        );
        assert_eq!(kind("QuotaExceeded"), "quota-exhausted");
    }
}
