//! One loaded plugin: its compiled component, pre-linked against the host, and the
//! sandbox every call runs in (a fresh store with a memory cap, a wall-clock
//! deadline enforced through epochs, a tokio timeout, and WASI with nothing in it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::engine::{self, Compiled};
use super::exchange::Exchange;
use super::http::HostHttp;
use super::keys::KeyLease;
use super::media_type;
use super::untrusted;

use super::bindings::{Plugin, PluginPre, chute};

pub use super::bindings::{
    Auth, Capability, Download, HttpError, Image, ImageRequest, Info, Level, Limits, Media,
    Pending, Progress, ProviderError, Request, Response, SpeechRequest, SpeechResult, TextRequest,
    TextResult, VideoRequest, WIT_VERSION, WordTime,
};

/// Limits applied to every call into a plugin.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Wall-clock budget of one call, host time included.
    pub call_timeout: Duration,
    /// Largest memory one call may use, in bytes: the plugin's linear memories and
    /// tables, and the host's buffers of its requests and responses.
    pub memory: usize,
    /// HTTP requests one call may make.
    pub max_requests: u32,
}

/// One operation a plugin can be asked to do.
#[derive(Debug, Clone, serde::Serialize)]
pub enum Operation {
    /// `describe`.
    Describe,
    /// `generate-text`.
    Text(TextRequest),
    /// `generate-image`.
    Image(ImageRequest),
    /// `speak`.
    Speak(SpeechRequest),
    /// `submit-video`.
    SubmitVideo(VideoRequest),
    /// `poll-video` from a saved state.
    PollVideo(String),
}

impl Operation {
    /// Plain text generation from a prompt, every option at its default.
    pub fn text(prompt: &str) -> Operation {
        Operation::Text(TextRequest {
            system: None,
            prompt: prompt.to_owned(),
            json_schema: None,
            temperature: None,
            max_output_tokens: None,
        })
    }

    /// The WIT name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Describe => "describe",
            Operation::Text(_) => "generate-text",
            Operation::Image(_) => "generate-image",
            Operation::Speak(_) => "speak",
            Operation::SubmitVideo(_) => "submit-video",
            Operation::PollVideo(_) => "poll-video",
        }
    }
}

/// An operation that answers in one call: everything a stage may send through
/// [`Providers::call_chain`](super::Providers::call_chain) and the remote operation
/// driver's `call`. Video submits and polls are not here: they go through the
/// driver's `submit_or_resume` and `poll_until_done`, which save the handle.
#[derive(Debug, Clone)]
pub enum CallOperation {
    /// `generate-text`.
    Text(TextRequest),
    /// `generate-image`.
    Image(ImageRequest),
    /// `speak`.
    Speak(SpeechRequest),
}

impl From<CallOperation> for Operation {
    fn from(operation: CallOperation) -> Operation {
        match operation {
            CallOperation::Text(request) => Operation::Text(request),
            CallOperation::Image(request) => Operation::Image(request),
            CallOperation::Speak(request) => Operation::Speak(request),
        }
    }
}

/// What an operation returned.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Answer {
    /// From `describe`.
    Info(Info),
    /// From `generate-text`.
    Text(TextResult),
    /// From `generate-image`.
    Image(Image),
    /// From `speak`.
    Speech(SpeechResult),
    /// From `submit-video` / `poll-video`.
    Progress(Progress),
}

/// Why a call did not produce an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallFailure {
    /// The plugin answered with an error of its own.
    #[error("{}", describe_provider_error(.0))]
    Provider(ProviderError),
    /// The call ran past its wall-clock budget (a loop, or a slow provider).
    #[error("the plugin did not finish within {0:?}; it was stopped")]
    Timeout(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("the plugin tried to use more than {} of memory; it was stopped", bytesize::ByteSize(*.0 as u64))]
    MemoryCap(usize),
    /// The plugin trapped (panic, unreachable, bad value at the boundary).
    #[error("the plugin crashed: {0}")]
    Trapped(String),
    /// The plugin answered, but with something unusable (an "image" that is not one).
    #[error("the plugin returned an unusable answer: {0}")]
    Invalid(String),
}

