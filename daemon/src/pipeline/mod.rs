//! Pipelines: ordered stages that turn a claimed input into files in `out/`.
//!
//! A stage is given a [`StageContext`] (the job folder, the route, progress reporting,
//! cancellation) and returns the outputs to checkpoint. Every pipeline starts with
//! `prepare` (hash + dedupe) and ends with `deliver`, which the runner performs itself.

pub mod brief;
pub mod config;
pub mod generate;
pub mod lease;
pub mod native;
pub mod needs;
pub mod passthrough;
pub mod prepare;
pub mod remote;
pub mod sales;
pub mod script;
pub mod slot;
pub mod space;
pub mod summarize;
pub mod transcribe;
pub mod vad;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use self::config::{PipelineKind, RouteConfig};
use crate::config::Config;
use crate::job::{JobDir, JobRecord, JobState};
use crate::spool::Spool;

/// Name of the first stage of every pipeline.
pub const PREPARE: &str = "prepare";
/// Name of the last stage of every pipeline (performed by [`crate::deliver`]).
pub const DELIVER: &str = crate::deliver::STAGE;

/// Outputs a stage checkpoints in state.json.
pub type StageOutputs = BTreeMap<String, serde_json::Value>;

/// A boxed future, so stages can be trait objects.
pub type StageFuture<'a> =
    Pin<Box<dyn Future<Output = Result<StageOutputs, StageError>> + Send + 'a>>;

/// One step of a pipeline.
pub trait Stage: Send + Sync {
    /// The name in state.json and events.
    fn name(&self) -> &'static str;
    /// Runs the stage. It must be idempotent: after a crash it may run again from the
    /// start (but never after it was checkpointed as done).
    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a>;
    /// Whether the job goes on (and is delivered) when this stage fails: finished work is
    /// never thrown away because an extra failed.
    fn optional(&self) -> bool {
        false
    }
    /// How the runner retries this stage after a transient failure. Local work takes
    /// the default; a stage whose provider calls retry by themselves declares
    /// [`StageRetry::ONCE`], so a paid call is never multiplied by nested retries.
    fn retry(&self) -> StageRetry {
        StageRetry::LOCAL
    }
}

/// How often, and how far apart, the runner starts a stage that failed transiently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageRetry {
    /// Attempts in all, the first included (1: never retried by the runner).
    pub attempts: u32,
    /// The first wait between attempts (doubling, with jitter).
    pub min_delay: std::time::Duration,
    /// The longest wait between attempts.
    pub max_delay: std::time::Duration,
}

impl StageRetry {
    /// Local work (files, decoders, models): four attempts, 0.2 s to 10 s apart.
    pub const LOCAL: StageRetry = StageRetry {
        attempts: 4,
        min_delay: std::time::Duration::from_millis(200),
        max_delay: std::time::Duration::from_secs(10),
    };
    /// One attempt: the stage's own calls already retry (provider calls retry over
    /// keys with backoff; an operation driver waits out outages).
    pub const ONCE: StageRetry = StageRetry {
        attempts: 1,
        min_delay: std::time::Duration::ZERO,
        max_delay: std::time::Duration::ZERO,
    };

    /// The backoff between attempts, for backon.
    pub fn backoff(self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .with_jitter()
    }
}

/// How a stage failed, by consequence.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StageError {
    /// The input or the job cannot succeed: fail the job with this reason and hint.
    #[error("{reason}")]
    Job {
        /// What went wrong, as a sentence.
        reason: String,
        /// What the user can do.
        hint: String,
    },
    /// Worth another attempt (I/O hiccup, remote 5xx): the runner retries with backoff.
    #[error("{0}")]
    Transient(String),
    /// The job was cancelled by `chute cancel`.
    #[error("the job was cancelled")]
    Cancelled,
    /// The daemon is shutting down; the stage will run again after restart.
    #[error("the daemon is shutting down")]
    Interrupted,
    /// The disk (or the quota) is full. The stage has removed its partial work files;
    /// the runner waits for space and runs it again from its checkpoint, without
    /// counting a failed attempt (see [`crate::spool::space`]).
    #[error("out of disk space: {0}")]
    OutOfSpace(String),
}

impl StageError {
    /// A job failure with a hint.
    pub fn job(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        StageError::Job {
            reason: reason.into(),
            hint: hint.into(),
        }
    }
}

impl From<crate::stop::Stopped> for StageError {
    fn from(stopped: crate::stop::Stopped) -> Self {
        match stopped {
            crate::stop::Stopped::Cancelled => StageError::Cancelled,
            crate::stop::Stopped::Interrupted => StageError::Interrupted,
        }
    }
}

