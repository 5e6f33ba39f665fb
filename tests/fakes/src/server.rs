//! Serving fakes: each provider implements [`Fake`] (which paths it answers, where its
//! key travels, how it answers); [`serve`] puts one or more of them on a loopback
//! listener, records every request and the status it got, and answers 404 for paths
//! no fake claims.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::faults::Faults;
use crate::record::{Recorder, Seen, fingerprint, header_pairs};

/// The largest request body a fake reads (Gemini takes 20 MB inline).
const MAX_BODY: usize = 64 << 20;

/// One request, read whole.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Method, upper case.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string without `?`.
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Exchange {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// A query parameter (percent-decoding is not needed by any fake's values).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }

    /// The token of `Authorization: Bearer …`.
    pub fn bearer(&self) -> Option<String> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// A provider's fake.
pub trait Fake: Send + Sync + 'static {
    /// A short name for records (`gemini`, `storage`, …).
    fn origin(&self) -> &'static str;
    /// Whether this fake answers `path`.
    fn claims(&self, path: &str) -> bool;
    /// The credential a request carries, where this provider expects it.
    fn key(&self, exchange: &Exchange) -> Option<String>;
    /// The answer.
    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response>;
}

/// Serves `fakes` on `listener` until the runtime ends; requests are logged in
/// `recorder`.
pub fn serve(listener: tokio::net::TcpListener, fakes: Vec<Arc<dyn Fake>>, recorder: Recorder) {
    let fakes = Arc::new(fakes);
    let app = axum::Router::new().fallback(move |request: Request<Body>| {
        let fakes = fakes.clone();
        let recorder = recorder.clone();
        async move { dispatch(&fakes, &recorder, request).await }
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
}

/// Binds a loopback port (0: any free one).
pub async fn bind(port: u16) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}

/// Starts `fake` alone on a free loopback port; returns `http://127.0.0.1:PORT`.
pub async fn start(fake: Arc<dyn Fake>, recorder: Recorder) -> String {
    let (listener, address) = bind(0).await.expect("bind a loopback port for a fake");
    serve(listener, vec![fake], recorder);
    format!("http://{address}")
}

async fn dispatch(
    fakes: &[Arc<dyn Fake>],
    recorder: &Recorder,
    request: Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let exchange = Exchange {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts.headers,
        body: to_bytes(body, MAX_BODY).await.unwrap_or_default(),
    };
    let Some(fake) = fakes.iter().find(|fake| fake.claims(&exchange.path)) else {
        return (StatusCode::NOT_FOUND, "no fake serves this path").into_response();
    };
    let key = fake.key(&exchange);
    let index = recorder.push(Seen {
        at: std::time::Instant::now(),
        origin: fake.origin(),
        fingerprint: key.as_deref().map(fingerprint),
        key,
        method: exchange.method.clone(),
        path: exchange.path.clone(),
        query: exchange.query.clone(),
        headers: header_pairs(&exchange.headers),
        body: exchange.body.to_vec(),
        status: 0,
    });
    let response = fake.clone().answer(exchange).await;
    recorder.answered(index, response.status().as_u16());
    response
}

/// What a fake's handlers and its test handle share: the keys it knows, its fault
/// plan, and its own mutable state `S`.
pub struct Core<S> {
    /// The keys it knows.
    pub keys: Keys,
    /// Scripted faults, storms and latencies.
    pub faults: Faults,
    state: std::sync::Mutex<S>,
}

impl<S> Core<S> {
    /// A core knowing `keys`, with no faults planned, starting from `state`.
    pub fn new(keys: Keys, state: S) -> Core<S> {
        Core {
            keys,
            faults: Faults::default(),
            state: std::sync::Mutex::new(state),
        }
    }

    /// The fake's own state (a poisoned lock is taken over: a fake outlives a panic).
    pub fn state(&self) -> std::sync::MutexGuard<'_, S> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a test holds of a running fake beside its URLs: the request log and the core
/// its handlers share. Every fake derefs to one, so `seen()`, `faults()`, `keys()` and
/// `recorder()` are written once, here.
pub struct Handle<S> {
    pub(crate) recorder: Recorder,
    pub(crate) inner: Arc<Core<S>>,
}

impl<S> Clone for Handle<S> {
    fn clone(&self) -> Self {
        Handle {
            recorder: self.recorder.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S> Handle<S> {
    /// The request log.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The fault plan (scripted errors, storms, latencies).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// The keys it knows.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.recorder.all()
    }
}

/// How a fake treats a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// Accepted.
    Valid,
    /// Refused as not a credential this API takes (Google's 401
    /// `ACCESS_TOKEN_TYPE_UNSUPPORTED` for some `AQ.` keys).
    Unauthenticated,
    /// Refused as leaked (Google's 403) or revoked.
    Revoked,
}

/// The keys a fake knows. With `any` set, every non-empty key is valid (for trying
/// chute by hand).
#[derive(Clone, Default)]
pub struct Keys {
    known: Arc<std::sync::Mutex<std::collections::HashMap<String, KeyMode>>>,
    any: bool,
}

/// What a key turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// No key was sent.
    Missing,
    /// A key nobody issued.
    Invalid,
    /// A known key in this mode.
    Known(KeyMode),
}

impl Keys {
    /// Knows these keys.
    pub fn new(keys: &[(&str, KeyMode)]) -> Keys {
        let made = Keys::default();
        made.add(keys.iter().copied());
        made
    }

    /// Accepts any non-empty key.
    pub fn any() -> Keys {
        Keys {
            any: true,
            ..Keys::default()
        }
    }

    /// Adds or changes keys.
    pub fn add<'a>(&self, keys: impl IntoIterator<Item = (&'a str, KeyMode)>) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        for (key, mode) in keys {
            known.insert(key.to_string(), mode);
        }
    }

    /// What `key` is.
    pub fn check(&self, key: Option<&str>) -> KeyCheck {
        let Some(key) = key.filter(|key| !key.is_empty()) else {
            return KeyCheck::Missing;
        };
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        match known.get(key) {
            Some(mode) => KeyCheck::Known(*mode),
            None if self.any => KeyCheck::Known(KeyMode::Valid),
            None => KeyCheck::Invalid,
        }
    }
}
