//! The checkpoint loop: every stage of a pipeline that is not done yet runs once more,
//! checkpointed `running` before and `done` (fsynced) after, retried after transient
//! failures as the stage's own [`StageRetry`](crate::pipeline::StageRetry) says, inside
//! a `stage` span so every log line it writes names its stage.

use std::sync::Arc;

use backon::Retryable;
use chrono::Utc;
use tracing::Instrument;

use super::{Execution, Runner};
use crate::dedupe::DuplicateOf;
use crate::job::{JobDir, JobRecord, JobState, StageStatus};
use crate::pipeline::{self, Pipeline, Stage, StageContext, StageError};
use crate::spool::space::{WAITING_FOR_SPACE, emergency::RESERVE_BYTES, show_bytes};
use crate::stop::{StopSignals, Stopped as StopReason};

/// Room (beyond `disk.reserve` and the reservations held) a stage stopped by a full
/// disk waits for before it runs again; the stage reserves what it needs itself.
const RESUME_ROOM: u64 = 2 * RESERVE_BYTES;

/// A stage that stopped the job: its name and why.
type Stopped = (String, StageError);

impl Runner {
    /// Runs every stage that is not done yet; `Err` names the stage that stopped the job.
    pub(super) async fn run_stages(
        &self,
        execution: &Execution<'_>,
        record: &mut JobRecord,
        state: &mut JobState,
        pipeline: &Pipeline,
    ) -> Result<(), Stopped> {
        let Execution { job, cancel, .. } = *execution;
        let durable = self.config.spool.fsync;
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
                checkpoint(job, state, name, durable)?;
                let _ = job.events().append(name, 100, "skipped: duplicate input");
                continue;
            }
            let span = tracing::info_span!("stage", stage = name);
            self.run_stage(execution, record, state, index, stage.as_ref())
                .instrument(span)
                .await?;
        }
        Ok(())
    }

    /// One stage, run again from its checkpoint whenever it stops on a full disk (after
    /// waiting for space: a full disk is never a failed attempt).
    async fn run_stage(
        &self,
        execution: &Execution<'_>,
        record: &mut JobRecord,
        state: &mut JobState,
        index: usize,
        stage: &dyn Stage,
    ) -> Result<(), Stopped> {
        loop {
            match self
                .attempt_stage(execution, record, state, index, stage)
                .await
            {
                Err((name, StageError::OutOfSpace(reason))) => {
                    self.wait_for_space(execution, &name, &reason).await?;
                }
                other => return other,
            }
        }
    }

    /// Waits (slot given back, the job's events saying so) until the disk has room
    /// again; a cancel, the end of the shutdown grace or the start of a shutdown ends
    /// the wait.
    async fn wait_for_space(
        &self,
        execution: &Execution<'_>,
        name: &str,
        reason: &str,
    ) -> Result<(), Stopped> {
        let Execution {
            job, cancel, slot, ..
        } = *execution;
        slot.release();
        // The event lands in the log's pre-allocated tail: it needs no new space.
        let _ = job
            .events()
            .append(name, 0, &format!("{WAITING_FOR_SPACE} ({reason})"));
        tracing::warn!(%reason, "The disk is full; the stage's partial files are gone and it runs again from its checkpoint when space returns.");
        let signals = StopSignals {
            cancel: cancel.clone(),
            shutdown: self.stop.clone(),
        };
        let waited = tokio::select! {
            waited = self.space.wait_for_room(RESUME_ROOM, &signals, |shortfall| {
                tracing::info!(needed = shortfall.needed, available = shortfall.available, "Waiting for disk space.");
            }) => waited,
            () = self.drain.cancelled() => Err(StopReason::Interrupted),
        };
        if let Err(stopped) = waited {
            return Err((name.to_owned(), stopped.into()));
        }
        let free = self.space.room().map(|room| room.free).unwrap_or_default();
        let _ = job.events().append(
            name,
            0,
            &format!("disk space is back ({} free); going on", show_bytes(free)),
        );
        tracing::info!(free, "Disk space is back; the stage runs again.");
        slot.reacquire().await;
        Ok(())
    }

    /// One attempt at a stage: checkpoint `running`, run it (with its retries),
    /// checkpoint the result.
    async fn attempt_stage(
        &self,
        execution: &Execution<'_>,
        record: &mut JobRecord,
        state: &mut JobState,
        index: usize,
        stage: &dyn Stage,
    ) -> Result<(), Stopped> {
        let Execution {
            job,
            config,
            route,
            cancel,
            record_lock,
            slot,
        } = *execution;
        let name = stage.name();
        let durable = self.config.spool.fsync;
        let attempt = {
            let entry = &mut state.stages[index];
            entry.status = StageStatus::Running;
            entry.attempts += 1;
            entry.started_at = Some(Utc::now());
            entry.attempts
        };
        // Only "done" checkpoints are fsynced: losing a "running" marker just re-runs an
        // idempotent stage, losing a "done" one would redo finished (maybe paid) work.
        if let Err(stopped) = checkpoint(job, state, name, false) {
            state.stages[index].attempts = attempt.saturating_sub(1);
            return Err(stopped);
        }
        let _ = job
            .events()
            .append(name, 0, &format!("started (attempt {attempt})"));
        tracing::info!(attempt, "Stage started.");

        let context = StageContext {
            spool: self.spool.clone(),
            config: config.clone(),
            route: route.clone(),
            job: job.clone(),
            record: record.clone(),
            state: state.clone(),
            stage: name,
            cancel: cancel.clone(),
            stop: self.stop.clone(),
            natives: self.natives.clone(),
            record_lock: record_lock.clone(),
            providers: self.providers.clone(),
            remote: Arc::new(std::sync::Mutex::new(state.stages[index].remote.clone())),
            slot: slot.clone(),
            space: self.space.clone(),
        };
        let result = (|| stage.run(&context))
            .retry(stage.retry().backoff())
            .when(|error| {
                // A stale owner's refused writes are not worth another attempt.
                matches!(error, StageError::Transient(_))
                    && job.fence().is_none_or(|fence| fence.lost().is_none())
            })
            .notify(|error, delay| {
                tracing::warn!(%error, ?delay, "Stage failed transiently; retrying.");
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
                // The outputs are in memory: a full disk delays the checkpoint, it does
                // not throw the stage's work away.
                loop {
                    match checkpoint(job, state, name, durable) {
                        Err((_, StageError::OutOfSpace(reason))) => {
                            self.wait_for_space(execution, name, &reason).await?;
                        }
                        other => break other?,
                    }
                }
                let _ = job.events().append(name, 100, "finished");
                tracing::info!("Stage finished.");
                if let Ok(Some(updated)) = job.read_record() {
                    *record = updated;
                }
                Ok(())
            }
            Err(StageError::Job { reason, hint }) if stage.optional() => {
                self.give_up_optional(job, state, index, reason, hint)
            }
            Err(StageError::Transient(reason)) if stage.optional() => {
                let hint = format!(
                    "check the daemon's log, then run `chute retry ID --from {name}` on a copy of the input"
                );
                let reason = format!("{reason} (gave up after retries)");
                self.give_up_optional(job, state, index, reason, hint)
            }
            Err(StageError::OutOfSpace(reason)) => {
                // Not a failed attempt: the runner waits for space and runs it again.
                let entry = &mut state.stages[index];
                entry.attempts = entry.attempts.saturating_sub(1);
                Err((name.into(), StageError::OutOfSpace(reason)))
            }
            Err(error) => {
                let entry = &mut state.stages[index];
                if matches!(error, StageError::Interrupted | StageError::Cancelled) {
                    // Stopping is not a failed attempt: the count stays what it was, so
                    // a job stopped by restarts never runs out of attempts.
                    entry.attempts = entry.attempts.saturating_sub(1);
                }
                if matches!(error, StageError::Interrupted) {
                    checkpoint(job, state, name, false)?;
                } else {
                    entry.status = StageStatus::Failed;
                    entry.finished_at = Some(Utc::now());
                    entry.error = Some(error.to_string());
                }
                Err((name.into(), error))
            }
        }
    }

    /// Records an optional stage's failure (durably) and lets the job go on without it.
    fn give_up_optional(
        &self,
        job: &JobDir,
        state: &mut JobState,
        index: usize,
        reason: String,
        hint: String,
    ) -> Result<(), Stopped> {
        let entry = &mut state.stages[index];
        entry.status = StageStatus::Failed;
        entry.finished_at = Some(Utc::now());
        entry.error = Some(reason.clone());
        entry.hint = Some(hint);
        let name = entry.name.clone();
        checkpoint(job, state, &name, self.config.spool.fsync)?;
        let _ = job.events().append(
            &name,
            100,
            &format!("failed, the job goes on without it: {reason}"),
        );
        tracing::warn!(%reason, "Optional stage failed; delivering without it.");
        Ok(())
    }
}

/// Writes state.json (fsynced when `durable`); a failure stops the job at `stage` as
/// transient, or as out of space when the disk is full.
fn checkpoint(
    job: &JobDir,
    state: &mut JobState,
    stage: &str,
    durable: bool,
) -> Result<(), Stopped> {
    state.updated_at = Some(Utc::now());
    job.write_state(state, durable).map_err(|error| {
        let reason = format!("could not checkpoint state.json: {error}");
        let error = if crate::spool::space::is_out_of_space(&error) {
            StageError::OutOfSpace(reason)
        } else {
            StageError::Transient(reason)
        };
        (stage.to_owned(), error)
    })
}

/// The original this job duplicates, as `prepare` recorded it.
pub(super) fn duplicate_of(state: &JobState) -> Option<DuplicateOf> {
    state
        .stages
        .iter()
        .find(|s| s.name == pipeline::PREPARE)
        .and_then(|s| s.outputs.get("duplicate_of"))
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}
