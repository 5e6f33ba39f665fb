//! Operator configuration: the TOML file, its defaults, and validation.
//!
//! Operator config is strict (`deny_unknown_fields`, errors point at the line); every key
//! has a default so `chute run --spool DIR` needs no file. `config/chute.toml` documents
//! every key and a test checks that it parses and covers them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// Environment variable that overrides the spool root (like `--spool`).
pub const SPOOL_ENV: &str = "CHUTE_SPOOL";
/// Environment variable naming the configuration file (like `--config`).
pub const CONFIG_ENV: &str = "CHUTE_CONFIG";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the spool lives and how it is scanned.
    pub spool: SpoolConfig,
    /// How inbox files are judged complete.
    pub watch: WatchConfig,
    /// Concurrency and backpressure.
    pub limits: LimitsConfig,
    /// Duplicate detection.
    pub dedupe: DedupeConfig,
    /// How long finished results are kept (applied by `chute gc`, a later issue).
    pub retention: RetentionConfig,
    /// Disk-usage thresholds (applied by housekeeping, a later issue).
    pub disk: DiskConfig,
    /// Where models live.
    pub models: ModelsConfig,
    /// The transcribe pipeline (audio → transcript).
    pub transcribe: TranscribeConfig,
    /// The summary of a transcript (llama.cpp).
    pub summarize: SummarizeConfig,
    /// The native models' shared memory budget.
    pub native: NativeConfig,
    /// Routes added to (or overriding) the built-in `briefs` and `audio` routes.
    pub routes: Vec<RouteConfig>,
    /// The provider plugin host: where plugins live and the sandbox every call runs in.
    pub plugins: PluginsConfig,
    /// One table per provider (`[providers.gemini]`): keys, limits, base URL, settings.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Spending caps for paid provider calls.
    pub budget: BudgetConfig,
}

/// `[budget]`: caps on what paid provider calls may cost (prices per provider).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Most one job may spend; 0 means no cap.
    pub per_job: f64,
    /// Most all jobs together may spend per UTC day; 0 means no cap.
    pub per_day: f64,
    /// The currency of the prices (a label only).
    pub currency: String,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            per_job: 0.0,
            per_day: 0.0,
            currency: "USD".into(),
        }
    }
}

/// `[plugins]`: where provider plugins live and the limits every call runs under.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Folder of `NAME.wasm` plugins (+ optional `NAME.toml` manifests); empty means
    /// `<spool>/plugins`.
    pub dir: PathBuf,
    /// Wall-clock budget of one plugin call, time in host calls (HTTP) included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Largest memory a plugin may use during one call.
    pub memory: ByteSize,
    /// Largest request body a plugin may send.
    pub max_request: ByteSize,
    /// Largest response body handed to a plugin.
    pub max_response: ByteSize,
    /// Largest result file the host downloads for a plugin (videos).
    pub max_download: ByteSize,
    /// Connecting to a provider.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// From sending a request to the response headers.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// Silence allowed between two reads of a response body.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Attempts per provider call (429, 5xx, timeouts and refused keys are retried
    /// with exponential backoff and jitter, on another key when there is one).
    pub attempts: u32,
    /// Longest a call waits for a rate-limited or cooling key before giving up.
    #[serde(with = "humantime_serde")]
    pub max_key_wait: Duration,
    /// Size bound of the provider result cache (`<spool>/cache/results`); 0 turns it off.
    pub cache_size: ByteSize,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            call_timeout: Duration::from_secs(120),
            memory: ByteSize::mib(128),
            max_request: ByteSize::mib(32),
            max_response: ByteSize::mib(64),
            max_download: ByteSize::gib(2),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(100),
            idle_timeout: Duration::from_secs(30),
            attempts: 5,
            max_key_wait: Duration::from_secs(120),
            cache_size: ByteSize::gib(1),
        }
    }
}

impl PluginsConfig {
    /// The effective plugins folder for a spool root.
    pub fn dir(&self, spool_root: &Path) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            spool_root.join("plugins")
        } else {
            self.dir.clone()
        }
    }
}

