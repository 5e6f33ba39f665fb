//! A fake of the Gemini API (`generativelanguage.googleapis.com`): text, JSON mode,
//! native image models and TTS through `generateContent`, Veo through
//! `predictLongRunning` with operation polling, and result files that redirect to a
//! separate storage origin (which must not receive the key). Models are taken from
//! the path; retired ones answer 404. Errors use Google's envelope.

mod content;
mod image;
mod speech;
mod veo;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use futures_util::future::BoxFuture;

use crate::faults::{Call, Fault};
use crate::raw;
use crate::record::{Recorder, Seen};
use crate::server::{self, Exchange, Fake, KeyMode, Keys};

pub use veo::VideoOutcome;

/// The service name Google's errors carry.
const SERVICE: &str = "generativelanguage.googleapis.com";

/// A Veo operation the fake is running.
#[derive(Debug, Clone)]
struct Operation {
    model: String,
    submitted: Instant,
    polls: u32,
    outcome: VideoOutcome,
    width: u32,
    height: u32,
    seconds: u32,
    done_at: Option<Instant>,
}

/// What the fake remembers between requests (opaque to tests: they use the knobs).
#[derive(Default)]
pub struct State {
    operations: HashMap<String, Operation>,
    polls_until_done: u32,
    outcomes: VecDeque<VideoOutcome>,
    storage_failures: u32,
    download_expiry: Option<Duration>,
    retired: HashSet<String>,
    text_answers: VecDeque<String>,
    next_operation: u64,
    storage: String,
    api: String,
    thought_decoys: bool,
    clip_divisor: u32,
    requests_per_minute: Option<usize>,
    requests_per_day: Option<usize>,
    minute: VecDeque<Instant>,
    today: usize,
}

/// The fake's shared parts.
type Inner = server::Core<State>;

/// A running fake Gemini API and its storage origin; the handle tests drive it with.
#[derive(Clone)]
pub struct FakeGemini {
    /// `http://127.0.0.1:PORT` of the API origin (a provider's `base_url`).
    pub url: String,
    /// `http://127.0.0.1:PORT` of the storage origin downloads redirect to.
    pub storage_url: String,
    handle: server::Handle<State>,
}

impl std::ops::Deref for FakeGemini {
    type Target = server::Handle<State>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

/// The API origin as a [`Fake`].
struct Api(Arc<Inner>);

/// The storage origin as a [`Fake`].
struct Storage(Arc<Inner>);

impl FakeGemini {
    /// The `allow_hosts` line a provider table needs to reach the storage origin downloads redirect to:
    /// another origin (port) than `base_url`'s, which the host reaches only when the
    /// operator lists it, and never with the key.
    pub fn allow_hosts(&self) -> String {
        format!("allow_hosts = [\"{}\"]\n", self.storage_url)
    }

    /// Starts the API and storage origins on loopback ports, knowing `keys`.
    pub async fn start(keys: &[(&str, KeyMode)]) -> FakeGemini {
        FakeGemini::start_with(Keys::new(keys)).await
    }

    /// Starts with a key registry of the caller's (e.g. [`Keys::any`]).
    pub async fn start_with(keys: Keys) -> FakeGemini {
        let fake = FakeGemini::detached(keys);
        let api = server::start(fake.api(), fake.recorder.clone()).await;
        let storage = server::start(fake.storage(), fake.recorder.clone()).await;
        fake.set_origins(&api, &storage)
    }

    /// A fake not yet serving: its [`FakeGemini::api`] and [`FakeGemini::storage`]
    /// parts are put on listeners by the caller, who then calls
    /// [`FakeGemini::set_origins`].
    pub fn detached(keys: Keys) -> FakeGemini {
        let inner = Arc::new(server::Core::new(
            keys,
            State {
                polls_until_done: 2,
                clip_divisor: 1,
                ..State::default()
            },
        ));
        FakeGemini {
            url: String::new(),
            storage_url: String::new(),
            handle: server::Handle {
                recorder: Recorder::default(),
                inner,
            },
        }
    }

    /// Records where the two origins are served.
    pub fn set_origins(mut self, api: &str, storage: &str) -> FakeGemini {
        {
            let mut state = self.inner.state();
            state.api = api.to_string();
            state.storage = storage.to_string();
        }
        self.url = api.to_string();
        self.storage_url = storage.to_string();
        self
    }

    /// The API origin's handler.
    pub fn api(&self) -> Arc<dyn Fake> {
        Arc::new(Api(self.inner.clone()))
    }

    /// The storage origin's handler.
    pub fn storage(&self) -> Arc<dyn Fake> {
        Arc::new(Storage(self.inner.clone()))
    }

    /// Requests whose path ends with `suffix`.
    pub fn seen_ending(&self, suffix: &str) -> Vec<Seen> {
        self.recorder.ending(suffix)
    }

    /// How many polls an operation needs before it is done (at least one).
    pub fn polls_until_done(&self, polls: u32) {
        self.inner.state().polls_until_done = polls;
    }

    /// How the next operations end, in order (later ones succeed).
    pub fn video_outcomes(&self, outcomes: impl IntoIterator<Item = VideoOutcome>) {
        self.inner.state().outcomes.extend(outcomes);
    }

    /// Whether every later operation fails (gRPC 3, INVALID_ARGUMENT).
    pub fn fail_operations(&self, fail: bool) {
        let mut state = self.inner.state();
        state.outcomes.clear();
        if fail {
            state
                .outcomes
                .extend(std::iter::repeat_n(VideoOutcome::Failed(3), 10_000));
        }
    }

