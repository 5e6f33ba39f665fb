//! A fake of Google Labs Whisk (unofficial; reported shut down on 2026-04-30), as two
//! origins: `labs.google` (cookie auth) with the next-auth session
//! (`GET /fx/api/auth/session`) and the tRPC procedures
//! (`POST /fx/api/trpc/{media.createOrUpdateWorkflow, backbone.captionImage,
//! backbone.uploadImage}`), and `aisandbox-pa.googleapis.com` (bearer auth) with
//! `POST /v1/whisk:generateImage` and `/v1/whisk:runImageRecipe` answering real PNGs
//! as raw base64 in `imagePanels[].generatedImages[].encodedImage`.
//!
//! The cookie is the key: a known valid cookie mints a bearer token that expires
//! ([`FakeWhisk::token_lifetime`]); a cookie in [`KeyMode::Unauthenticated`] (or every
//! cookie after [`FakeWhisk::refresh_needed`]) gets a session with
//! `error: ACCESS_TOKEN_REFRESH_NEEDED`; a revoked or unknown one gets `{}` (no
//! session), as next-auth answers. The API checks the bearer against the tokens it
//! minted. Requests are checked as 4.2–4.5 of providers.md describe them: the tRPC
//! `{"json": …}` envelope, known workflows, data-URI images that decode, categories,
//! uploaded media ids, aspect and model enums, unknown fields refused (Google's 400).
//! [`FakeWhisk::shut_down`] makes every path answer as a retired service would.
//!
//! Not emulated: `backbone.editImage`, video (`whisk:generateVideo` and its status
//! checks) and media fetches.

mod labs;
mod sandbox;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::faults::{Call, Fault};
use crate::google;
use crate::record::Recorder;
use crate::server::{self, Exchange, Fake, KeyMode, Keys};

/// How a retired Whisk answers every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    /// 404: labs.google's HTML "page not found", the API's `NOT_FOUND`.
    NotFound,
    /// 410 Gone on every path.
    Gone,
    /// 200 with the product's "Whisk has ended" web page on every path.
    LandingPage,
}

/// A minted bearer token.
struct Token {
    cookie: String,
    until: Instant,
}

/// An uploaded reference image.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The project it was uploaded to.
    pub workflow: String,
    /// `MEDIA_CATEGORY_SUBJECT`, `…_SCENE` or `…_STYLE`.
    pub category: String,
    /// The caption sent with it.
    pub caption: String,
    /// The image's bytes.
    pub image: Vec<u8>,
}

/// What the fake remembers between requests (opaque to tests: they use the knobs).
pub struct State {
    tokens: HashMap<String, Token>,
    token_lifetime: Duration,
    refresh_needed: bool,
    workflows: HashSet<String>,
    uploads: HashMap<String, Upload>,
    retired: Option<Retired>,
    counter: u64,
    images: u64,
}

type Inner = server::Core<State>;

/// A running fake Whisk (both origins); the handle tests drive it with.
///
/// Its fault plan: `Session` for the session, `Upload` for the tRPC calls,
/// `Image` for generation.
#[derive(Clone)]
pub struct FakeWhisk {
    /// `http://127.0.0.1:PORT` of the labs.google origin (a provider's `base_url`).
    pub url: String,
    /// `http://127.0.0.1:PORT` of the aisandbox API origin (`api_base_url`).
    pub api_url: String,
    handle: server::Handle<State>,
}

impl std::ops::Deref for FakeWhisk {
    type Target = server::Handle<State>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

/// The labs.google origin as a [`Fake`].
struct Labs(Arc<Inner>);

/// The aisandbox API origin as a [`Fake`].
struct Sandbox(Arc<Inner>);

impl FakeWhisk {
    /// The `allow_hosts` line a provider table needs to reach the aisandbox API origin:
    /// another origin (port) than `base_url`'s, which the host reaches only when the
    /// operator lists it, and never with the key.
    pub fn allow_hosts(&self) -> String {
        format!("allow_hosts = [\"{}\"]\n", self.api_url)
    }

    /// Starts both origins on loopback ports, knowing these cookies.
    pub async fn start(cookies: &[(&str, KeyMode)]) -> FakeWhisk {
        FakeWhisk::start_with(Keys::new(cookies)).await
    }