/// A short sentence for a provider error.
pub fn describe_provider_error(error: &ProviderError) -> String {
    match error {
        ProviderError::RateLimited(Some(ms)) => format!("rate limited (retry after {ms} ms)"),
        ProviderError::RateLimited(None) => "rate limited".into(),
        ProviderError::QuotaExhausted(why) => format!("quota exhausted: {why}"),
        ProviderError::Unauthorized(why) => format!("unauthorized: {why}"),
        ProviderError::BadRequest(why) => format!("bad request: {why}"),
        ProviderError::ContentBlocked(why) => {
            format!("blocked by the provider's safety filters: {why}")
        }
        ProviderError::Unavailable(why) => format!("provider unavailable: {why}"),
        ProviderError::Other(why) => why.clone(),
    }
}

/// What happened during one call, for key health and result.json.
#[derive(Debug, Default)]
pub struct CallTrace {
    /// Every HTTP exchange the host made for the plugin, in order.
    pub exchanges: Vec<Exchange>,
    /// The last lines the plugin wrote to stderr (panic messages land here).
    pub stderr: String,
}

/// What the plugin is given for one call.
pub struct CallContext {
    /// The plugin's network, with its allowlist and caps.
    pub http: Arc<HostHttp>,
    /// The key this call uses, if the provider has keys.
    pub key: Option<KeyLease>,
    /// Plugin-visible settings from `[providers.NAME]` (never keys).
    pub settings: Arc<BTreeMap<String, String>>,
    /// For log lines: the job this call works for, if any.
    pub job: Option<String>,
}

/// A plugin ready to be called: compiled, linked, pre-instantiated.
pub struct LoadedPlugin {
    /// The file name stem (`NAME.wasm`).
    pub name: String,
    /// The .wasm file.
    pub path: PathBuf,
    /// sha256 of the .wasm.
    pub sha256: String,
    /// True when the compile came from the cache.
    pub from_cache: bool,
    pre: PluginPre<CallState>,
    sandbox: Sandbox,
}

/// The store data of one call.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryCap,
    context: CallContext,
    trace: CallTrace,
    plugin: String,
    deadline: Instant,
    /// Log lines this call has written (see [`LOG_LINES_PER_CALL`]).
    logged: usize,
    /// HTTP requests this call has asked for.
    requests: u32,
    /// Requests one call may make ([`Sandbox::max_requests`]).
    max_requests: u32,
}

/// Caps the linear memory of the whole call (every memory of every core instance
/// together) and remembers that it refused, so the error can say so.
struct MemoryCap {
    limit: usize,
    total: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.limit {
            self.hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.limit);
        }
        self.total = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        // Table elements live in host memory; they count toward the same cap.
        let grown = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        let total = self.total.saturating_add(grown);
        if total > self.limit {
            self.hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.limit);
        }
        self.total = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        32
    }
    fn tables(&self) -> usize {
        32
    }
    fn memories(&self) -> usize {
        8
    }
}

impl MemoryCap {
    /// Bytes left under the cap.
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.total)
    }
}

/// Elements one table may hold.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Host memory per table element, counted against the call's memory cap (a function
/// reference is a pointer plus its type and instance).
const TABLE_ELEMENT_BYTES: usize = 32;

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl chute::provider::types::Host for CallState {}

impl chute::provider::host::Host for CallState {
    async fn send(&mut self, request: Request) -> Result<Response, HttpError> {
        self.requests += 1;
        if self.requests > self.max_requests {
            if self.requests == self.max_requests + 1 {
                tracing::warn!(
                    plugin = self.plugin.as_str(),
                    job = self.context.job.as_deref().unwrap_or("-"),
                    "The plugin asked for more than {} HTTP requests in one call (plugins.max_requests); the rest are refused.",
                    self.max_requests
                );
            }
            return Err(HttpError::Denied(format!(
                "more than {} requests in one call (plugins.max_requests)",
                self.max_requests
            )));
        }
        // The request body is a host copy while the response is read: both count.
        let room = self.limiter.room().saturating_sub(request.body.len());
        let (result, exchange) = self
            .context
            .http
            .send(request, self.context.key.as_ref(), self.deadline, room)
            .await;
        if let Some(exchange) = exchange {
            // Only an answer to a request that carried the key says anything about it:
            // a 401 from storage or another host never disables it.
            if let (Some(key), Some(_)) = (&self.context.key, &exchange.key) {
                key.observe(&exchange);
            }
            self.trace.exchanges.push(exchange);
        }
        result
    }

