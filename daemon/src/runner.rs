//! Running one job: lock it, load (or rebuild) its records, run the stages that are not
//! done yet with checkpoints before and after each, and deliver.
//!
//! Invariants: a job runs only while its lock is held; a stage checkpointed `done` is
//! never run again; a stage's outputs are checkpointed before the next stage starts; a
//! job that ends is delivered (outbox or failed) before its folder leaves jobs/.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::{Config, RouteConfig};
use crate::dedupe::DuplicateOf;
use crate::deliver;
use crate::job::{
    InputRecord, JobDir, JobError, JobLock, JobRecord, JobState, JobStatus, StageStatus,
};
use crate::pipeline::{self, Pipeline, StageContext, StageError, passthrough};
use crate::spool::Spool;
use crate::spool::entry::{self, InputKind};
use crate::spool::owner::Owner;

/// Stage name used for failures that happen before any pipeline stage.
pub const CLAIM_STAGE: &str = "claim";

/// Shared by every job runner of a daemon.
pub struct Runner {
    /// The spool.
    pub spool: Spool,
    /// The configuration.
    pub config: Arc<Config>,
    /// Effective routes by name.
    pub routes: HashMap<String, RouteConfig>,
    /// Fired on shutdown: no new stage starts.
    pub drain: CancellationToken,
    /// Fired when the shutdown grace has run out: stages stop at their next safe point.
    pub stop: CancellationToken,
    /// Native models (whisper.cpp) kept loaded between jobs, and the native lease.
    pub natives: Arc<crate::pipeline::native::NativeModels>,
    /// Provider plugins, loaded at start.
    pub providers: Arc<crate::provider::Providers>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Another daemon has it, or it no longer exists.
    Skipped,
    /// Delivered to the outbox.
    Done(String),
    /// Delivered to failed/.
    Failed(String),
    /// Stopped by shutdown; it resumes from its last checkpoint later.
    Interrupted,
}

