//! A local fake of the Gemini API, speaking its real wire format (the public Gemini
//! API reference): `generateContent`, `predictLongRunning`,
//! operation polling, and file downloads that redirect to a separate storage origin.
//! Auth by `x-goog-api-key` or `?key=`; Google's error envelope with ErrorInfo,
//! RetryInfo and QuotaFailure details. Behaviour is scripted per request, and every
//! request is recorded (time, key, path, headers, body).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// How the fake treats a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// Accepted.
    Valid,
    /// 401 UNAUTHENTICATED, ACCESS_TOKEN_TYPE_UNSUPPORTED (an AQ. key some accounts refuse).
    Unauthenticated,
}

/// A scripted answer for the next API request (auth is checked first).
#[derive(Debug, Clone)]
pub enum Scripted {
    /// 429 RESOURCE_EXHAUSTED with RetryInfo.retryDelay and a per-minute quota id.
    RateLimited(&'static str),
    /// 503 UNAVAILABLE "The model is overloaded."
    Overloaded,
    /// Answer normally, after a delay.
    Slow(Duration),
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// The API key, from the header or the query.
    pub key: Option<String>,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// All headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The query string.
    pub query: String,
    /// Which origin: "api" or "storage".
    pub origin: &'static str,
}

#[derive(Default)]
struct State {
    keys: HashMap<String, KeyMode>,
    script: VecDeque<Scripted>,
    seen: Vec<Seen>,
    operations: HashMap<String, u32>,
    polls_until_done: u32,
    fail_operations: bool,
    storage_failures: u32,
    next_operation: u64,
    storage: String,
    api: String,
}

/// A running fake; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeGemini {
    /// `http://127.0.0.1:PORT` of the API origin.
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// A tiny MP4 (an `ftyp` box and an empty `mdat`), enough for magic-byte checks.
pub const TINY_MP4: &[u8] = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2\x00\x00\x00\x08mdat";

impl FakeGemini {
    /// Starts the API and storage origins on loopback.
    pub async fn start(keys: &[(&str, KeyMode)]) -> FakeGemini {
        let state = Arc::new(Mutex::new(State {
            keys: keys
                .iter()
                .map(|(key, mode)| (key.to_string(), *mode))
                .collect(),
            polls_until_done: 2,
            ..State::default()
        }));
        let api = serve(state.clone(), "api").await;
        let storage = serve(state.clone(), "storage").await;
        {
            let mut locked = state.lock().unwrap();
            locked.api = format!("http://{api}");
            locked.storage = format!("http://{storage}");
        }
        FakeGemini {
            url: format!("http://{api}"),
            state,
        }
    }

    /// Queue answers for the next API requests.
    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    /// How many polls an operation needs before it is done.
    pub fn polls_until_done(&self, polls: u32) {
        self.state.lock().unwrap().polls_until_done = polls;
    }

    /// Whether finished operations end in an error (gRPC code 3, INVALID_ARGUMENT).
    pub fn fail_operations(&self, fail: bool) {
        self.state.lock().unwrap().fail_operations = fail;
    }

    /// How many of the next downloads from the storage origin answer 503 (a file
    /// server outage after the render finished).
    pub fn fail_downloads(&self, count: u32) {
        self.state.lock().unwrap().storage_failures = count;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests whose path ends with `suffix`.
    pub fn seen_ending(&self, suffix: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.path.ends_with(suffix))
            .collect()
    }
}

async fn serve(state: Arc<Mutex<State>>, origin: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let state = state.clone();
        async move { handle(state, origin, request).await }
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    address
}

fn error(code: u16, status: &str, message: &str, details: Value) -> Response {
    let mut body = json!({"error": {"code": code, "message": message, "status": status}});
    if details
        .as_array()
        .is_some_and(|details| !details.is_empty())
    {
        body["error"]["details"] = details;
    }
    (
        StatusCode::from_u16(code).expect("status"),
        axum::Json(body),
    )
        .into_response()
}

fn query_key(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "key")
        .map(|(_, value)| value.to_string())
}

