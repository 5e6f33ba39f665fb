//! A fake of ElevenLabs text-to-speech (`api.elevenlabs.io`): `POST
//! /v1/text-to-speech/{voice_id}` (audio bytes) and `…/with-timestamps` (JSON with
//! base64 audio and per-character alignment), key in `xi-api-key`, `output_format`
//! in the query. Requests are checked as the API does (known voice and model, the
//! model's character limit, FastAPI 422s for missing or out-of-range fields); a
//! per-key concurrency ceiling answers 429 `too_many_concurrent_requests` and a
//! character budget 401 `quota_exceeded`. Errors are `{"detail": {"status",
//! "message"}}`. Answers carry `request-id` and `character-cost`.
//!
//! Not emulated: `opus_*`, `ulaw_8000` and `alaw_8000` (answered 400
//! `unsupported_output_format`: nothing here encodes them) and plan tiers.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::faults::{Call, Fault};
use crate::media;
use crate::record::Recorder;
use crate::server::{self, Exchange, Fake, KeyCheck, KeyMode, Keys};

mod check;

use check::check;

/// Premade voices every account has (George, Rachel, Sarah, Brian).
pub const VOICES: &[&str] = &[
    "JBFqnCBsd6RMkjVDRZzb",
    "21m00Tcm4TlvDq8ikWAM",
    "EXAVITQu4vr4xnSDxMaL",
    "nPczCjzI2devNBz1zQrb",
];

/// Models and their character limit per request.
pub const MODELS: &[(&str, usize)] = &[
    ("eleven_multilingual_v2", 10_000),
    ("eleven_multilingual_v1", 10_000),
    ("eleven_monolingual_v1", 10_000),
    ("eleven_flash_v2_5", 40_000),
    ("eleven_turbo_v2_5", 40_000),
    ("eleven_flash_v2", 30_000),
    ("eleven_turbo_v2", 30_000),
    ("eleven_v3", 5_000),
];

/// Every `output_format` the API knows.
pub const OUTPUT_FORMATS: &[&str] = &[
    "mp3_22050_32",
    "mp3_24000_48",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
    "opus_48000_32",
    "opus_48000_64",
    "opus_48000_96",
    "opus_48000_128",
    "opus_48000_192",
    "pcm_8000",
    "pcm_16000",
    "pcm_22050",
    "pcm_24000",
    "pcm_32000",
    "pcm_44100",
    "pcm_48000",
    "wav_8000",
    "wav_16000",
    "wav_22050",
    "wav_24000",
    "wav_32000",
    "wav_44100",
    "wav_48000",
    "ulaw_8000",
    "alaw_8000",
];

/// What the fake remembers between requests (opaque to tests: they use the knobs).
pub struct State {
    in_flight: HashMap<String, usize>,
    concurrency: usize,
    budget: Option<usize>,
    used: usize,
    voice_not_found_status: u16,
    voices: HashSet<String>,
    requests: u64,
}

type Inner = server::Core<State>;

/// A running fake ElevenLabs API; the handle tests drive it with.
#[derive(Clone)]
pub struct FakeElevenLabs {
    /// `http://127.0.0.1:PORT` (a provider's `base_url`).
    pub url: String,
    handle: server::Handle<State>,
}

impl std::ops::Deref for FakeElevenLabs {
    type Target = server::Handle<State>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

/// The API as a [`Fake`].
struct Api(Arc<Inner>);

impl FakeElevenLabs {
    /// Starts on a loopback port, knowing `keys`.
    pub async fn start(keys: &[(&str, KeyMode)]) -> FakeElevenLabs {
        FakeElevenLabs::start_with(Keys::new(keys)).await
    }

    /// Starts with a key registry of the caller's (e.g. [`Keys::any`]).
    pub async fn start_with(keys: Keys) -> FakeElevenLabs {
        let mut fake = FakeElevenLabs::detached(keys);
        fake.url = server::start(fake.api(), fake.recorder.clone()).await;
        fake
    }

    /// A fake not yet serving: the caller puts [`FakeElevenLabs::api`] on a listener
    /// (and writes requests to its own recorder).
    pub fn detached(keys: Keys) -> FakeElevenLabs {
        FakeElevenLabs {
            url: String::new(),
            handle: server::Handle {
                recorder: Recorder::default(),
                inner: Arc::new(server::Core::new(
                    keys,
                    State {
                        in_flight: HashMap::new(),
                        concurrency: 2,
                        budget: None,
                        used: 0,
                        voice_not_found_status: 400,
                        voices: VOICES.iter().map(|voice| voice.to_string()).collect(),
                        requests: 0,
                    },
                )),
            },
        }
    }

