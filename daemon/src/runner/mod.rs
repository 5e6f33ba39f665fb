//! Running one job: lock it, load (or rebuild) its records, run the stages that are not
//! done yet with checkpoints before and after each, and hand it to delivery.
//!
//! - `recovery.rs`: what a job folder says after a crash (unfinished claims, a lost
//!   job.json, adoption, missing `finished` events).
//! - `snapshot.rs`: the input made the daemon's own before the first stage reads it.
//! - `stages.rs`: the checkpoint loop over a pipeline's stages, with each stage's
//!   retry policy.
//! - `heartbeat.rs`: job.json's heartbeat and the cancel watch while a job runs.
//! - `unrunnable.rs`: jobs that fail outside any stage get attempts, backoff and, in
//!   the end, a failed/ entry with the reason.
//!
//! Invariants: a job runs only while its lock is held; a stage checkpointed `done` is
//! never run again; a stage's outputs are checkpointed before the next stage starts; a
//! job that ends is delivered (outbox or failed) before its folder leaves jobs/.

mod heartbeat;
mod recovery;
mod snapshot;
mod stages;
mod unrunnable;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::Config;
use crate::deliver::{Delivered, Delivery};
use crate::job::{
    CLAIM_STAGE, Fence, JobDir, JobError, JobLock, JobRecord, JobState, JobStatus, fence,
};
use crate::pipeline::config::{PipelineKind, RouteConfig};
use crate::pipeline::slot::JobSlot;
use crate::pipeline::{Pipeline, StageError, passthrough};
use crate::spool::Spool;
use crate::stop::Stopped;

/// Shared by every job runner of a daemon.
pub struct Runner {
    /// The spool.
    pub spool: Spool,
    /// The configuration the daemon started with: the keys a reload cannot change
    /// (`[spool]`, `[limits]`, …) are read from here.
    pub config: Arc<Config>,
    /// The current configuration, as reloads publish it: a job takes it (and its route
    /// map) when it starts and keeps it until it ends.
    current: watch::Receiver<Arc<Config>>,
    /// Fired on shutdown: no new stage starts.
    pub drain: CancellationToken,
    /// Fired when the shutdown grace has run out: stages stop at their next safe point.
    pub stop: CancellationToken,
    /// Native models (whisper.cpp) kept loaded between jobs, and the native lease.
    pub natives: Arc<crate::pipeline::native::NativeModels>,
    /// Provider plugins, loaded at start.
    pub providers: Arc<crate::provider::Providers>,
    /// Disk space reservations of stages that write a lot, and the emergency reserve.
    pub space: Arc<crate::spool::space::SpaceTable>,
    /// Jobs that failed outside any stage, with their attempts and next allowed run.
    unrunnable: unrunnable::Unrunnable,
    /// Completion hooks, run when a job has ended.
    hooks: crate::hooks::Hooks,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Another daemon has it, it no longer exists, or it waits out a backoff.
    Skipped,
    /// Delivered to the outbox.
    Done(String),
    /// Delivered to failed/.
    Failed(String),
    /// Stopped by shutdown; it resumes from its last checkpoint later.
    Interrupted,
    /// Given up unwritten: another daemon took the job over (this one was cut off from
    /// the spool for longer than the owner lease), or job.json could not be read to
    /// confirm ownership; the reason says which.
    Abandoned(String),
}

impl From<Delivered> for RunOutcome {
    fn from(delivered: Delivered) -> Self {
        match delivered {
            Delivered::Done(location) => RunOutcome::Done(location),
            Delivered::Failed(location) => RunOutcome::Failed(location),
        }
    }
}

/// What the stages of one running job share.
struct Execution<'a> {
    job: &'a JobDir,
    /// The configuration current when the job started.
    config: &'a Arc<Config>,
    route: &'a RouteConfig,
    cancel: &'a CancellationToken,
    record_lock: &'a Arc<Mutex<()>>,
    slot: &'a Arc<JobSlot>,
}