/// `[providers.NAME]`: one provider. Keys other than the ones below are settings the
/// plugin may read (e.g. `model`); keys themselves never reach a plugin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderConfig {
    /// The plugin (`NAME.wasm`) serving this provider; empty means the table's name.
    pub plugin: String,
    /// Replaces the provider's API origin (a proxy, a regional endpoint, a test
    /// fake); its host joins the allowlist and may be a private address.
    pub base_url: String,
    /// Key references: `env:NAME`, `file:PATH` or `credential:NAME`.
    pub keys: Vec<String>,
    /// Narrows the plugin's declared hosts to these (https and public addresses still).
    pub allow_hosts: Vec<String>,
    /// Requests per minute per key (overrides the plugin's default).
    pub requests_per_minute: Option<u32>,
    /// Requests per day per key (overrides the plugin's default).
    pub requests_per_day: Option<u32>,
    /// Status checks of long-running work in flight at once (overrides the plugin's default).
    pub max_concurrent_polls: Option<u32>,
    /// Refuse to load the plugin unless its .wasm has this sha256.
    pub sha256: String,
    /// Price per call, by operation (`generate-text`, `generate-image`, `speak`,
    /// `submit-video`), counted against `[budget]`.
    pub prices: BTreeMap<String, f64>,
    /// Everything else: settings handed to the plugin as strings.
    #[serde(flatten)]
    pub settings: BTreeMap<String, toml::Value>,
}

impl ProviderConfig {
    /// The settings a plugin may read: `base_url` and the free-form keys.
    pub fn plugin_settings(&self) -> BTreeMap<String, String> {
        let mut settings: BTreeMap<String, String> = self
            .settings
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), text)
            })
            .collect();
        if !self.base_url.is_empty() {
            settings.insert("base_url".into(), self.base_url.clone());
        }
        settings
    }
}

/// `[models]`: where speech and language models are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// The models folder; empty means `$CHUTE_MODELS_DIR`, else `~/.cache/chute/models`.
    pub dir: PathBuf,
    /// Base URL that replaces `https://huggingface.co/` in `chute models pull` (an
    /// internal mirror); empty downloads from the published URLs.
    pub mirror: String,
}

impl ModelsConfig {
    /// The effective models folder.
    pub fn dir(&self) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            crate::models::default_models_dir()
        } else {
            self.dir.clone()
        }
    }

    /// A model path from the config: relative ones are inside the models folder,
    /// absolute ones stay as they are.
    pub fn resolve(&self, model: &Path) -> PathBuf {
        // `join` keeps an absolute `model` unchanged.
        self.dir().join(model)
    }
}

/// `[transcribe]`: decoding and speech-to-text settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscribeConfig {
    /// whisper.cpp ggml model, relative to the models folder (or absolute). When it is
    /// missing and `ct2/whisper-tiny.en/` is there, it is converted on first use.
    pub model: PathBuf,
    /// CPU threads for whisper.cpp.
    pub threads: usize,
    /// Beam search width; 0 decodes greedily (faster, a little less accurate).
    pub beam_size: usize,
    /// Language code, or "auto" to detect it (English-only models always use "en").
    pub language: String,
    /// Longest accepted recording.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Wall-clock limit for decoding one input (the decoder runs in a child process).
    #[serde(with = "humantime_serde")]
    pub decode_timeout: Duration,
    /// Address-space limit of the decoder child process.
    pub decode_memory: ByteSize,
    /// Audio is transcribed in chunks this long, so memory stays bounded.
    #[serde(with = "humantime_serde")]
    pub chunk: Duration,
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("ggml/whisper-tiny.en.bin"),
            threads: 2,
            beam_size: 5,
            language: "auto".to_owned(),
            max_duration: Duration::from_secs(4 * 3600),
            decode_timeout: Duration::from_secs(30 * 60),
            decode_memory: ByteSize::gib(4),
            chunk: Duration::from_secs(300),
        }
    }
}