    /// The handler.
    pub fn api(&self) -> Arc<dyn Fake> {
        Arc::new(Api(self.inner.clone()))
    }

    /// Requests in flight at once per key before 429 `too_many_concurrent_requests`
    /// (the free plan's 2 by default).
    pub fn concurrency(&self, limit: usize) {
        self.inner.state().concurrency = limit.max(1);
    }

    /// Characters billable from now on, across keys (401 `quota_exceeded` after).
    pub fn character_budget(&self, characters: usize) {
        let mut state = self.inner.state();
        state.budget = Some(characters);
        state.used = 0;
    }

    /// Characters billed so far.
    pub fn characters_used(&self) -> usize {
        self.inner.state().used
    }

    /// The status of `voice_not_found` (the help centre lists it under both 400 and
    /// 401; 400 by default).
    pub fn voice_not_found_status(&self, status: u16) {
        self.inner.state().voice_not_found_status = status;
    }

    /// Adds a voice id the account owns.
    pub fn add_voice(&self, id: &str) {
        self.inner.state().voices.insert(id.to_string());
    }
}

impl Fake for Api {
    fn origin(&self) -> &'static str {
        "elevenlabs"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/v1/text-to-speech/")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        exchange.header("xi-api-key").map(str::to_string)
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            match speak(&self.0, &exchange).await {
                Ok(answer) | Err(answer) => answer,
            }
        })
    }
}

/// `{"detail": {"status", "message"}}` with an HTTP status.
pub fn detail(code: u16, status: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        axum::Json(json!({"detail": {"status": status, "message": message}})),
    )
        .into_response()
}

/// A FastAPI validation error: 422 `{"detail": [{"type", "loc", "msg", "input"}]}`.
pub fn unprocessable(kind: &str, loc: &[&str], msg: &str, input: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"detail": [{"type": kind, "loc": loc, "msg": msg, "input": input}]})),
    )
        .into_response()
}

/// The ElevenLabs answer for a fault that is an HTTP error; `None` for faults
/// answered otherwise (malformed bodies, delays) or that ElevenLabs has no form of
/// (blocks, truncation: it speaks whatever it is sent).
pub fn fault(fault: &Fault) -> Option<Response> {
    const CONCURRENT: &str = "Too many concurrent requests. Your current subscription is associated with a maximum of 2 concurrent requests. Please upgrade your plan or reduce the number of concurrent requests.";
    Some(match fault {
        Fault::RateLimited(delay) => {
            let mut answer = detail(429, "too_many_concurrent_requests", CONCURRENT);
            let seconds = delay.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                answer.headers_mut().insert("retry-after", value);
            }
            answer
        }
        Fault::TooManyConcurrent => detail(429, "too_many_concurrent_requests", CONCURRENT),
        Fault::BareRateLimit => detail(
            429,
            "system_busy",
            "The system is experiencing heavy traffic, please try again. Higher subscriptions have higher priority.",
        ),
        Fault::QuotaExhausted => detail(
            401,
            "quota_exceeded",
            "This request exceeds your quota of 10000. You have 0 credits remaining, while 91 credits are required for this request.",
        ),
        Fault::Unauthorized => detail(401, "invalid_api_key", "Invalid API key"),
        Fault::Forbidden => detail(
            401,
            "detected_unusual_activity",
            "Unusual activity detected. Free Tier usage disabled. If you are using a proxy/VPN you might need to purchase a Paid Plan to not trigger our abuse detectors.",
        ),
        Fault::ModelGone => detail(
            400,
            "model_not_found",
            "A model with the requested ID does not exist.",
        ),
        Fault::Internal => detail(
            500,
            "internal_server_error",
            "An internal server error occurred.",
        ),
        Fault::Unavailable => detail(
            503,
            "service_unavailable",
            "The service is temporarily unavailable.",
        ),
        Fault::Malformed | Fault::Blocked | Fault::Truncated | Fault::Slow(_) => return None,
    })
}

/// Frees a key's concurrency slot when the answer is done.
struct Slot {
    inner: Arc<Inner>,
    key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.inner.state();
        if let Some(count) = state.in_flight.get_mut(&self.key) {
            *count = count.saturating_sub(1);
        }
    }
}

/// What a valid request asks for.
struct Asked {
    voice: String,
    timestamps: bool,
    format: String,
    text: String,
}