impl Runner {
    /// A runner following the configuration `current` (its routes included), with
    /// these models and providers.
    pub fn new(
        spool: Spool,
        current: watch::Receiver<Arc<Config>>,
        natives: Arc<crate::pipeline::native::NativeModels>,
        providers: Arc<crate::provider::Providers>,
    ) -> Self {
        let config = current.borrow().clone();
        let space = crate::spool::space::SpaceTable::new(&spool, config.disk.reserve);
        if let Ok(room) = space.room()
            && let Err(error) = space.emergency().ensure(space.reserve_bytes(room))
        {
            tracing::warn!(%error, "Cannot put the emergency disk reserve in place.");
        }
        Self {
            hooks: crate::hooks::Hooks::new(spool.clone(), config.spool.fsync),
            space,
            spool,
            config,
            current,
            drain: CancellationToken::new(),
            stop: CancellationToken::new(),
            natives,
            providers,
            unrunnable: unrunnable::Unrunnable::default(),
        }
    }

    /// The configuration current now (what a job starting now runs with).
    pub fn current_config(&self) -> Arc<Config> {
        self.current.borrow().clone()
    }

    /// The routes of the current configuration, by name.
    pub fn routes(&self) -> HashMap<String, RouteConfig> {
        routes_by_name(&self.current_config())
    }

    /// Runs job `id` in `slot`; `started` is called once the job no longer counts as
    /// queued.
    pub async fn run(
        self: &Arc<Self>,
        id: Uuid,
        slot: Arc<JobSlot>,
        started: impl FnOnce(),
    ) -> RunOutcome {
        let span = tracing::info_span!("job", job_id = %id, route = tracing::field::Empty);
        let mut started = Some(started);
        let mut mark_started = move || {
            if let Some(callback) = started.take() {
                callback();
            }
        };
        if self.unrunnable.is_backing_off(id) {
            mark_started();
            return RunOutcome::Skipped;
        }
        let outcome = self
            .run_inner(id, &slot, &mut mark_started)
            .instrument(span.clone())
            .await;
        mark_started();
        // A job that ended may have freed the room the emergency reserve needs.
        if let Ok(room) = self.space.room()
            && let Err(error) = self
                .space
                .emergency()
                .ensure(self.space.reserve_bytes(room))
        {
            tracing::debug!(%error, "Cannot put the emergency disk reserve back yet.");
        }
        match outcome {
            Ok(outcome) => {
                self.unrunnable.forget(id);
                outcome
            }
            Err(error) => {
                let fenced = error.chain().find_map(fence::fenced_off);
                match fenced {
                    Some(reason) => span.in_scope(|| abandon(reason)),
                    None => self.gave_error(id, &error).instrument(span).await,
                }
            }
        }
    }

