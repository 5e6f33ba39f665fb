//! A fake of ByteDance Seedance on BytePlus ModelArk (`ark.ap-southeast.bytepluses.com`,
//! same wire as Volcengine Ark): `POST /api/v3/contents/generations/tasks` with
//! `Authorization: Bearer`, `GET /api/v3/contents/generations/tasks/{id}` walking
//! `queued` → `running` → a scripted end (succeeded, failed with a code, expired,
//! cancelled, never), and a second "TOS" origin serving each video (a real MP4) at a
//! pre-signed URL that expires and refuses a request that also carries an
//! `Authorization` header. Requests are checked as Ark does ([`check`]); errors use
//! Ark's envelope ([`ark`]). Paths: `/api/v3/` on the API origin,
//! `/ark-content-generation-…/` on the storage origin.
//!
//! Not emulated: listing and deleting tasks, `callback_url` deliveries, the 64 MB body
//! cap (the fakes read at most 64 MiB), input moderation by content (scripted with
//! [`Fault::Blocked`] instead).

mod ark;
mod check;
mod storage;
mod tasks;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use futures_util::future::BoxFuture;

use crate::record::{Recorder, Seen};
use crate::server::{self, Exchange, Fake, KeyMode, Keys};

pub use check::{Asked, Family, family};

/// How a task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// `succeeded` with a video.
    Succeeded,
    /// `failed` with this error code, e.g. [`OUTPUT_MODERATION`] or
    /// `InternalServiceError`.
    Failed(&'static str),
    /// `expired`: it waited past `execution_expires_after`.
    Expired,
    /// `cancelled`.
    Cancelled,
    /// Stays `running` forever.
    Never,
}

/// The code of a task refused by output moderation.
pub const OUTPUT_MODERATION: &str = "OutputVideoSensitiveContentDetected.PolicyViolation";

/// Models the fake treats as retired (absent from BytePlus' current table): 404.
pub const RETIRED: &[&str] = &[
    "seedance-1-0-lite-t2v-250428",
    "seedance-1-0-lite-i2v-250428",
];

/// A task the fake is running.
#[derive(Debug, Clone)]
struct Task {
    model: String,
    asked: Asked,
    submitted: Instant,
    created_at: u64,
    polls: u32,
    started: bool,
    outcome: TaskOutcome,
    done_at: Option<Instant>,
    /// Unix time its pre-signed link stops working.
    link_expires: Option<u64>,
}

/// What the fake remembers between requests (opaque to tests: they use the knobs).
pub struct State {
    tasks: HashMap<String, Task>,
    polls_until_done: u32,
    outcomes: VecDeque<TaskOutcome>,
    retired: HashSet<String>,
    not_open: HashSet<String>,
    link_expiry: Duration,
    clip_divisor: u32,
    next_task: u64,
    seq: u64,
    api: String,
    storage: String,
    requests_per_minute: Option<usize>,
    minute: HashMap<String, VecDeque<Instant>>,
    concurrency: usize,
    queued_limit: usize,
}

type Inner = server::Core<State>;

/// A running fake Ark API and its TOS origin; the handle tests drive it with.
///
/// Its fault plan: `Call::Submit`, `Call::Poll`, `Call::Download` (storage), and
/// the latency of `Call::Submit` (from the submit until the task is done).
#[derive(Clone)]
pub struct FakeSeedance {
    /// `http://127.0.0.1:PORT` of the API origin (a provider's `base_url`).
    pub url: String,
    /// `http://127.0.0.1:PORT` of the storage origin video URLs point at.
    pub storage_url: String,
    handle: server::Handle<State>,
}

impl std::ops::Deref for FakeSeedance {
    type Target = server::Handle<State>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

/// The API origin as a [`Fake`].
struct Api(Arc<Inner>);

/// The TOS origin as a [`Fake`].
struct Storage(Arc<Inner>);

impl FakeSeedance {
    /// The `allow_hosts` line a provider table needs to reach the storage origin video URLs point at:
    /// another origin (port) than `base_url`'s, which the host reaches only when the
    /// operator lists it, and never with the key.
    pub fn allow_hosts(&self) -> String {
        format!("allow_hosts = [\"{}\"]\n", self.storage_url)
    }

    /// Starts both origins on loopback ports, knowing `keys`.
    pub async fn start(keys: &[(&str, KeyMode)]) -> FakeSeedance {
        FakeSeedance::start_with(Keys::new(keys)).await
    }