    /// Starts with a cookie registry of the caller's (e.g. [`Keys::any`]).
    pub async fn start_with(keys: Keys) -> FakeWhisk {
        let mut fake = FakeWhisk::detached(keys);
        fake.url = server::start(fake.labs(), fake.recorder.clone()).await;
        fake.api_url = server::start(fake.api(), fake.recorder.clone()).await;
        fake
    }

    /// A fake not yet serving: the caller puts [`FakeWhisk::labs`] and
    /// [`FakeWhisk::api`] on listeners (their paths do not overlap, so one will do).
    pub fn detached(keys: Keys) -> FakeWhisk {
        FakeWhisk {
            url: String::new(),
            api_url: String::new(),
            handle: server::Handle {
                recorder: Recorder::default(),
                inner: Arc::new(server::Core::new(
                    keys,
                    State {
                        tokens: HashMap::new(),
                        token_lifetime: Duration::from_secs(3600),
                        refresh_needed: false,
                        workflows: HashSet::new(),
                        uploads: HashMap::new(),
                        retired: None,
                        counter: 0,
                        images: 0,
                    },
                )),
            },
        }
    }

    /// The labs.google handler (`/fx/api/…`).
    pub fn labs(&self) -> Arc<dyn Fake> {
        Arc::new(Labs(self.inner.clone()))
    }

    /// The aisandbox API handler (`/v1/whisk:…`).
    pub fn api(&self) -> Arc<dyn Fake> {
        Arc::new(Sandbox(self.inner.clone()))
    }

    /// How long tokens minted from now on live (the session's `expires` says so too).
    pub fn token_lifetime(&self, lifetime: Duration) {
        self.inner.state().token_lifetime = lifetime;
    }

    /// Every session answers `error: ACCESS_TOKEN_REFRESH_NEEDED` from now on.
    pub fn refresh_needed(&self) {
        self.inner.state().refresh_needed = true;
    }

    /// Every path answers as a retired service would, before any check.
    pub fn shut_down(&self, how: Retired) {
        self.inner.state().retired = Some(how);
    }

    /// The images uploaded so far, by media id.
    pub fn uploads(&self) -> HashMap<String, Upload> {
        self.inner.state().uploads.clone()
    }

    /// Images generated so far.
    pub fn images_made(&self) -> u64 {
        self.inner.state().images
    }
}

impl Fake for Labs {
    fn origin(&self) -> &'static str {
        "whisk-labs"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/fx/api/")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        exchange.header("cookie").map(str::to_string)
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            if let Some(how) = self.0.state().retired {
                return retired(how, true);
            }
            labs::answer(&self.0, &exchange).await
        })
    }
}

impl Fake for Sandbox {
    fn origin(&self) -> &'static str {
        "whisk-api"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/v1/whisk:")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        exchange.bearer()
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            if let Some(how) = self.0.state().retired {
                return retired(how, false);
            }
            sandbox::answer(&self.0, &exchange).await
        })
    }
}