/// `[summarize]`: the llama.cpp summary of a transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummarizeConfig {
    /// Whether the transcribe pipeline writes `summary.json`.
    pub enabled: bool,
    /// GGUF model, relative to the models folder (or absolute).
    pub model: PathBuf,
    /// Summary template (TOML); empty uses the built-in one (title, summary, key points,
    /// action items, keywords, language).
    pub template: PathBuf,
    /// CPU threads for llama.cpp.
    pub threads: u16,
    /// Context length in tokens; long transcripts are summarized in parts that fit.
    pub context: u32,
    /// Layers offloaded to the GPU in a `cuda` build (0 keeps the model on the CPU).
    pub gpu_layers: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Generations tried before the output is declared unusable.
    pub attempts: u32,
    /// Also write `transcript.clean.txt` with punctuation and casing restored (the words
    /// themselves cannot change).
    pub cleanup: bool,
    /// Wall-clock limit for one generation.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The worker binary; empty means `chute-llm` next to the `chute` executable.
    pub worker: PathBuf,
}

impl Default for SummarizeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: PathBuf::from("gguf/SmolLM2-135M-Instruct.Q4_1.gguf"),
            template: PathBuf::new(),
            threads: 2,
            context: 4096,
            gpu_layers: if cfg!(feature = "cuda") { 999 } else { 0 },
            temperature: 0.3,
            attempts: 3,
            cleanup: false,
            timeout: Duration::from_secs(600),
            worker: PathBuf::new(),
        }
    }
}

/// `[native]`: how whisper.cpp and llama.cpp share one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeConfig {
    /// Memory the loaded native models may take together (VRAM in a `cuda` build, RAM
    /// otherwise). Before a model is loaded, resident ones are unloaded until it fits.
    /// A model is estimated at its file size plus `working_memory`. "0B" = no limit.
    pub model_budget: ByteSize,
    /// Working memory added to each model's file size when estimating its footprint.
    pub working_memory: ByteSize,
}

impl Default for NativeConfig {
    fn default() -> Self {
        Self {
            model_budget: ByteSize::gib(4),
            working_memory: ByteSize::mib(256),
        }
    }
}

/// `[spool]`: the spool root and its scanning rhythm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// The spool root; `--spool` and `CHUTE_SPOOL` override it.
    pub root: PathBuf,
    /// Full rescan of inboxes and jobs/ (inotify misses files written by other hosts).
    #[serde(with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// How often a running job's heartbeat (job.json) and this daemon's record are refreshed.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How long a daemon on another host may stay silent before its jobs are adopted.
    /// Must exceed the shared filesystem's lock-release time (NFSv4 ~90–180 s, CephFS ~300 s).
    #[serde(with = "humantime_serde")]
    pub owner_lease: Duration,
    /// fsync job records and checkpoints before they are relied on (turn off only on scratch disks).
    pub fsync: bool,
    /// How claims are made durable: `auto` skips the per-batch sync where the filesystem
    /// keeps extended attributes (a lost job.json is then rebuilt from the input and the
    /// route attribute of its folder); `batch` always syncs once per claim batch.
    pub claim_commit: ClaimCommit,
}

/// How a batch of claims is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimCommit {
    /// `batch` unless the spool keeps extended attributes, then no sync.
    #[default]
    Auto,
    /// One filesystem sync per claim batch, before the inputs move in.
    Batch,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/var/lib/chute"),
            rescan_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            owner_lease: Duration::from_secs(300),
            fsync: true,
            claim_commit: ClaimCommit::Auto,
        }
    }
}

/// `[watch]`: when an inbox entry counts as complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// An entry seen without a close or rename event is taken once its size and mtime have
    /// not changed for this long.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// A file seen being written (create/modify events) but never closed is taken after it
    /// has been quiet this long (a writer that died without closing).
    #[serde(with = "humantime_serde")]
    pub open_file_timeout: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(3),
            open_file_timeout: Duration::from_secs(60),
        }
    }
}