    async fn log(&mut self, level: Level, message: String) {
        self.logged += 1;
        let plugin = self.plugin.as_str();
        let job = self.context.job.as_deref().unwrap_or("-");
        if self.logged > LOG_LINES_PER_CALL {
            if self.logged == LOG_LINES_PER_CALL + 1 {
                tracing::warn!(
                    plugin,
                    job,
                    "The plugin logged more than {LOG_LINES_PER_CALL} lines in one call; the rest of this call's lines are dropped."
                );
            }
            return;
        }
        let message = untrusted::clean(&message, LOG_LINE_CHARS);
        match level {
            Level::Debug => tracing::debug!(plugin, job_id = job, "{message}"),
            Level::Info => tracing::info!(plugin, job_id = job, "{message}"),
            Level::Warn => tracing::warn!(plugin, job_id = job, "{message}"),
            Level::Error => tracing::error!(plugin, job_id = job, "{message}"),
        }
    }

    async fn config(&mut self, name: String) -> Option<String> {
        self.context.settings.get(&name).cloned()
    }
}

/// Log lines one call may write through the `log` import; a plugin that logs in a loop
/// must not fill the journal.
const LOG_LINES_PER_CALL: usize = 200;

/// Most random bytes one WASI call may ask for (a nonce or a hash seed needs 32).
const MAX_RANDOM_BYTES: u64 = 64 << 10;

/// Characters kept of one log line.
const LOG_LINE_CHARS: usize = 2000;

/// What a call may write to stderr; more makes the plugin's own write fail (and a
/// Rust `eprintln!` panic), so it is generous.
const STDERR_CAPACITY: usize = 1 << 20;

impl LoadedPlugin {
    /// Links a compiled component against the host (WASI with no capabilities, plus
    /// `chute:provider/host`) and pre-instantiates it.
    pub fn link(
        name: &str,
        path: PathBuf,
        compiled: Compiled,
        sandbox: Sandbox,
    ) -> wasmtime::Result<Self> {
        let mut linker: Linker<CallState> = Linker::new(engine::engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |state| state)?;
        let pre = PluginPre::new(linker.instantiate_pre(&compiled.component)?)?;
        Ok(LoadedPlugin {
            name: name.to_owned(),
            path,
            sha256: compiled.sha256,
            from_cache: compiled.from_cache,
            pre,
            sandbox,
        })
    }

    /// Runs one operation in a fresh sandbox. The trace lists every HTTP exchange,
    /// also when the call failed.
    pub async fn call(
        &self,
        operation: Operation,
        context: CallContext,
    ) -> (Result<Answer, CallFailure>, CallTrace) {
        let budget = self.sandbox.call_timeout;
        let deadline = Instant::now() + budget;
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            // Random bytes are a host allocation the guest sizes: keep it small.
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                limit: self.sandbox.memory,
                // The stderr buffer is host memory the call can fill.
                total: STDERR_CAPACITY,
                hit: false,
            },
            context,
            trace: CallTrace::default(),
            plugin: self.name.clone(),
            deadline,
            logged: 0,
            requests: 0,
            max_requests: self.sandbox.max_requests,
        };
        let mut store = Store::new(engine::engine(), state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::format_err!("deadline reached"))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let run = invoke(&self.pre, &mut store, operation);
        // The epoch callback stops a guest that spins; this stops a call stuck in a
        // host import (both use the same budget, plus a tick of grace).
        let outcome = tokio::time::timeout(budget + engine::EPOCH_TICK * 5, run).await;
        let mut trace = std::mem::take(&mut store.data_mut().trace);
        trace.stderr = tail(&stderr.contents());
        let result = match outcome {
            Err(_elapsed) => Err(CallFailure::Timeout(budget)),
            Ok(Ok(Ok(answer))) => check_answer(&answer)
                .map(|()| untrusted::clean_answer(answer))
                .map_err(|invalid| CallFailure::Invalid(invalid.to_string())),
            Ok(Ok(Err(error))) => Err(CallFailure::Provider(untrusted::clean_error(error))),
            Ok(Err(_)) if store.data().limiter.hit => {
                Err(CallFailure::MemoryCap(self.sandbox.memory))
            }
            Ok(Err(_)) if Instant::now() >= deadline => Err(CallFailure::Timeout(budget)),
            Ok(Err(error)) => Err(CallFailure::Trapped(trap_message(&error, &trace.stderr))),
        };
        (result, trace)
    }
}

type Invoked = wasmtime::Result<Result<Answer, ProviderError>>;