impl From<std::io::Error> for StageError {
    /// I/O errors are worth a retry — a full disk after waiting for space, a failed
    /// fsync (of anything but a full disk) never: it fails the job loudly.
    fn from(error: std::io::Error) -> Self {
        if crate::spool::space::is_out_of_space(&error) {
            StageError::OutOfSpace(error.to_string())
        } else if crate::spool::fsutil::is_fsync_failure(&error) {
            StageError::job(
                error.to_string(),
                "check the disk (dmesg, SMART, free space), then run `chute retry ID`",
            )
        } else {
            StageError::Transient(format!("file operation failed: {error}"))
        }
    }
}

/// The running chute binary, for the decoder and render children a stage starts
/// (see [`crate::media::child::own_executable`]); not finding it is worth a retry.
pub fn child_executable() -> Result<std::path::PathBuf, StageError> {
    crate::media::child::own_executable().map_err(|error| {
        StageError::Transient(format!("cannot find the chute executable: {error}"))
    })
}

/// How progress messages of a job that waits (for the native lease, for its original)
/// begin.
pub const WAITING_FOR: &str = "waiting for";

/// Everything a stage may use.
pub struct StageContext {
    /// The spool.
    pub spool: Spool,
    /// The daemon's configuration.
    pub config: Arc<Config>,
    /// The job's route.
    pub route: RouteConfig,
    /// The job folder.
    pub job: JobDir,
    /// The claim record.
    pub record: JobRecord,
    /// Checkpoints so far (outputs of earlier stages).
    pub state: JobState,
    /// This stage's name (for progress events).
    pub stage: &'static str,
    /// Fired by `chute cancel`.
    pub cancel: CancellationToken,
    /// Fired when the shutdown grace has run out: stop at the next safe point.
    pub stop: CancellationToken,
    /// Native models shared by all jobs, and the lease native stages take turns on.
    pub natives: Arc<native::NativeModels>,
    /// Serialises rewrites of job.json (the heartbeat rewrites it too).
    pub record_lock: Arc<std::sync::Mutex<()>>,
    /// The provider plugins, loaded once per daemon.
    pub providers: Arc<crate::provider::Providers>,
    /// This stage's remote operation handles (state.json `remote`), as saved so far.
    pub remote: Arc<std::sync::Mutex<BTreeMap<String, serde_json::Value>>>,
    /// The job's running slot, given back while it waits for the native lease.
    pub slot: Arc<slot::JobSlot>,
    /// The daemon's disk space reservations for this spool.
    pub space: Arc<crate::spool::space::SpaceTable>,
}

impl StageContext {
    /// `<job id>/<stage>`, naming this stage as a holder of the native lease.
    pub fn holder(&self) -> String {
        format!("{}/{}", self.job.id, self.stage)
    }

    /// Records progress (0–100) with a message in events.jsonl.
    pub fn progress(&self, percent: u8, message: &str) {
        if let Err(error) = self.job.events().append(self.stage, percent, message) {
            tracing::warn!(job_id = %self.job.id, stage = self.stage, %error, "Could not append a progress event.");
        }
    }

    /// Re-reads job.json, applies `change`, and writes it back atomically.
    pub fn update_record(&self, change: impl FnOnce(&mut JobRecord)) -> std::io::Result<JobRecord> {
        let _guard = self
            .record_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut record = self
            .job
            .read_record()?
            .unwrap_or_else(|| self.record.clone());
        change(&mut record);
        self.job.write_record(&record, self.config.spool.fsync)?;
        Ok(record)
    }

    /// The claimed input's name; a job error when the input is gone from `input/`.
    pub fn input_name(&self) -> Result<std::ffi::OsString, StageError> {
        self.job.input_name()?.ok_or_else(|| {
            StageError::job(
                "the claimed input is missing from the job folder",
                "resubmit the file",
            )
        })
    }

    /// A remote operation handle this stage saved earlier (maybe before a crash).
    pub fn remote_handle(&self, key: &str) -> Option<serde_json::Value> {
        self.remote
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .cloned()
    }

    /// Saves a remote operation handle durably in state.json before anything else
    /// happens, so a restarted daemon polls it instead of submitting again.
    pub fn save_remote(&self, key: &str, value: serde_json::Value) -> Result<(), StageError> {
        let mut remote = self
            .remote
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        remote.insert(key.to_owned(), value);
        let mut state = self.state.clone();
        if let Some(entry) = state
            .stages
            .iter_mut()
            .find(|entry| entry.name == self.stage)
        {
            entry.status = crate::job::StageStatus::Running;
            entry.remote = remote.clone();
        }
        state.updated_at = Some(chrono::Utc::now());
        // Always fsynced: losing a handle means paying for the operation twice. The
        // fsync runs with the worker handed over (`block_in_place`), so other tasks
        // (other operations of this stage) keep running meanwhile.
        let write = || self.job.write_state(&state, true);
        let written = match tokio::runtime::Handle::try_current()
            .map(|handle| handle.runtime_flavor())
        {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(write),
            _ => write(),
        };
        written.map_err(|error| {
            StageError::Transient(format!(
                "could not save the remote handle in state.json: {error}"
            ))
        })
    }