    /// Starts with a key registry of the caller's (e.g. [`Keys::any`]).
    pub async fn start_with(keys: Keys) -> FakeSeedance {
        let fake = FakeSeedance::detached(keys);
        let api = server::start(fake.api(), fake.recorder.clone()).await;
        let storage = server::start(fake.storage(), fake.recorder.clone()).await;
        fake.set_origins(&api, &storage)
    }

    /// A fake not yet serving: the caller puts [`FakeSeedance::api`] and
    /// [`FakeSeedance::storage`] on listeners, then calls [`FakeSeedance::set_origins`].
    pub fn detached(keys: Keys) -> FakeSeedance {
        let state = State {
            tasks: HashMap::new(),
            polls_until_done: 2,
            outcomes: VecDeque::new(),
            retired: RETIRED.iter().map(|id| id.to_string()).collect(),
            not_open: HashSet::new(),
            link_expiry: Duration::from_secs(86_400),
            clip_divisor: 1,
            next_task: 0,
            seq: 0,
            api: String::new(),
            storage: String::new(),
            requests_per_minute: None,
            minute: HashMap::new(),
            concurrency: 10,
            queued_limit: 120,
        };
        FakeSeedance {
            url: String::new(),
            storage_url: String::new(),
            handle: server::Handle {
                recorder: Recorder::default(),
                inner: Arc::new(server::Core::new(keys, state)),
            },
        }
    }

    /// Records where the two origins are served.
    pub fn set_origins(mut self, api: &str, storage: &str) -> FakeSeedance {
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

    /// Requests that reached the storage origin.
    pub fn storage_seen(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.origin == "tos")
            .collect()
    }

    /// How many polls a task needs before it ends (at least one).
    pub fn polls_until_done(&self, polls: u32) {
        self.inner.state().polls_until_done = polls.max(1);
    }

    /// How the next tasks end, in order (later ones succeed).
    pub fn task_outcomes(&self, outcomes: impl IntoIterator<Item = TaskOutcome>) {
        self.inner.state().outcomes.extend(outcomes);
    }

    /// Retires a model id: every submit naming it answers 404 (two lite ids are
    /// retired from the start, see [`RETIRED`]).
    pub fn retire_model(&self, model: &str) {
        self.inner.state().retired.insert(model.to_string());
    }

    /// A model the account has not activated: 404 `ModelNotOpen`.
    pub fn model_not_open(&self, model: &str) {
        self.inner.state().not_open.insert(model.to_string());
    }

    /// Pre-signed video links stop working this long after the task finished
    /// (24 hours by default, `X-Tos-Expires=86400`).
    pub fn link_expiry(&self, expiry: Duration) {
        self.inner.state().link_expiry = expiry;
    }

    /// Clips are this many times smaller than Seedance's in each dimension.
    pub fn shrink_clips(&self, divisor: u32) {
        self.inner.state().clip_divisor = divisor.max(1);
    }

    /// Task creations per minute per model before 429 `ModelAccountRpmRateLimitExceeded`.
    pub fn requests_per_minute(&self, limit: usize) {
        self.inner.state().requests_per_minute = Some(limit);
    }

    /// Tasks running at once (10 by default); more wait `queued`.
    pub fn concurrency(&self, limit: usize) {
        self.inner.state().concurrency = limit.max(1);
    }

    /// Queued tasks allowed before a submit gets 429 `QuotaExceeded` (120).
    pub fn queued_limit(&self, limit: usize) {
        self.inner.state().queued_limit = limit;
    }

    /// The ids of the tasks created so far, oldest first.
    pub fn task_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.inner.state().tasks.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many tasks were created.
    pub fn submitted(&self) -> usize {
        self.inner.state().tasks.len()
    }
}

impl State {
    /// The next request id's sequence number.
    fn seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

impl Fake for Api {
    fn origin(&self) -> &'static str {
        "seedance"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/api/v3/")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        exchange.bearer()
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move { tasks::api(&self.0, exchange).await })
    }
}

impl Fake for Storage {
    fn origin(&self) -> &'static str {
        "tos"
    }

    fn claims(&self, path: &str) -> bool {
        path.starts_with("/ark-content-generation-")
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        exchange.bearer()
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move { tasks::video(&self.0, &exchange).await })
    }
}

#[cfg(test)]
mod tests;