async fn invoke(
    pre: &PluginPre<CallState>,
    store: &mut Store<CallState>,
    operation: Operation,
) -> Invoked {
    let plugin = pre.instantiate_async(&mut *store).await?;
    let provider = plugin.chute_provider_provider();
    Ok(match operation {
        Operation::Describe => Ok(Answer::Info(provider.call_describe(&mut *store).await?)),
        Operation::Text(request) => provider
            .call_generate_text(&mut *store, &request)
            .await?
            .map(Answer::Text),
        Operation::Image(request) => provider
            .call_generate_image(&mut *store, &request)
            .await?
            .map(Answer::Image),
        Operation::Speak(request) => provider
            .call_speak(&mut *store, &request)
            .await?
            .map(Answer::Speech),
        Operation::SubmitVideo(request) => provider
            .call_submit_video(&mut *store, &request)
            .await?
            .map(Answer::Progress),
        Operation::PollVideo(state) => provider
            .call_poll_video(&mut *store, &state)
            .await?
            .map(Answer::Progress),
    })
}

/// Largest poll state a plugin may ask the host to save.
pub const MAX_POLL_STATE: usize = 64 << 10;

/// Why an answer is unusable (the call fails with [`CallFailure::Invalid`]: a plugin
/// bug or a provider sending garbage; the job fails, other jobs carry on).
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvalidAnswer {
    /// Media bytes that are not what their MIME type says.
    #[error("{0}")]
    Media(#[from] media_type::MediaMismatch),
    /// A download URL that does not parse.
    #[error("bad download URL: {0}")]
    DownloadUrl(String),
    /// A pending operation with nothing to poll.
    #[error("a pending operation without a state to poll")]
    NoPollState,
    /// A poll state too large to keep in state.json.
    #[error("a pending operation's state of {0} bytes (at most {MAX_POLL_STATE})")]
    PollStateTooLarge(usize),
    /// Word timings that end before they start, run backwards or are far too many.
    #[error("word timings that are not in order ({0})")]
    WordTimes(String),
}

/// Media in an answer must be what it says it is (checked by magic bytes against the
/// media table), and URLs must parse; the host never delivers garbage as a result.
fn check_answer(answer: &Answer) -> Result<(), InvalidAnswer> {
    let media = |mime: &str, data: &[u8]| Ok(media_type::check_declared(mime, data)?);
    let url = |url: &str| {
        reqwest::Url::parse(url)
            .map(|_| ())
            .map_err(|error| InvalidAnswer::DownloadUrl(error.to_string()))
    };
    if let Answer::Speech(speech) = answer {
        check_words(&speech.words)?;
    }
    match answer {
        Answer::Image(image) => media(&image.mime_type, &image.data),
        Answer::Speech(SpeechResult {
            audio: Media::Bytes(audio),
            ..
        }) => media(&audio.mime_type, &audio.data),
        Answer::Speech(SpeechResult {
            audio: Media::Download(download),
            ..
        })
        | Answer::Progress(Progress::Done(Media::Download(download))) => url(&download.url),
        Answer::Progress(Progress::Done(Media::Bytes(video))) => {
            media(&video.mime_type, &video.data)
        }
        Answer::Progress(Progress::Pending(pending)) if pending.state.is_empty() => {
            Err(InvalidAnswer::NoPollState)
        }
        // The state is saved in state.json: keep it a handle, not a payload.
        Answer::Progress(Progress::Pending(pending)) if pending.state.len() > MAX_POLL_STATE => {
            Err(InvalidAnswer::PollStateTooLarge(pending.state.len()))
        }
        _ => Ok(()),
    }
}

/// Word timings must be few enough to be words, each ending after it starts, each
/// starting no earlier than the one before.
fn check_words(words: &[WordTime]) -> Result<(), InvalidAnswer> {
    const MOST: usize = 20_000;
    if words.len() > MOST {
        return Err(InvalidAnswer::WordTimes(format!("{} words", words.len())));
    }
    let mut previous = 0;
    for (index, word) in words.iter().enumerate() {
        if word.end_ms < word.start_ms || word.start_ms < previous || word.word.len() > 200 {
            return Err(InvalidAnswer::WordTimes(format!("word {}", index + 1)));
        }
        previous = word.start_ms;
    }
    Ok(())
}

/// The trap's first line plus what the plugin printed (a panic message).
fn trap_message(error: &wasmtime::Error, stderr: &str) -> String {
    let first = format!("{error}");
    let first = first.lines().next().unwrap_or("trap").to_owned();
    if stderr.is_empty() {
        first
    } else {
        format!("{first} ({})", stderr.trim())
    }
}

/// The last few lines of captured stderr, as one cleaned line (it ends up in error
/// messages and logs).
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let joined = lines[lines.len().saturating_sub(5)..].join(" | ");
    untrusted::clean(&joined, untrusted::MESSAGE_CHARS)
}