/// A request: auth, checks, faults, the concurrency slot, the budget, the audio.
async fn speak(inner: &Arc<Inner>, exchange: &Exchange) -> Result<Response, Response> {
    let key = exchange.header("xi-api-key").unwrap_or("").to_string();
    match inner.keys.check(Some(&key)) {
        KeyCheck::Known(KeyMode::Valid) => {}
        KeyCheck::Missing => {
            return Err(detail(
                401,
                "needs_authorization",
                "Neither authorization header nor xi-api-key received, please provide one.",
            ));
        }
        _ => return Err(detail(401, "invalid_api_key", "Invalid API key")),
    }
    if exchange.method != "POST" {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(json!({"detail": "Method Not Allowed"})),
        )
            .into_response());
    }
    let asked = check(inner, exchange)?;
    let fault = inner.faults.next(Call::Speech);
    if let Some(answer) = fault.as_ref().and_then(self::fault) {
        return Err(answer);
    }
    let _slot = take_slot(inner, &key)?;
    let latency = match &fault {
        Some(Fault::Slow(delay)) => *delay,
        _ => inner.faults.latency_of(Call::Speech),
    };
    tokio::time::sleep(latency).await;
    let cost = asked.text.chars().count();
    let request = bill(inner, cost)?;
    let malformed = fault == Some(Fault::Malformed);
    let mut answer = if malformed && !asked.timestamps {
        (
            [("content-type", "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response()
    } else {
        audio(&asked, malformed).await?
    };
    let headers = answer.headers_mut();
    for (name, value) in [
        ("request-id", request),
        ("character-cost", cost.to_string()),
        ("x-trace-id", format!("trace-{}", asked.voice)),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(answer)
}

/// Takes one of the key's concurrency slots, or the 429.
fn take_slot(inner: &Arc<Inner>, key: &str) -> Result<Slot, Response> {
    let mut state = inner.state();
    let limit = state.concurrency;
    let count = state.in_flight.entry(key.to_string()).or_default();
    if *count >= limit {
        return Err(detail(
            429,
            "too_many_concurrent_requests",
            &format!(
                "Too many concurrent requests. Your current subscription is associated with a maximum of {limit} concurrent requests. Please upgrade your plan or reduce the number of concurrent requests."
            ),
        ));
    }
    *count += 1;
    Ok(Slot {
        inner: inner.clone(),
        key: key.to_string(),
    })
}

/// Bills `cost` characters against the budget; the new request id, or the 401.
fn bill(inner: &Inner, cost: usize) -> Result<String, Response> {
    let mut state = inner.state();
    if let Some(budget) = state.budget {
        let remaining = budget.saturating_sub(state.used);
        if cost > remaining {
            return Err(detail(
                401,
                "quota_exceeded",
                &format!(
                    "This request exceeds your quota of {budget}. You have {remaining} credits remaining, while {cost} credits are required for this request."
                ),
            ));
        }
    }
    state.used += cost;
    state.requests += 1;
    Ok(format!("{:020x}", 0x5eed_0000_u64 + state.requests))
}

/// The audio (or with-timestamps JSON) for a checked request.
async fn audio(asked: &Asked, malformed: bool) -> Result<Response, Response> {
    let mut parts = asked.format.split('_');
    let kind = parts.next().unwrap_or("");
    let rate: u32 = parts.next().and_then(|rate| rate.parse().ok()).unwrap_or(0);
    let kbps: u32 = parts.next().and_then(|kbps| kbps.parse().ok()).unwrap_or(0);
    let (samples, timings) = media::speech(&asked.text, rate.max(1));
    let (bytes, mime) = match kind {
        "mp3" => {
            let made = tokio::task::spawn_blocking(move || media::mp3(&samples, rate, kbps)).await;
            match made {
                Ok(Ok(bytes)) => (bytes, "audio/mpeg"),
                Ok(Err(error)) => {
                    return Err(detail(500, "internal_server_error", &error.to_string()));
                }
                Err(error) => return Err(detail(500, "internal_server_error", &error.to_string())),
            }
        }
        "wav" => (media::wav(&samples, rate), "audio/wav"),
        "pcm" => (media::pcm_bytes(&samples), "audio/pcm"),
        _ => {
            return Err(detail(
                400,
                "unsupported_output_format",
                &format!("the fake does not encode {}", asked.format),
            ));
        }
    };
    if !asked.timestamps {
        return Ok(([("content-type", mime)], bytes).into_response());
    }
    let characters: Vec<String> = asked.text.chars().map(String::from).collect();
    let starts: Vec<f64> = timings.iter().map(|(start, _)| round(*start)).collect();
    let mut ends: Vec<f64> = timings.iter().map(|(_, end)| round(*end)).collect();
    if malformed {
        ends.pop();
    }
    let alignment = json!({"characters": characters, "character_start_times_seconds": starts,
                           "character_end_times_seconds": ends});
    Ok(axum::Json(json!({
        "audio_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
        "alignment": alignment,
        "normalized_alignment": alignment,
    }))
    .into_response())
}

/// Milliseconds, as the API reports times.
fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