/// `[limits]`: how much runs at once and how much may wait.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Jobs running at once (across all routes).
    pub max_running_jobs: usize,
    /// Claimed jobs waiting to run; at this depth claiming stops and inputs wait in the inbox.
    pub max_queue_depth: usize,
    /// Inputs claimed per group commit (one filesystem sync per batch).
    pub claim_batch: usize,
    /// On SIGTERM/SIGINT, how long running stages get to reach a checkpoint.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_running_jobs: 4,
            max_queue_depth: 1000,
            claim_batch: 128,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// `[dedupe]`: identical inputs are delivered once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeConfig {
    /// Turn duplicate detection on or off.
    pub enabled: bool,
    /// An input identical (blake3) to one claimed in the same route within this window is
    /// not processed again; it is delivered as a pointer to the first job's result.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[retention]`: ages after which results are removed by garbage collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Age of delivered results (outbox) before removal.
    #[serde(with = "humantime_serde")]
    pub done: Duration,
    /// Age of failed results before removal.
    #[serde(with = "humantime_serde")]
    pub failed: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done: Duration::from_secs(7 * 86400),
            failed: Duration::from_secs(14 * 86400),
        }
    }
}

/// `[disk]`: spool filesystem usage thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Above this usage the daemon logs a warning.
    pub warn_percent: u8,
    /// Above this usage the daemon stops claiming new inputs.
    pub pause_percent: u8,
    /// Claiming resumes below this usage.
    pub resume_percent: u8,
    /// Remove the oldest finished job folders when above `pause_percent`.
    pub emergency_cleanup: bool,
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            warn_percent: 80,
            pause_percent: 90,
            resume_percent: 85,
            emergency_cleanup: true,
        }
    }
}

/// The pipelines a route can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PipelineKind {
    /// brief -> script -> images -> clips -> voiceover -> render -> deliver.
    SalesVideo,
    /// audio -> decode -> transcribe -> summarize -> deliver.
    Transcribe,
    /// The input delivered unchanged.
    Passthrough,
    /// A request file (`*.toml`: text, image, speech or video) sent to a provider
    /// chain; the answer delivered as a file.
    Generate,
}

impl PipelineKind {
    /// The name used in config files and job records.
    pub fn name(self) -> &'static str {
        match self {
            PipelineKind::SalesVideo => "sales-video",
            PipelineKind::Transcribe => "transcribe",
            PipelineKind::Passthrough => "passthrough",
            PipelineKind::Generate => "generate",
        }
    }
}

/// `[[routes]]`: one inbox folder and the pipeline its inputs go through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The folder name under `inbox/`, `outbox/` and `failed/`.
    pub name: String,
    /// Which pipeline processes this route's inputs.
    pub pipeline: PipelineKind,
    /// Inputs larger than this (a folder: its total) are rejected at claim.
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// Allowed file extensions (case-insensitive, without the dot); empty means any.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Whether folders (a brief with its images) are accepted.
    #[serde(default = "default_true")]
    pub allow_directories: bool,
    /// Artificial time spent in each pipeline stage, reported as progress — for demos and
    /// for tests that need jobs to take a while.
    #[serde(default, with = "humantime_serde")]
    pub simulate_work: Option<Duration>,
}

fn default_true() -> bool {
    true
}

impl RouteConfig {
    /// A route with only a name and a pipeline.
    pub fn new(name: &str, pipeline: PipelineKind) -> Self {
        Self {
            name: name.to_owned(),
            pipeline,
            max_size: None,
            extensions: Vec::new(),
            allow_directories: true,
            simulate_work: None,
        }
    }
}