async fn handle(
    state: Arc<Mutex<State>>,
    origin: &'static str,
    request: Request<Body>,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let headers: HeaderMap = request.headers().clone();
    let body = to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let key = headers
        .get("x-goog-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_key(&query));
    let seen = Seen {
        at: Instant::now(),
        key: key.clone(),
        method: method.clone(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_string()))
            .collect(),
        query,
        origin,
    };
    state.lock().unwrap().seen.push(seen);
    if origin == "storage" {
        let outage = {
            let mut locked = state.lock().unwrap();
            let failing = locked.storage_failures > 0;
            locked.storage_failures = locked.storage_failures.saturating_sub(1);
            failing
        };
        if outage {
            return (StatusCode::SERVICE_UNAVAILABLE, "storage is unavailable").into_response();
        }
        return ([("content-type", "video/mp4")], TINY_MP4).into_response();
    }
    // Test utilities outside the Gemini API: a large body, a slow answer, a body that
    // stalls after its first bytes, and an upload sink.
    if path == "/raw/big" {
        return vec![b'x'; 2 << 20].into_response();
    }
    if path == "/raw/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
        return "late".into_response();
    }
    if path == "/raw/stall" {
        let chunks = futures_util::stream::unfold(0, |step| async move {
            match step {
                0 => Some((Ok::<_, std::io::Error>(axum::body::Bytes::from("first")), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    Some((Ok(axum::body::Bytes::from("late")), 2))
                }
                _ => None,
            }
        });
        return axum::body::Body::from_stream(chunks).into_response();
    }
    if path == "/raw/upload" {
        return "stored".into_response();
    }
    // Auth first, as Google does.
    let Some(key) = key else {
        return error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
            json!([]),
        );
    };
    let mode = state.lock().unwrap().keys.get(&key).copied();
    match mode {
        None => {
            return error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                 "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."}]),
            );
        }
        Some(KeyMode::Unauthenticated) => {
            return error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                json!([
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                 "metadata": {"method": "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent", "service": "generativelanguage.googleapis.com"}}]),
            );
        }
        Some(KeyMode::Valid) => {}
    }
    let scripted = state.lock().unwrap().script.pop_front();
    match scripted {
        Some(Scripted::RateLimited(delay)) => {
            return error(
                429,
                "RESOURCE_EXHAUSTED",
                &format!(
                    "You exceeded your current quota, please check your plan and billing details. Please retry in {delay}."
                ),
                json!([
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    "quotaDimensions": {"model": "gemini-2.5-flash", "location": "global"}}]},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]),
            );
        }
        Some(Scripted::Overloaded) => {
            return error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                json!([]),
            );
        }
        Some(Scripted::Slow(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(model) = path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.strip_suffix(":generateContent"))
    {
        return generate_content(model, &body);
    }
    if let Some(model) = path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.strip_suffix(":predictLongRunning"))
    {
        let mut locked = state.lock().unwrap();
        locked.next_operation += 1;
        let id = format!("op{:06}", locked.next_operation);
        locked.operations.insert(id.clone(), 0);
        return axum::Json(json!({"name": format!("models/{model}/operations/{id}")}))
            .into_response();
    }
    if let Some((model, id)) = path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.split_once("/operations/"))
    {
        let mut locked = state.lock().unwrap();
        let until = locked.polls_until_done;
        let fail = locked.fail_operations;
        let api = locked.api.clone();
        let Some(polls) = locked.operations.get_mut(id) else {
            return error(
                404,
                "NOT_FOUND",
                &format!("Operation {id} not found."),
                json!([]),
            );
        };
        *polls += 1;
        let name = format!("models/{model}/operations/{id}");
        if *polls < until {
            return axum::Json(json!({"name": name, "done": false})).into_response();
        }
        if fail {
            return axum::Json(json!({"name": name, "done": true,
                "error": {"code": 3, "message": "The prompt could not be processed."}}))
            .into_response();
        }
        return axum::Json(json!({"name": name, "done": true, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": {"generatedSamples": [{"video": {"uri": format!("{api}/v1beta/files/{id}:download?alt=media")}}]}}}))
        .into_response();
    }
    if let Some(file) = path
        .strip_prefix("/v1beta/files/")
        .and_then(|rest| rest.strip_suffix(":download"))
    {
        let storage = state.lock().unwrap().storage.clone();
        return (
            StatusCode::FOUND,
            [("location", format!("{storage}/blobs/{file}.mp4"))],
        )
            .into_response();
    }
    error(
        404,
        "NOT_FOUND",
        &format!(
            "models/{path} is not found for API version v1beta, or is not supported for generateContent."
        ),
        json!([]),
    )
}

/// A `GenerateContentResponse`: JSON mode answers `{"echo": prompt}` as a string.
fn generate_content(model: &str, body: &Value) -> Response {
    let Some(prompt) = body
        .pointer("/contents/0/parts/0/text")
        .and_then(Value::as_str)
    else {
        return error(
            400,
            "INVALID_ARGUMENT",
            "* GenerateContentRequest.contents: contents is not specified",
            json!([]),
        );
    };
    let json_mode = body
        .pointer("/generationConfig/responseMimeType")
        .and_then(Value::as_str)
        == Some("application/json");
    let text = if json_mode {
        json!({"echo": prompt}).to_string()
    } else {
        format!("echo: {prompt}")
    };
    axum::Json(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 5, "totalTokenCount": 20, "thoughtsTokenCount": 8},
        "modelVersion": model,
        "responseId": "fake-response-id"
    }))
    .into_response()
}