impl Runner {
    /// Runs job `id`; `started` is called once the job no longer counts as queued.
    pub async fn run(self: &Arc<Self>, id: Uuid, started: impl FnOnce()) -> RunOutcome {
        let span = tracing::info_span!("job", job_id = %id, route = tracing::field::Empty);
        let mut started = Some(started);
        let mut mark_started = move || {
            if let Some(callback) = started.take() {
                callback();
            }
        };
        let outcome = self.run_inner(id, &mut mark_started).instrument(span).await;
        mark_started();
        match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(job_id = %id, %error, "The job could not be run; it stays in jobs/ and is retried at the next rescan.");
                RunOutcome::Interrupted
            }
        }
    }

    async fn run_inner(
        self: &Arc<Self>,
        id: Uuid,
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

        let state = match job.read_state() {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(%error, "state.json is unreadable; the job's stages run again from the start.");
                None
            }
        };
        let input_name = job.input_name()?;
        if job.is_unfinished_claim()? {
            // A claim that never completed: the input is still in the inbox or was claimed
            // by another daemon.
            tracing::info!("Removing an unfinished claim (no input moved in).");
            deliver::retire(&self.spool, &job)?;
            return Ok(RunOutcome::Skipped);
        }
        let mut record = match job.read_record() {
            Ok(Some(record)) => record,
            Ok(None) | Err(_) => {
                let record = self.rebuild_record(&job, state.as_ref(), input_name.as_ref())?;
                tracing::warn!(route = %record.route, "job.json was missing or torn; rebuilt it from the input.");
                job.write_record(&record, durable)?;
                record
            }
        };
        if !record.owner.same_process(&Owner::current()) {
            let epoch = record.owner.epoch + 1;
            record.owner = Owner {
                epoch,
                ..Owner::current()
            };
            job.write_record(&record, durable)?;
        }
        let span = tracing::Span::current();
        span.record("route", record.route.as_str());

        if let Some(existing) = &state
            && existing.status.is_final()
        {
            return self
                .finish_final(&job, &record, existing.clone())
                .map_err(Into::into);
        }
        let route = self.routes.get(&record.route).cloned();
        let refusal = match (&route, &record.rejection) {
            (None, _) => Some(JobError {
                stage: CLAIM_STAGE.into(),
                reason: format!("the route {:?} is not configured (any more)", record.route),
                hint: "add the route back to the configuration and run `chute retry`".into(),
            }),
            (Some(_), Some(rejection)) => Some(JobError {
                stage: CLAIM_STAGE.into(),
                reason: rejection.reason.clone(),
                hint: rejection.hint.clone(),
            }),
            (Some(_), None) => None,
        };
        let (Some(route), None) = (route, refusal.clone()) else {
            let error = refusal.unwrap_or_default();
            tracing::warn!(reason = %error.reason, "Refused the job before running it.");
            let state = state.unwrap_or_default();
            return Ok(self.fail(&job, &record, state, JobStatus::Failed, error)?);
        };

        let pipeline = Pipeline::for_kind(route.pipeline);
        let names = pipeline.stage_names();
        let mut state = state.unwrap_or_else(|| JobState::new(&names));
        state.align_stages(&names);
        repair_finished_events(&job, &state);
        state.route = Some(record.route.clone());
        state.status = JobStatus::Running;
        state.updated_at = Some(Utc::now());
        // "running" markers need no fsync: after a power cut the stage simply runs again.
        job.write_state(&state, false)?;
        mark_started();

        let cancel = CancellationToken::new();
        let record_lock = Arc::new(Mutex::new(()));
        let heartbeat = self.spawn_heartbeat(job.clone(), cancel.clone(), record_lock.clone());
        let execution = Execution {
            job: &job,
            route: &route,
            cancel: &cancel,
            record_lock: &record_lock,
        };
        let result = self
            .run_stages(&execution, &mut record, &mut state, &pipeline)
            .await;
        heartbeat.abort();
        drop(record_lock);
        let outcome = match result {
            Ok(()) => {
                let duplicate_of = duplicate_of(&state);
                self.deliver(&job, &record, state, duplicate_of)?
            }
            Err((stage, StageError::Cancelled)) => {
                let error = JobError {
                    stage,
                    reason: "the job was cancelled (chute cancel)".into(),
                    hint: "run `chute retry ID` to run it again".into(),
                };
                self.fail(&job, &record, state, JobStatus::Cancelled, error)?
            }
            Err((_, StageError::Interrupted)) => RunOutcome::Interrupted,
            Err((stage, StageError::Job { reason, hint })) => self.fail(
                &job,
                &record,
                state,
                JobStatus::Failed,
                JobError {
                    stage,
                    reason,
                    hint,
                },
            )?,
            Err((stage, StageError::Transient(reason))) => {
                let error = JobError {
                    stage,
                    reason: format!("{reason} (gave up after retries)"),
                    hint: "check the daemon's log and disk, then run `chute retry ID`".into(),
                };
                self.fail(&job, &record, state, JobStatus::Failed, error)?
            }
        };
        drop(lock);
        Ok(outcome)
    }

    /// Runs every stage that is not done yet; `Err` names the stage that stopped the job.
    async fn run_stages(
        &self,
        execution: &Execution<'_>,
        record: &mut JobRecord,
        state: &mut JobState,
        pipeline: &Pipeline,
    ) -> Result<(), (String, StageError)> {
        let Execution {
            job,
            route,
            cancel,
            record_lock,
        } = *execution;
        let durable = self.config.spool.fsync;
        // Only "done" checkpoints are fsynced: losing a "running" marker just re-runs an
        // idempotent stage, losing a "done" one would redo finished (maybe paid) work.
        let checkpoint = |state: &mut JobState,
                          stage: &str,
                          durable: bool|
         -> Result<(), (String, StageError)> {
            state.updated_at = Some(Utc::now());
            job.write_state(state, durable).map_err(|error| {
                (
                    stage.to_owned(),
                    StageError::Transient(format!("could not checkpoint state.json: {error}")),
                )
            })
        };
        for (index, stage) in pipeline.stages.iter().enumerate() {
            let name = stage.name();
            let status = state.stages[index].status;
            // An optional stage that failed stays failed: the job went on without it.
            if status == StageStatus::Done || (status == StageStatus::Failed && stage.optional()) {
                continue;
            }
            if self.drain.is_cancelled() {
                return Err((name.into(), StageError::Interrupted));
            }
            if cancel.is_cancelled() || job.cancel_path().exists() {
                return Err((name.into(), StageError::Cancelled));
            }
            if duplicate_of(state).is_some() {
                let entry = &mut state.stages[index];
                entry.status = StageStatus::Done;
                entry.finished_at = Some(Utc::now());
                entry
                    .outputs
                    .insert("skipped".into(), serde_json::json!("duplicate input"));
                checkpoint(state, name, durable)?;
                let _ = job.events().append(name, 100, "skipped: duplicate input");
                continue;
            }
            let attempt = {
                let entry = &mut state.stages[index];
                entry.status = StageStatus::Running;
                entry.attempts += 1;
                entry.started_at = Some(Utc::now());
                entry.attempts
            };
            checkpoint(state, name, false)?;
            let _ = job
                .events()
                .append(name, 0, &format!("started (attempt {attempt})"));
            tracing::info!(stage = name, attempt, "Stage started.");

            let context = StageContext {
                spool: self.spool.clone(),
                config: self.config.clone(),
                route: (*route).clone(),
                job: (*job).clone(),
                record: record.clone(),
                state: state.clone(),
                stage: name,
                cancel: (*cancel).clone(),
                stop: self.stop.clone(),
                natives: self.natives.clone(),
                record_lock: (*record_lock).clone(),
                providers: self.providers.clone(),
                remote: Arc::new(std::sync::Mutex::new(state.stages[index].remote.clone())),
            };
            let result = (|| stage.run(&context))
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(10))
                        .with_max_times(3)
                        .with_jitter(),
                )
                .when(|error| matches!(error, StageError::Transient(_)))
                .notify(|error, delay| {
                    tracing::warn!(stage = name, %error, ?delay, "Stage failed transiently; retrying.");
                })
                .await;
            // Handles saved during the stage stay in the checkpoint whatever happens next.
            state.stages[index].remote = context
                .remote
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            match result {
                Ok(outputs) => {
                    let entry = &mut state.stages[index];
                    entry.status = StageStatus::Done;
                    entry.finished_at = Some(Utc::now());
                    entry.outputs = outputs;
                    entry.error = None;
                    checkpoint(state, name, durable)?;
                    let _ = job.events().append(name, 100, "finished");
                    tracing::info!(stage = name, "Stage finished.");
                    if let Ok(Some(updated)) = job.read_record() {
                        *record = updated;
                    }
                }
                Err(StageError::Job { reason, hint }) if stage.optional() => {
                    self.give_up_optional(job, state, index, reason, hint)
                        .map_err(|error| (name.to_owned(), error))?;
                }
                Err(StageError::Transient(reason)) if stage.optional() => {
                    let hint = "check the daemon's log, then run `chute retry ID --from STAGE` on a copy of the input".replace("STAGE", name);
                    self.give_up_optional(
                        job,
                        state,
                        index,
                        format!("{reason} (gave up after retries)"),
                        hint,
                    )
                    .map_err(|error| (name.to_owned(), error))?;
                }
                Err(error) => {
                    if !matches!(error, StageError::Interrupted) {
                        let entry = &mut state.stages[index];
                        entry.status = StageStatus::Failed;
                        entry.finished_at = Some(Utc::now());
                        entry.error = Some(error.to_string());
                    }
                    return Err((name.into(), error));
                }
            }
        }
        Ok(())
    }

    /// Records an optional stage's failure (durably) and lets the job go on without it.
    fn give_up_optional(
        &self,
        job: &JobDir,
        state: &mut JobState,
        index: usize,
        reason: String,
        hint: String,
    ) -> Result<(), StageError> {
        let entry = &mut state.stages[index];
        entry.status = StageStatus::Failed;
        entry.finished_at = Some(Utc::now());
        entry.error = Some(reason.clone());
        entry.hint = Some(hint);
        let name = entry.name.clone();
        state.updated_at = Some(Utc::now());
        job.write_state(state, self.config.spool.fsync)
            .map_err(|error| {
                StageError::Transient(format!("could not checkpoint state.json: {error}"))
            })?;
        let _ = job.events().append(
            &name,
            100,
            &format!("failed, the job goes on without it: {reason}"),
        );
        tracing::warn!(stage = %name, %reason, "Optional stage failed; delivering without it.");
        Ok(())
    }

    fn deliver(
        &self,
        job: &JobDir,
        record: &JobRecord,
        mut state: JobState,
        duplicate_of: Option<DuplicateOf>,
    ) -> anyhow::Result<RunOutcome> {
        let durable = self.config.spool.fsync;
        let index = state
            .stages
            .iter()
            .position(|s| s.name == pipeline::DELIVER);
        if let Some(index) = index {
            let entry = &mut state.stages[index];
            entry.status = StageStatus::Running;
            entry.attempts += 1;
            entry.started_at = Some(Utc::now());
            let attempt = entry.attempts;
            job.write_state(&state, false)?;
            let _ = job.events().append(
                pipeline::DELIVER,
                0,
                &format!("started (attempt {attempt})"),
            );
        }
        if duplicate_of.is_some() {
            // Not processed again, but nothing is lost: the duplicate's own input is
            // delivered next to the result.json that points at the original.
            if let Some(name) = job.input_name()? {
                passthrough::link_input_into_out(job, &name, record.input.kind)?;
            }
        }
        // result.json shows the job as it will be once this delivery has happened.
        state.status = JobStatus::Done;
        if let Some(index) = index {
            let entry = &mut state.stages[index];
            entry.status = StageStatus::Done;
            entry.finished_at = Some(Utc::now());
        }
        let location =
            deliver::deliver_done(&self.spool, job, record, &state, duplicate_of, durable)?;
        state.delivery = Some(location.clone());
        state.updated_at = Some(Utc::now());
        // Not fsynced: the delivered folder (already durable) is the truth from here on,
        // and a re-run of deliver recognises it.
        job.write_state(&state, false)?;
        let _ = job.events().append(pipeline::DELIVER, 100, "finished");
        tracing::info!(%location, "Job delivered.");
        deliver::retire(&self.spool, job)?;
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
        let location = deliver::fail_job(
            &self.spool,
            job,
            record,
            state,
            status,
            &error,
            self.config.spool.fsync,
        )?;
        tracing::warn!(stage = %error.stage, reason = %error.reason, %location, "Job {}.", status.name());
        Ok(RunOutcome::Failed(location))
    }

    /// Completes the delivery of a job that was already final when a daemon died.
    fn finish_final(
        &self,
        job: &JobDir,
        record: &JobRecord,
        state: JobState,
    ) -> std::io::Result<RunOutcome> {
        let durable = self.config.spool.fsync;
        if state.status == JobStatus::Done {
            let location = deliver::deliver_done(
                &self.spool,
                job,
                record,
                &state,
                duplicate_of(&state),
                durable,
            )?;
            deliver::retire(&self.spool, job)?;
            return Ok(RunOutcome::Done(location));
        }
        let error = state.error.clone().unwrap_or_else(|| JobError {
            stage: CLAIM_STAGE.into(),
            reason: "the job failed".into(),
            hint: String::new(),
        });
        let location = deliver::deliver_failed(&self.spool, job, record, &state, &error, durable)?;
        deliver::retire(&self.spool, job)?;
        Ok(RunOutcome::Failed(location))
    }

    /// A job.json rebuilt from the input (and the route saved in state.json).
    fn rebuild_record(
        &self,
        job: &JobDir,
        state: Option<&JobState>,
        input_name: Option<&std::ffi::OsString>,
    ) -> anyhow::Result<JobRecord> {
        let route_name = state
            .and_then(|s| s.route.clone())
            .or_else(|| job.tagged_route())
            .unwrap_or_else(|| "unknown".to_owned());
        let pipeline = self
            .routes
            .get(&route_name)
            .map(|route| route.pipeline.name().to_owned())
            .unwrap_or_default();
        let mut input = InputRecord::default();
        if let Some(name) = input_name {
            let path = job.input_path(name);
            let meta = std::fs::symlink_metadata(&path)?;
            let (text, hex) = entry::display_name(name);
            input.name = text;
            input.name_hex = hex;
            input.kind = if meta.is_dir() {
                InputKind::Directory
            } else {
                InputKind::File
            };
            input.size = meta.len();
            input.inode = std::os::unix::fs::MetadataExt::ino(&meta);
        }
        let claimed_at =
            chrono::DateTime::from_timestamp_millis(job.id.get_timestamp().map_or(0, |ts| {
                let (seconds, nanos) = ts.to_unix();
                (seconds * 1000 + u64::from(nanos) / 1_000_000) as i64
            }))
            .unwrap_or_else(Utc::now);
        Ok(JobRecord {
            id: job.id,
            route: route_name,
            pipeline,
            input,
            claimed_at,
            owner: Owner::current(),
            heartbeat: None,
            rejection: None,
            rebuilt_at: Some(Utc::now()),
        })
    }

    /// Refreshes job.json's heartbeat and watches for a cancel request while the job runs.
    fn spawn_heartbeat(
        &self,
        job: JobDir,
        cancel: CancellationToken,
        record_lock: Arc<Mutex<()>>,
    ) -> tokio::task::JoinHandle<()> {
        let interval = self.config.spool.heartbeat_interval;
        let durable = self.config.spool.fsync;
        let poll = interval.min(Duration::from_millis(500));
        tokio::spawn(async move {
            let mut last_beat = tokio::time::Instant::now() - interval;
            loop {
                if job.cancel_path().exists() {
                    cancel.cancel();
                }
                if last_beat.elapsed() >= interval {
                    last_beat = tokio::time::Instant::now();
                    let job = job.clone();
                    let record_lock = record_lock.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        let _guard = record_lock.lock().unwrap_or_else(|p| p.into_inner());
                        if let Ok(Some(mut record)) = job.read_record() {
                            record.heartbeat = Some(Utc::now());
                            if let Err(error) = job.write_record(&record, durable)
                                && error.kind() != std::io::ErrorKind::NotFound
                            {
                                tracing::warn!(job_id = %job.id, %error, "Could not refresh the job's heartbeat.");
                            }
                        }
                    })
                    .await;
                }
                tokio::time::sleep(poll).await;
            }
        })
    }
}

/// A daemon killed between a stage's "done" checkpoint and its `finished` event leaves
/// the log one line short; on resume the missing `finished` lines are added, so the log
/// agrees with state.json.
fn repair_finished_events(job: &JobDir, state: &JobState) {
    let Ok(events) = job.events().read_all() else {
        return;
    };
    for stage in state
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Done)
    {
        let last_start = events
            .iter()
            .rposition(|e| e.stage == stage.name && e.message.starts_with("started"));
        let Some(last_start) = last_start else {
            continue;
        };
        let finished = events[last_start..]
            .iter()
            .any(|e| e.stage == stage.name && e.message == "finished");
        if !finished {
            let _ = job.events().append(&stage.name, 100, "finished");
        }
    }
}

/// What the stages of one running job share.
struct Execution<'a> {
    job: &'a JobDir,
    route: &'a RouteConfig,
    cancel: &'a CancellationToken,
    record_lock: &'a Arc<Mutex<()>>,
}

fn duplicate_of(state: &JobState) -> Option<DuplicateOf> {
    state
        .stages
        .iter()
        .find(|s| s.name == pipeline::PREPARE)
        .and_then(|s| s.outputs.get("duplicate_of"))
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}
