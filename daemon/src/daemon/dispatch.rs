//! The dispatcher loop: takes the next queued job, then a running slot, and starts it.
//! While the operator drains the daemon it starts nothing; once nothing runs the daemon
//! is drained (and with `drain --exit` the loop ends, so the daemon stops). The loop
//! wakes at least every [`TICK`] and stamps its liveness for the systemd watchdog.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::notify::AliveStamp;
use crate::pipeline::slot::JobSlot;
use crate::queue::JobQueue;
use crate::runner::{RunOutcome, Runner};
use crate::status::{DaemonStatus, OperatorMode};

/// How often the loop wakes when nothing else wakes it.
const TICK: Duration = Duration::from_millis(250);

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    /// The shutdown token fired.
    Shutdown,
    /// `chute drain --exit`, and nothing runs any more.
    DrainedExit,
}

/// What the loop works with.
pub(super) struct Dispatcher {
    pub queue: Arc<JobQueue>,
    pub runner: Arc<Runner>,
    pub slots: Arc<Semaphore>,
    pub status: Arc<DaemonStatus>,
    pub alive: Arc<AliveStamp>,
    pub shutdown: CancellationToken,
}

impl Dispatcher {
    /// Runs jobs until shutdown or a finished `drain --exit`; `running` holds the job
    /// tasks still running when it returns.
    pub(super) async fn run(&self, running: &mut JoinSet<RunOutcome>) -> Ended {
        let mut drained_logged = false;
        'jobs: loop {
            self.alive.stamp();
            while let Some(finished) = running.try_join_next() {
                log_join(finished);
            }
            if !self.status.may_start_jobs() {
                let drained = running.is_empty();
                self.status.set_drained(drained);
                if drained && !drained_logged {
                    tracing::info!(
                        queued = self.queue.queued(),
                        "Drained: no job runs, nothing new is claimed or started (`chute resume` ends the drain)."
                    );
                    drained_logged = true;
                }
                if drained && self.status.mode() == (OperatorMode::Draining { exit: true }) {
                    return Ended::DrainedExit;
                }
                tokio::select! {
                    () = self.shutdown.cancelled() => return Ended::Shutdown,
                    () = tokio::time::sleep(TICK) => continue,
                }
            }
            drained_logged = false;
            // The job first, then its slot: a slot is never held idle while the queue is
            // empty, so a job that gave its slot back can always get one again.
            let id = tokio::select! {
                () = self.shutdown.cancelled() => return Ended::Shutdown,
                id = self.queue.pop() => id,
                () = tokio::time::sleep(TICK) => continue,
            };
            let permit = loop {
                self.alive.stamp();
                tokio::select! {
                    () = self.shutdown.cancelled() => return Ended::Shutdown,
                    permit = self.slots.clone().acquire_owned() => break permit,
                    () = tokio::time::sleep(TICK) => {
                        if !self.status.may_start_jobs() {
                            self.queue.put_back(id);
                            continue 'jobs;
                        }
                    }
                }
            };
            let Ok(permit) = permit else {
                return Ended::Shutdown;
            };
            let runner = self.runner.clone();
            let queue = self.queue.clone();
            let slots = self.slots.clone();
            running.spawn(async move {
                // Forgotten even if the runner panics, so a rescan can pick the job up again.
                let _forget = Forget(queue.clone(), id);
                let queue_for_start = queue.clone();
                let slot = Arc::new(JobSlot::new(slots.clone(), permit));
                runner
                    .run(id, slot, move || queue_for_start.started())
                    .await
            });
        }
    }
}

/// Removes a job from the queue's known set when its task ends, however it ends.
struct Forget(Arc<JobQueue>, uuid::Uuid);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}

/// Logs a job task that panicked.
pub(super) fn log_join(finished: Result<RunOutcome, tokio::task::JoinError>) {
    if let Err(error) = finished {
        tracing::error!(%error, "A job task panicked; the job stays in jobs/ and is retried at the next rescan.");
    }
}