    async fn run_inner(
        self: &Arc<Self>,
        id: Uuid,
        slot: &Arc<JobSlot>,
        mark_started: &mut impl FnMut(),
    ) -> anyhow::Result<RunOutcome> {
        let job = JobDir::new(id, self.spool.job_dir(id));
        let lock_path = job.lock_path();
        let Some(lock) =
            tokio::task::spawn_blocking(move || JobLock::try_acquire_or_create(&lock_path))
                .await??
        else {
            return Ok(RunOutcome::Skipped);
        };
        let durable = self.config.spool.fsync;
        let Some((mut record, state)) = self.load_records(&job)? else {
            return Ok(RunOutcome::Skipped);
        };
        // From here on every record this daemon writes is fenced: a peer that adopts
        // the job (a new epoch in job.json) makes the next write fail.
        let fence = Arc::new(Fence::new(job.record_path(), record.owner.clone()));
        let job = job.fenced(fence.clone());
        tracing::Span::current().record("route", record.route.as_str());

        if let Some(existing) = &state
            && existing.status.is_final()
        {
            let delivered = self
                .delivery(&job, &record)
                .finish_final(existing, stages::duplicate_of(existing))?;
            let (Delivered::Done(location) | Delivered::Failed(location)) = &delivered;
            self.announce(&record, existing, existing.status, location);
            return Ok(delivered.into());
        }
        // The job keeps the configuration (and route) current now until it ends: a
        // reload changes jobs that start after it.
        let config = self.current_config();
        let route = match route_for(&routes_by_name(&config), &record) {
            Ok(route) => route,
            Err(error) => {
                tracing::warn!(reason = %error.reason, "Refused the job before running it.");
                let state = state.unwrap_or_default();
                return Ok(self.fail(&job, &record, state, JobStatus::Failed, error)?);
            }
        };

        let pipeline = Pipeline::for_kind(route.pipeline);
        let names = pipeline.stage_names();
        let mut state = state.unwrap_or_else(|| JobState::new(&names));
        state.align_stages(&names);
        if job.cancel_path().exists() {
            // Cancelled before it (re)started: it ends here, before its input is
            // snapshotted or anything else needs room.
            let stage = state
                .current_stage()
                .filter(|stage| stage.attempts > 0)
                .map_or_else(|| CLAIM_STAGE.to_owned(), |stage| stage.name.clone());
            let error = JobError {
                stage,
                reason: Stopped::CANCEL_REASON.into(),
                hint: Stopped::CANCEL_HINT.into(),
            };
            return Ok(self.fail(&job, &record, state, JobStatus::Cancelled, error)?);
        }
        if let Some(room) = self.space.room().ok().filter(|room| {
            room.free
                < self
                    .space
                    .reserve_bytes(*room)
                    .max(crate::spool::space::emergency::RESERVE_BYTES)
        }) {
            // Starting would write records, a snapshot and work files into the room kept
            // for jobs that are running: the job waits in jobs/ for the next rescan.
            tracing::info!(
                free = room.free,
                "The disk is full; the job starts when space returns."
            );
            return Ok(RunOutcome::Interrupted);
        }
        recovery::repair_finished_events(&job, &state);
        state.route = Some(record.route.clone());
        state.status = JobStatus::Running;
        state.updated_at = Some(Utc::now());
        // "running" markers need no fsync: after a power cut the stage simply runs again.
        job.write_state(&state, false)?;
        // Room for the events that matter on a full disk, taken while there is some.
        job.events().preallocate();
        mark_started();
        if let Err(error) = self.snapshot_input(&job, &mut record, &route).await? {
            return Ok(self.fail(&job, &record, state, JobStatus::Failed, error)?);
        }

        let cancel = CancellationToken::new();
        let record_lock = Arc::new(Mutex::new(()));
        let heartbeat = heartbeat::spawn(
            job.clone(),
            cancel.clone(),
            record_lock.clone(),
            self.config.spool.heartbeat_interval,
            durable,
        );
        let execution = Execution {
            job: &job,
            config: &config,
            route: &route,
            cancel: &cancel,
            record_lock: &record_lock,
            slot,
        };
        let result = self
            .run_stages(&execution, &mut record, &mut state, &pipeline)
            .await;
        heartbeat.abort();
        drop(record_lock);
        // Nothing is delivered by a daemon that no longer owns the job.
        if let Err(error) = fence.confirm() {
            let reason = fence::fenced_off(&error).unwrap_or_else(|| error.to_string());
            return Ok(abandon(reason));
        }
        let outcome = match result {
            Ok(()) => self.complete(&job, &record, &route, state)?,
            Err((stage, error)) => match ending(stage, error) {
                Some((status, error)) => self.fail(&job, &record, state, status, error)?,
                None => RunOutcome::Interrupted,
            },
        };
        drop(lock);
        Ok(outcome)
    }

    /// The delivery of `job` in this daemon's spool.
    fn delivery<'a>(&'a self, job: &'a JobDir, record: &'a JobRecord) -> Delivery<'a> {
        Delivery {
            spool: &self.spool,
            job,
            record,
            durable: self.config.spool.fsync,
            file_mode: self.config.deliver.file_mode(),
        }
    }

    /// Delivers a job whose stages all succeeded.
    fn complete(
        &self,
        job: &JobDir,
        record: &JobRecord,
        route: &RouteConfig,
        state: JobState,
    ) -> anyhow::Result<RunOutcome> {
        let duplicate_of = stages::duplicate_of(&state);
        // Delivering frees the job's work files: worth the emergency reserve's room
        // when the disk is nearly full.
        if self.space.emergency().release_if_low() {
            tracing::warn!(
                "The disk is nearly full; released the emergency reserve to deliver the job."
            );
        }
        let keep_input = route.keep_input && route.pipeline != PipelineKind::Passthrough;
        if let Some(name) = job.input_name()? {
            if duplicate_of.is_some() {
                // Not processed again, but nothing is lost: the duplicate's own input is
                // delivered next to the result.json that points at the original.
                passthrough::link_input_into_out(job, &name, record.input.kind)?;
            } else if keep_input {
                passthrough::keep_input_in_out(job, &name, record.input.kind)?;
            }
        }
        let ended = state.clone();
        let location = self.delivery(job, record).complete(state, duplicate_of)?;
        self.announce(record, &ended, JobStatus::Done, &location);
        let took = (Utc::now() - record.claimed_at)
            .to_std()
            .unwrap_or_default();
        tracing::info!(%location, took = ?took, "Job delivered.");
        Ok(RunOutcome::Done(location))
    }

    fn fail(
        &self,
        job: &JobDir,
        record: &JobRecord,
        state: JobState,
        status: JobStatus,
        error: JobError,
    ) -> std::io::Result<RunOutcome> {
        // A job ending on a nearly full disk gets the emergency reserve's room for its
        // records (error.json, state.json, its folder in failed/).
        if self.space.emergency().release_if_low() {
            tracing::warn!(
                "The disk is nearly full; released the emergency reserve to fail the job."
            );
        }
        let mut ended = state.clone();
        ended.error = Some(error.clone());
        let location = self.delivery(job, record).fail(state, status, &error)?;
        self.announce(record, &ended, status, &location);
        tracing::warn!(stage = %error.stage, reason = %error.reason, %location, "Job {}.", status.name());
        Ok(RunOutcome::Failed(location))
    }
}

