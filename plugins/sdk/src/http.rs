//! Requests through the host. The host adds the credential, enforces the allowlist
//! and the size and time caps; these helpers only build and read JSON.

use crate::ProviderError;
use crate::bindings::chute::provider::host::{self, HttpError, Request, Response};
use crate::errors::from_status;
use serde_json::Value;

/// Send a request as is.
pub fn send(request: Request) -> Result<Response, ProviderError> {
    host::send(&request).map_err(transport_error)
}

/// GET a URL; any status comes back as a response.
pub fn get(url: &str) -> Result<Response, ProviderError> {
    send(Request {
        method: "GET".into(),
        url: url.into(),
        headers: vec![("accept".into(), "application/json".into())],
        body: Vec::new(),
    })
}

/// POST a JSON body; any status comes back as a response.
pub fn post_json(url: &str, body: &Value) -> Result<Response, ProviderError> {
    send(Request {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: body.to_string().into_bytes(),
    })
}

/// The body as JSON when the status is 2xx, else the error the status means
/// (Google's error envelope and Retry-After are read, see [`crate::errors`]).
pub fn json_ok(response: Response) -> Result<Value, ProviderError> {
    if !(200..300).contains(&response.status) {
        return Err(from_status(&response));
    }
    serde_json::from_slice(&response.body).map_err(|error| {
        ProviderError::Other(format!(
            "the provider answered {} with a body that is not JSON: {error}",
            response.status
        ))
    })
}

/// A response header's value (names compare case-insensitively).
pub fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn transport_error(error: HttpError) -> ProviderError {
    match error {
        HttpError::Denied(why) => ProviderError::BadRequest(format!("the host refused: {why}")),
        HttpError::Timeout(why) => ProviderError::Unavailable(format!("timed out: {why}")),
        HttpError::TooLarge(why) => ProviderError::Other(format!("too large: {why}")),
        HttpError::Network(why) => ProviderError::Unavailable(format!("network: {why}")),
    }
}