/// A retired service's answer (`labs`: the web origin, else the API).
fn retired(how: Retired, labs: bool) -> Response {
    match how {
        Retired::NotFound if labs => (
            StatusCode::NOT_FOUND,
            [("content-type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>404: This page could not be found</title></head><body><h1>404</h1><h2>This page could not be found.</h2></body></html>",
        )
            .into_response(),
        Retired::NotFound => google::error(404, "NOT_FOUND", "Requested entity was not found.", json!([])),
        Retired::Gone => (
            StatusCode::GONE,
            [("content-type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><body><h1>410 Gone</h1></body></html>",
        )
            .into_response(),
        Retired::LandingPage => (
            StatusCode::OK,
            [("content-type", "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Whisk</title></head><body><h1>Whisk has ended</h1><p>Thanks for creating with Whisk. Try Flow instead.</p></body></html>",
        )
            .into_response(),
    }
}

/// The Google (aisandbox) form of an injected fault; `None` for faults answered
/// otherwise (malformed bodies, empty generations, delays).
fn api_fault(fault: &Fault) -> Option<Response> {
    let reason = |code: u16, status: &str, message: &str, reason: &str| {
        google::error(
            code,
            status,
            message,
            json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                    "domain": "aisandbox-pa.googleapis.com"}]),
        )
    };
    Some(match fault {
        Fault::Blocked => reason(
            400,
            "INVALID_ARGUMENT",
            "Request contains an invalid argument.",
            "PUBLIC_ERROR_UNSAFE_GENERATION",
        ),
        Fault::QuotaExhausted => reason(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            "PUBLIC_ERROR_USER_QUOTA_REACHED",
        ),
        Fault::Unauthorized => unauthenticated(),
        Fault::ModelGone => google::error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            json!([]),
        ),
        Fault::Malformed | Fault::Truncated | Fault::Slow(_) => return None,
        other => google::fault(other, "IMAGEN_3_5", "generateImage")?,
    })
}

/// The API's 401 for a missing, unknown or expired bearer token.
fn unauthenticated() -> Response {
    google::error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        json!([]),
    )
}

/// A tRPC error: `{"error": {"json": {"message", "code", "data": {"code", "httpStatus", "path"}}}}`.
fn trpc_error(status: u16, code: &str, message: &str, path: &str) -> Response {
    let number = match code {
        "PARSE_ERROR" => -32700,
        "BAD_REQUEST" => -32600,
        "UNAUTHORIZED" => -32001,
        "FORBIDDEN" => -32003,
        "NOT_FOUND" => -32004,
        "TOO_MANY_REQUESTS" => -32029,
        _ => -32603,
    };
    let body = json!({"error": {"json": {"message": message, "code": number,
        "data": {"code": code, "httpStatus": status, "path": path}}}});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// The labs.google form of an injected fault (`path`: the procedure, or `session`).
fn labs_fault(fault: &Fault, path: &str) -> Option<Response> {
    Some(match fault {
        Fault::RateLimited(delay) => {
            let mut answer = trpc_error(429, "TOO_MANY_REQUESTS", "Too many requests", path);
            let seconds = delay.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                answer.headers_mut().insert("retry-after", value);
            }
            answer
        }
        Fault::BareRateLimit | Fault::TooManyConcurrent | Fault::QuotaExhausted => {
            trpc_error(429, "TOO_MANY_REQUESTS", "Too many requests", path)
        }
        Fault::Unauthorized => trpc_error(401, "UNAUTHORIZED", "UNAUTHORIZED", path),
        Fault::Forbidden => trpc_error(403, "FORBIDDEN", "FORBIDDEN", path),
        Fault::ModelGone => trpc_error(404, "NOT_FOUND", &format!("No \"mutation\"-procedure on path \"{path}\""), path),
        Fault::Internal => trpc_error(500, "INTERNAL_SERVER_ERROR", "Internal server error", path),
        // Google's front end answers an overloaded origin with its own HTML page.
        Fault::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "text/html; charset=UTF-8")],
            "<!DOCTYPE html><html lang=en><title>Error 503 (Service Unavailable)!!1</title><p><b>503.</b> <ins>That's an error.</ins></html>",
        )
            .into_response(),
        Fault::Blocked => trpc_error(400, "BAD_REQUEST", "PUBLIC_ERROR_UNSAFE_GENERATION", path),
        Fault::Malformed | Fault::Truncated | Fault::Slow(_) => return None,
    })
}

/// A 200 whose body is cut off mid-JSON.
fn cut_off() -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        "{\"result\":{\"data\":{\"json\":{\"imagePan",
    )
        .into_response()
}

/// The fault for the next call of this kind, after its latency (or its own delay).
async fn next_fault(inner: &Inner, call: Call) -> Option<Fault> {
    let fault = inner.faults.next(call);
    let delay = match &fault {
        Some(Fault::Slow(delay)) => *delay,
        _ => inner.faults.latency_of(call),
    };
    tokio::time::sleep(delay).await;
    fault
}

/// A fresh id with this prefix.
fn next_id(inner: &Inner, prefix: &str) -> String {
    let mut state = inner.state();
    state.counter += 1;
    format!("{prefix}{:012x}", 0x5eed_0000_u64 + state.counter)
}

/// Seconds since the epoch as RFC 3339 (`2025-12-08T04:48:36.000Z`).
fn rfc3339(at: SystemTime) -> String {
    let seconds = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs() as i64)
        .unwrap_or(0);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The body as a JSON object, or `None`.
fn object(exchange: &Exchange) -> Option<Value> {
    exchange.json().ok().filter(Value::is_object)
}

#[cfg(test)]
mod tests;