impl Runner {
    /// Tells the metrics and the route's completion hooks that a delivered job ended.
    fn announce(&self, record: &JobRecord, state: &JobState, status: JobStatus, location: &str) {
        crate::metrics::metrics().job_ended(&record.route, &record.pipeline, status, state);
        if let Some(route) = self.routes().get(&record.route) {
            let event = crate::hooks::event::JobEvent::new(
                &self.spool,
                record,
                status,
                state.error.as_ref(),
                location,
            );
            self.hooks.job_ended(route, record, event);
        }
    }
}

/// Gives a job up without writing anything more: another daemon owns it now, or this
/// one cannot confirm it still does (its spool is unreachable).
fn abandon(reason: String) -> RunOutcome {
    tracing::warn!(%reason, "Gave the job up without writing anything more: this daemon no longer owns it, or cannot confirm it does (another daemon takes it over after the owner lease, or this one again once the spool answers).");
    RunOutcome::Abandoned(reason)
}

/// The effective routes of `config` by name.
fn routes_by_name(config: &Config) -> HashMap<String, RouteConfig> {
    config
        .effective_routes()
        .into_iter()
        .map(|route| (route.name.clone(), route))
        .collect()
}

/// The job's route, or why it cannot run (the route is gone, or the claim refused the
/// input).
fn route_for(
    routes: &HashMap<String, RouteConfig>,
    record: &JobRecord,
) -> Result<RouteConfig, JobError> {
    let Some(route) = routes.get(&record.route) else {
        return Err(JobError {
            stage: CLAIM_STAGE.into(),
            reason: format!("the route {:?} is not configured (any more)", record.route),
            hint: "add the route back to the configuration and run `chute retry`".into(),
        });
    };
    match &record.rejection {
        Some(rejection) => Err(JobError {
            stage: CLAIM_STAGE.into(),
            reason: rejection.reason.clone(),
            hint: rejection.hint.clone(),
        }),
        None => Ok(route.clone()),
    }
}

/// How a job ends when stage `stage` stopped it with `error`; `None` when it does not
/// end (the daemon is shutting down: it resumes after the restart).
fn ending(stage: String, error: StageError) -> Option<(JobStatus, JobError)> {
    Some(match error {
        // A full disk never ends a job: it stays in jobs/ and resumes later.
        StageError::Interrupted | StageError::OutOfSpace(_) => return None,
        StageError::Cancelled => (
            JobStatus::Cancelled,
            JobError {
                stage,
                reason: Stopped::CANCEL_REASON.into(),
                hint: Stopped::CANCEL_HINT.into(),
            },
        ),
        StageError::Job { reason, hint } => (
            JobStatus::Failed,
            JobError {
                stage,
                reason,
                hint,
            },
        ),
        StageError::Transient(reason) => (
            JobStatus::Failed,
            JobError {
                stage,
                reason: format!("{reason} (gave up after retries)"),
                hint: "check the daemon's log and disk, then run `chute retry ID`".into(),
            },
        ),
    })
}