    /// Waits for the native lease (for work on a `kind` model), telling the job's
    /// events who holds it meanwhile; ends at once on a cancel or a stop. A job that
    /// has to wait gives its running slot back for good: the lease itself keeps native
    /// work to one stage at a time, and a lease holder that waited for a slot could
    /// wait forever on jobs that wait for the lease.
    pub async fn native_lease(
        &self,
        kind: lease::ModelKind,
    ) -> Result<native::NativeLease<'_>, StageError> {
        use futures_util::FutureExt;
        let signals = self.signals();
        signals.check()?;
        // Older jobs first: an early job's summary goes before later transcriptions.
        let rank = self.job.id.as_u128();
        let mut lease = std::pin::pin!(self.natives.lease(self.holder(), kind, rank));
        if let Some(granted) = lease.as_mut().now_or_never() {
            return Ok(granted);
        }
        let model = match kind {
            lease::ModelKind::Whisper => "the speech model",
            lease::ModelKind::Llama => "the language model",
        };
        let held_by = self.natives.lease_holder().map_or_else(
            || "queued behind other jobs".to_owned(),
            |holder| {
                let (job, stage) = holder.split_once('/').unwrap_or((holder.as_str(), ""));
                let short = job
                    .parse()
                    .map_or_else(|_| job.to_owned(), crate::spool::short_id);
                format!("held by {short} ({stage})")
            },
        );
        self.progress(0, &format!("{WAITING_FOR} {model}, {held_by}"));
        self.slot.release();
        let granted = signals.run(lease).await?;
        self.progress(0, "took the native lease");
        Ok(granted)
    }

    /// The per-item checkpoints of this stage (for stages that fan out).
    pub fn items(&self) -> crate::job::ItemCheckpoints {
        self.job.items(self.stage, self.config.spool.fsync)
    }

    /// This job's cancel and the daemon's stop, for waits that must end early.
    pub fn signals(&self) -> crate::stop::StopSignals {
        crate::stop::StopSignals {
            cancel: self.cancel.clone(),
            shutdown: self.stop.clone(),
        }
    }

    /// Fails with `Cancelled` or `Interrupted` when asked to stop.
    pub fn check_stop(&self) -> Result<(), StageError> {
        Ok(self.signals().check()?)
    }

    /// Spends the route's `simulate_work` time in ten progress steps, stopping early when
    /// cancelled or interrupted.
    pub async fn simulate_work(&self) -> Result<(), StageError> {
        let Some(total) = self.route.simulate_work.filter(|d| !d.is_zero()) else {
            return Ok(());
        };
        let step = total / 10;
        let signals = self.signals();
        for tenth in 1..=10u8 {
            signals.sleep(step).await?;
            if tenth < 10 {
                self.progress(tenth * 10, "working");
            }
        }
        Ok(())
    }
}

/// A pipeline: its stages in order (without `deliver`).
pub struct Pipeline {
    /// The kind named in the config.
    pub kind: PipelineKind,
    /// The stages, `prepare` first.
    pub stages: Vec<Box<dyn Stage>>,
}

impl Pipeline {
    /// The pipeline for a kind.
    pub fn for_kind(kind: PipelineKind) -> Pipeline {
        let mut stages: Vec<Box<dyn Stage>> = vec![Box::new(prepare::Prepare)];
        match kind {
            PipelineKind::Passthrough => stages.push(Box::new(passthrough::Passthrough)),
            PipelineKind::Generate => stages.push(Box::new(generate::Generate)),
            PipelineKind::SalesVideo => {
                stages.push(Box::new(brief::ParseBrief));
                stages.push(Box::new(script::WriteScript));
                stages.push(Box::new(sales::scenes::Scenes));
                stages.push(Box::new(sales::render::Render));
            }
            PipelineKind::Transcribe => {
                stages.push(Box::new(transcribe::Decode));
                stages.push(Box::new(transcribe::Transcribe));
                stages.push(Box::new(summarize::Summarize));
            }
        }
        Pipeline { kind, stages }
    }

    /// All stage names as checkpointed, `deliver` last.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages
            .iter()
            .map(|stage| stage.name())
            .chain(std::iter::once(DELIVER))
            .collect()
    }
}