    /// How many of the next downloads from the storage origin answer 503.
    pub fn fail_downloads(&self, count: u32) {
        self.inner.state().storage_failures = count;
    }

    /// Result files vanish this long after their operation finished (404 after).
    pub fn expire_downloads_after(&self, expiry: Duration) {
        self.inner.state().download_expiry = Some(expiry);
    }

    /// Retires a model: every call naming it answers 404 NOT_FOUND.
    pub fn retire_model(&self, model: &str) {
        self.inner.state().retired.insert(model.to_string());
    }

    /// Answers the next text calls with these texts, in order (as a model would).
    pub fn answer_text(&self, texts: impl IntoIterator<Item = String>) {
        self.inner.state().text_answers.extend(texts);
    }

    /// Adds a `thought: true` decoy image before real images.
    pub fn thought_decoys(&self, on: bool) {
        self.inner.state().thought_decoys = on;
    }

    /// Clips are this many times smaller than Veo's in each dimension (tests that
    /// render many clips; 1 is the real size).
    pub fn shrink_clips(&self, divisor: u32) {
        self.inner.state().clip_divisor = divisor.max(1);
    }

    /// A per-minute request quota across generate and submit calls (429 with the
    /// per-minute quota id and the seconds until a slot frees).
    pub fn requests_per_minute(&self, limit: usize) {
        self.inner.state().requests_per_minute = Some(limit);
    }

    /// A per-day request quota (429 with the per-day quota id once spent).
    pub fn requests_per_day(&self, limit: usize) {
        self.inner.state().requests_per_day = Some(limit);
    }

    /// How many video operations were submitted.
    pub fn submitted(&self) -> usize {
        self.seen_ending(":predictLongRunning")
            .iter()
            .filter(|seen| seen.status == 200)
            .count()
    }
}

impl Fake for Api {
    fn origin(&self) -> &'static str {
        "gemini"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/v1beta/") || path.starts_with("/raw/")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        crate::google::api_key(exchange)
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            if let Some(answer) = raw::answer(&exchange).await {
                return answer;
            }
            api(&self.0, exchange).await
        })
    }
}

impl Fake for Storage {
    fn origin(&self) -> &'static str {
        "storage"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/blobs/")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        crate::google::api_key(exchange)
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move { veo::blob(&self.0, &exchange).await })
    }
}

/// An API request: auth, quotas, scripted faults, then the method.
async fn api(inner: &Arc<Inner>, exchange: Exchange) -> Response {
    if let Err(refusal) = crate::google::authorize(&inner.keys, &exchange, SERVICE) {
        return refusal;
    }
    let path = exchange.path.clone();
    let Some(rest) = path.strip_prefix("/v1beta/") else {
        return crate::google::invalid("unknown path");
    };
    if let Some(model) = rest
        .strip_prefix("models/")
        .and_then(|rest| rest.strip_suffix(":generateContent"))
    {
        return content::generate(inner, model, &exchange).await;
    }
    if let Some(model) = rest
        .strip_prefix("models/")
        .and_then(|rest| rest.strip_suffix(":predictLongRunning"))
    {
        return veo::submit(inner, model, &exchange).await;
    }
    if let Some((model, id)) = rest
        .strip_prefix("models/")
        .and_then(|rest| rest.split_once("/operations/"))
    {
        return veo::poll(inner, model, id).await;
    }
    if let Some(file) = rest
        .strip_prefix("files/")
        .and_then(|rest| rest.strip_suffix(":download"))
    {
        return veo::download(inner, file).await;
    }
    crate::google::error(
        404,
        "NOT_FOUND",
        &format!("The requested URL {path} was not found on this server."),
        serde_json::json!([]),
    )
}

/// The next injected fault for `call`: a slow answer waits here, a fault that is an
/// HTTP error comes back as that error (`Err`), and the faults rendered inside a 200
/// (blocks, truncation, malformed bodies) come back for the caller.
async fn take_fault(
    inner: &Inner,
    call: Call,
    model: &str,
    method: &str,
) -> Result<Option<Fault>, Response> {
    match inner.faults.next(call) {
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(fault) => match crate::google::fault(&fault, model, method) {
            Some(answer) => Err(answer),
            None => Ok(Some(fault)),
        },
        None => Ok(None),
    }
}

/// A retired model's 404, when `model` is retired.
fn retired(inner: &Inner, model: &str, method: &str) -> Option<Response> {
    inner
        .state()
        .retired
        .contains(model)
        .then(|| crate::google::model_gone(model, method))
}

/// Counts a request against the per-minute and per-day quotas; the 429 when over.
fn count_quota(inner: &Inner, model: &str) -> Option<Response> {
    let mut state = inner.state();
    let now = Instant::now();
    while state
        .minute
        .front()
        .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
    {
        state.minute.pop_front();
    }
    if let Some(limit) = state.requests_per_day
        && state.today >= limit
    {
        return Some(crate::google::quota(
            model,
            "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            None,
        ));
    }
    if let Some(limit) = state.requests_per_minute
        && state.minute.len() >= limit
    {
        let oldest = state.minute.front().copied().unwrap_or(now);
        let wait = Duration::from_secs(60).saturating_sub(now.duration_since(oldest));
        return Some(crate::google::quota(
            model,
            "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            Some((wait.as_secs_f64() * 1000.0).ceil() / 1000.0),
        ));
    }
    state.minute.push_back(now);
    state.today += 1;
    None
}

impl FakeGemini {
    /// The ids of the operations submitted so far, oldest first (a clip's colour is
    /// [`crate::media::colour`] of its id).
    pub fn operations(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.inner.state().operations.keys().cloned().collect();
        ids.sort();
        ids
    }
}
