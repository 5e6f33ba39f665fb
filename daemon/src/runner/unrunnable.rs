//! Jobs that fail outside any stage: their folder cannot be read, their records cannot
//! be written. Such a job is not retried at every rescan forever: each error counts
//! as an attempt, the next attempt waits (doubling from one second), and after
//! [`MAX_ERRORS`] attempts the job goes to failed/ with the last error as its reason.
//!
//! The counts live in the daemon's memory: a restarted daemon gives every job a fresh
//! set of attempts, which bounds the retries by restarts, not by rescans.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::{RunOutcome, Runner};
use crate::job::{CLAIM_STAGE, JobDir, JobError, JobLock, JobRecord, JobStatus};

/// Attempts before a job that errors outside its stages is failed.
pub const MAX_ERRORS: u32 = 5;
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Errors so far, per job.
#[derive(Debug, Default)]
pub(super) struct Unrunnable {
    jobs: Mutex<HashMap<Uuid, Tries>>,
}

#[derive(Debug)]
struct Tries {
    errors: u32,
    next_run: Instant,
}

/// The wait after the `errors`-th error: 1 s, 2 s, 4 s, … up to ten minutes.
fn backoff(errors: u32) -> Duration {
    Duration::from_secs(1u64 << errors.saturating_sub(1).min(20)).min(MAX_BACKOFF)
}

impl Unrunnable {
    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Tries>> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether job `id` must wait before its next attempt.
    pub(super) fn is_backing_off(&self, id: Uuid) -> bool {
        self.jobs()
            .get(&id)
            .is_some_and(|tries| Instant::now() < tries.next_run)
    }

    /// Counts an error of job `id`; returns its errors so far and the wait before the
    /// next attempt.
    fn record_error(&self, id: Uuid) -> (u32, Duration) {
        let mut jobs = self.jobs();
        // Jobs not seen for a while ended elsewhere (a peer ran them, they were
        // cancelled or removed): their counts go, so the map stays small.
        let now = Instant::now();
        jobs.retain(|_, tries| now.saturating_duration_since(tries.next_run) < MAX_BACKOFF * 2);
        let tries = jobs.entry(id).or_insert(Tries {
            errors: 0,
            next_run: Instant::now(),
        });
        tries.errors += 1;
        let wait = backoff(tries.errors);
        tries.next_run = Instant::now() + wait;
        (tries.errors, wait)
    }

    /// Forgets job `id` (it ran, or it ended).
    pub(super) fn forget(&self, id: Uuid) {
        self.jobs().remove(&id);
    }
}

impl Runner {
    /// Handles an error outside any stage of job `id`: counted, backed off, and after
    /// [`MAX_ERRORS`] the job is failed with the error as its reason.
    pub(super) async fn gave_error(
        self: &Arc<Self>,
        id: Uuid,
        error: &anyhow::Error,
    ) -> RunOutcome {
        let caused_by = |test: fn(&std::io::Error) -> bool| {
            error
                .chain()
                .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(test))
        };
        if caused_by(crate::spool::space::is_out_of_space) {
            // A full disk is not the job's fault: it is not counted, and the job is
            // picked up again at the next rescan.
            tracing::warn!(%error, "The job could not be run: the disk is full; it stays in jobs/ and is tried again at the next rescan.");
            return RunOutcome::Interrupted;
        }
        if caused_by(crate::spool::mount::is_unreachable) {
            // The spool's network filesystem is cut off: not the job's fault either.
            tracing::warn!(%error, "The job could not be run: the spool's filesystem cannot be reached; it is tried again at the next rescan.");
            return RunOutcome::Interrupted;
        }
        let (errors, wait) = self.unrunnable.record_error(id);
        if errors < MAX_ERRORS {
            tracing::error!(%error, attempt = errors, "The job could not be run; it stays in jobs/ and is tried again in {wait:?} (attempt {errors} of {MAX_ERRORS}).");
            return RunOutcome::Interrupted;
        }
        let runner = self.clone();
        let reason = format!("{error:#}");
        let failed = tokio::task::spawn_blocking(move || runner.fail_unrunnable(id, &reason)).await;
        match failed {
            Ok(Ok(outcome)) => {
                self.unrunnable.forget(id);
                outcome
            }
            Ok(Err(delivery)) => {
                tracing::error!(%error, %delivery, "The job could not be run, nor moved to failed/; it stays in jobs/ and is tried again in {wait:?}.");
                RunOutcome::Interrupted
            }
            Err(panic) => {
                tracing::error!(%panic, "Failing an unrunnable job panicked.");
                RunOutcome::Interrupted
            }
        }
    }

    /// Delivers job `id` to failed/ with `reason`, from whatever records it still has.
    fn fail_unrunnable(&self, id: Uuid, reason: &str) -> anyhow::Result<RunOutcome> {
        let job = JobDir::new(id, self.spool.job_dir(id));
        let Some(_lock) = JobLock::try_acquire_or_create(&job.lock_path())? else {
            return Ok(RunOutcome::Skipped);
        };
        let state = job.read_state().ok().flatten().unwrap_or_default();
        if state.status.is_final() {
            // Its outcome was decided before the errors: finish that delivery (a done
            // job must not also land in failed/); an error here is tried again later.
            let Some(record) = job.read_record().ok().flatten() else {
                anyhow::bail!("the job ended, but its job.json is unreadable");
            };
            let duplicate_of = super::stages::duplicate_of(&state);
            return Ok(self
                .delivery(&job, &record)
                .finish_final(&state, duplicate_of)?
                .into());
        }
        let record = job
            .read_record()
            .ok()
            .flatten()
            .unwrap_or_else(|| JobRecord {
                id,
                route: state
                    .route
                    .clone()
                    .or_else(|| job.tagged_route())
                    .unwrap_or_else(|| "unknown".to_owned()),
                // The result folder is named after the job when the input's name is lost.
                input: crate::job::InputRecord {
                    name: id.to_string(),
                    ..crate::job::InputRecord::default()
                },
                ..JobRecord::default()
            });
        let stage = state
            .current_stage()
            .filter(|_| state.stages.iter().any(|stage| stage.attempts > 0))
            .map_or_else(|| CLAIM_STAGE.to_owned(), |stage| stage.name.clone());
        let error = JobError {
            stage,
            reason: format!("the job could not be run ({MAX_ERRORS} attempts): {reason}"),
            hint: "check the job folder's permissions and the disk, then run `chute retry ID`"
                .into(),
        };
        tracing::error!(reason = %error.reason, "Giving up on a job that could not be run.");
        Ok(self.fail(&job, &record, state, JobStatus::Failed, error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_a_second_up_to_ten_minutes() {
        let waits: Vec<u64> = (1..=12).map(|errors| backoff(errors).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_backs_off_after_each_error_until_its_wait_has_passed() {
        let unrunnable = Unrunnable::default();
        let id = Uuid::now_v7();
        assert!(!unrunnable.is_backing_off(id));
        assert_eq!(unrunnable.record_error(id), (1, Duration::from_secs(1)));
        assert!(unrunnable.is_backing_off(id));
        tokio::time::advance(Duration::from_millis(1001)).await;
        assert!(!unrunnable.is_backing_off(id));
        assert_eq!(unrunnable.record_error(id), (2, Duration::from_secs(2)));
        unrunnable.forget(id);
        assert!(!unrunnable.is_backing_off(id));
    }
}