/// A configuration problem; the message points at the line when it came from a file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values parsed but do not make sense together.
    #[error("{path}: {message}")]
    Invalid {
        /// The file (or `<defaults>`).
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl Config {
    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| {
            let (line, column) = error
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: error.message().trim().to_owned(),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Checks cross-field rules that serde cannot express.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let mut seen = BTreeSet::new();
        for route in &self.routes {
            if !is_valid_route_name(&route.name) {
                return Err(invalid(format!(
                    "route name {:?} is not allowed: use letters, digits, '-' and '_' (at most 64), not starting with '.' or '-'",
                    route.name
                )));
            }
            if !seen.insert(route.name.as_str()) {
                return Err(invalid(format!(
                    "route {:?} is defined twice: keep one [[routes]] entry per name",
                    route.name
                )));
            }
        }
        if self.limits.max_running_jobs == 0 {
            return Err(invalid(
                "limits.max_running_jobs must be at least 1".to_owned(),
            ));
        }
        if self.limits.max_queue_depth == 0 {
            return Err(invalid(
                "limits.max_queue_depth must be at least 1".to_owned(),
            ));
        }
        if self.limits.claim_batch == 0 {
            return Err(invalid("limits.claim_batch must be at least 1".to_owned()));
        }
        if self.spool.rescan_interval.is_zero() || self.spool.heartbeat_interval.is_zero() {
            return Err(invalid(
                "spool.rescan_interval and spool.heartbeat_interval must be longer than 0s"
                    .to_owned(),
            ));
        }
        let summarize = &self.summarize;
        if summarize.context < 512 || summarize.attempts == 0 || summarize.threads == 0 {
            return Err(invalid(
                "summarize.context must be at least 512 tokens, and summarize.attempts and summarize.threads at least 1"
                    .to_owned(),
            ));
        }
        if !(0.0..=2.0).contains(&summarize.temperature) {
            return Err(invalid(format!(
                "summarize.temperature must be between 0 and 2, not {}",
                summarize.temperature
            )));
        }
        let plugins = &self.plugins;
        if plugins.call_timeout.is_zero()
            || plugins.attempts == 0
            || plugins.memory.as_u64() < 1 << 20
        {
            return Err(invalid(
                "plugins.call_timeout must be longer than 0s, plugins.attempts at least 1 and plugins.memory at least 1 MiB"
                    .to_owned(),
            ));
        }
        for (name, provider) in &self.providers {
            if !is_valid_route_name(name) {
                return Err(invalid(format!(
                    "provider name {name:?} is not allowed: use letters, digits, '-' and '_'"
                )));
            }
            if !provider.base_url.is_empty()
                && !provider.base_url.starts_with("https://")
                && !provider.base_url.starts_with("http://")
            {
                return Err(invalid(format!(
                    "providers.{name}.base_url must start with https:// (or http:// for a local test server)"
                )));
            }
            if let Some(key) = provider
                .keys
                .iter()
                .find(|key| !crate::provider::keys::is_reference(key))
            {
                let shown: String = key.chars().take(4).collect();
                return Err(invalid(format!(
                    "providers.{name}.keys: {shown:?}… is not a key reference: write env:NAME, file:PATH or credential:NAME, never the key itself"
                )));
            }
            if let Some(name_like_key) = provider.settings.keys().find(|setting| {
                let setting = setting.to_ascii_lowercase();
                ["key", "token", "secret", "password", "credential"]
                    .iter()
                    .any(|word| setting.contains(word))
            }) {
                return Err(invalid(format!(
                    "providers.{name}.{name_like_key}: settings are handed to the plugin, so a credential must not be one; put key references in keys = [\"env:NAME\"]"
                )));
            }
            if !provider.sha256.is_empty()
                && (provider.sha256.len() != 64
                    || !provider.sha256.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(invalid(format!(
                    "providers.{name}.sha256 must be 64 hex digits"
                )));
            }
        }
        if [self.budget.per_job, self.budget.per_day]
            .iter()
            .any(|cap| !cap.is_finite() || *cap < 0.0)
        {
            return Err(invalid(
                "budget.per_job and budget.per_day must be 0 (no cap) or more".to_owned(),
            ));
        }
        for (name, provider) in &self.providers {
            if let Some((operation, _)) = provider.prices.iter().find(|(operation, price)| {
                !matches!(
                    operation.as_str(),
                    "generate-text" | "generate-image" | "speak" | "submit-video"
                ) || !price.is_finite()
                    || **price < 0.0
            }) {
                return Err(invalid(format!(
                    "providers.{name}.prices.{operation}: prices are 0 or more, for generate-text, generate-image, speak or submit-video"
                )));
            }
        }
        let disk = &self.disk;
        if !(disk.resume_percent <= disk.pause_percent && disk.pause_percent <= 100) {
            return Err(invalid(format!(
                "disk.resume_percent ({}) must not exceed disk.pause_percent ({}), which must not exceed 100",
                disk.resume_percent, disk.pause_percent
            )));
        }
        Ok(())
    }

    /// The effective routes: the built-in `briefs` and `audio` routes, overridden or
    /// extended by the configured ones, sorted by name.
    pub fn effective_routes(&self) -> Vec<RouteConfig> {
        let mut routes = vec![
            RouteConfig::new("audio", PipelineKind::Transcribe),
            RouteConfig::new("briefs", PipelineKind::SalesVideo),
        ];
        for route in &self.routes {
            routes.retain(|existing| existing.name != route.name);
            routes.push(route.clone());
        }
        routes.sort_by(|a, b| a.name.cmp(&b.name));
        routes
    }
}

/// Whether `name` is safe as a folder name under inbox/, outbox/ and failed/.
pub fn is_valid_route_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn empty_file_gives_defaults_and_builtin_routes() {
        let config = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(config.limits.max_running_jobs, 4);
        let names: Vec<_> = config
            .effective_routes()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["audio", "briefs"]);
    }

    #[test]
    fn unknown_key_points_at_its_line() {
        let error = Config::parse(
            "[limits]\nmax_running_jobs = 2\nbogus = 1\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("c.toml:3:"), "{error}");
        assert!(error.contains("bogus"), "{error}");
    }

    #[test]
    fn configured_route_overrides_builtin() {
        let text = "[[routes]]\nname = \"audio\"\npipeline = \"passthrough\"\n";
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        let audio = config
            .effective_routes()
            .into_iter()
            .find(|r| r.name == "audio")
            .unwrap();
        assert_eq!(audio.pipeline, PipelineKind::Passthrough);
    }

    fn key_paths(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            toml::Value::Table(table) => {
                for (key, child) in table {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.insert(path.clone());
                    key_paths(child, &path, out);
                }
            }
            toml::Value::Array(items) => {
                for item in items.iter().filter(|item| item.is_table()) {
                    key_paths(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    /// config/chute.toml must parse and mention every key the daemon understands.
    #[test]
    fn example_config_parses_and_covers_every_key() {
        let text = include_str!("../../config/chute.toml");
        Config::parse(text, Path::new("config/chute.toml")).unwrap();
        let mut full = Config::default();
        let mut route = RouteConfig::new("archive", PipelineKind::Passthrough);
        route.max_size = Some(ByteSize::gib(1));
        route.simulate_work = Some(Duration::from_secs(1));
        full.routes.push(route);
        full.providers.insert(
            "gemini".into(),
            ProviderConfig {
                requests_per_minute: Some(10),
                requests_per_day: Some(250),
                max_concurrent_polls: Some(4),
                prices: BTreeMap::from([("generate-text".to_owned(), 0.001)]),
                ..ProviderConfig::default()
            },
        );
        let mut expected = BTreeSet::new();
        key_paths(&toml::Value::try_from(&full).unwrap(), "", &mut expected);
        let mut documented = BTreeSet::new();
        key_paths(
            &toml::from_str::<toml::Value>(text).unwrap(),
            "",
            &mut documented,
        );
        let missing: Vec<_> = expected.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "config/chute.toml does not document {missing:?}"
        );
    }

    #[test]
    fn hostile_route_names_are_rejected() {
        for name in ["..", "a/b", "", ".hidden", "-x", "a b"] {
            let text = format!("[[routes]]\nname = {name:?}\npipeline = \"passthrough\"\n");
            assert!(Config::parse(&text, Path::new("c.toml")).is_err(), "{name}");
        }
    }
}
