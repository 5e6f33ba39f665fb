//! The timing of status checks: when the next one is due (the provider's hint, or a
//! doubling backoff while it is down), when an operation's time is up (counted from
//! its submit, across restarts), and the one status check itself, bounded per
//! provider by its `max_concurrent_polls` semaphore. All on tokio's clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::call::{CallError, Served};
use super::handle::RemoteHandle;
use super::plugin::Operation;
use super::registry::Provider;

/// Time limits of remote operations.
#[derive(Debug, Clone)]
pub struct OperationLimits {
    /// The longest an operation may take from submit to done (across restarts).
    pub operation_deadline: Duration,
    /// The longest a finished result's download may take.
    pub download_deadline: Duration,
    /// The shortest wait between two status checks, whatever the provider hints.
    pub poll_min: Duration,
    /// The longest wait between two status checks.
    pub poll_max: Duration,
    /// The first wait after a status check failed in a way worth waiting out; it
    /// doubles (up to `poll_max`) while the failures go on.
    pub poll_retry_min: Duration,
}

impl Default for OperationLimits {
    fn default() -> Self {
        OperationLimits {
            operation_deadline: Duration::from_secs(60 * 60),
            download_deadline: Duration::from_secs(30 * 60),
            poll_min: Duration::from_millis(200),
            poll_max: Duration::from_secs(300),
            poll_retry_min: Duration::from_secs(5),
        }
    }
}

/// One status check of an operation, as the driver needs it: the provider's, or a
/// script in tests.
pub(super) trait StatusCheck: Send + Sync {
    /// Asks about `state` with the key that submitted it.
    fn check<'a>(
        &'a self,
        state: &'a str,
        key: Option<&'a str>,
        job: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<Served, CallError>> + Send + 'a>>;
}

impl StatusCheck for Arc<Provider> {
    fn check<'a>(
        &'a self,
        state: &'a str,
        key: Option<&'a str>,
        job: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<Served, CallError>> + Send + 'a>> {
        Box::pin(async move {
            // The semaphore is never closed; without a permit the check still runs.
            let _permit = self.polls.acquire().await.ok();
            self.call_with_key(Operation::PollVideo(state.to_owned()), job, key)
                .await
        })
    }
}

/// When the next status check is due, and when the operation's time is up.
#[derive(Debug, Clone)]
pub(super) struct PollSchedule {
    limits: OperationLimits,
    /// The provider's last hint (or the backoff), before clamping.
    next: Duration,
    deadline: Instant,
}

impl PollSchedule {
    /// Counted from the submit (wall clock, saved in the handle), so a restart does not
    /// reset the deadline; then kept on tokio's clock.
    pub(super) fn new(
        limits: OperationLimits,
        handle: &RemoteHandle,
        first: Duration,
    ) -> PollSchedule {
        let elapsed = handle
            .submitted_at
            .and_then(|at| (chrono::Utc::now() - at).to_std().ok())
            .unwrap_or_default();
        let remaining = limits.operation_deadline.saturating_sub(elapsed);
        PollSchedule {
            next: first,
            deadline: Instant::now() + remaining,
            limits,
        }
    }

    pub(super) fn wait(&self) -> Duration {
        self.next.clamp(self.limits.poll_min, self.limits.poll_max)
    }

    pub(super) fn after_pending(&mut self, poll_after: Duration) {
        self.next = poll_after;
    }

    pub(super) fn after_failure(&mut self) {
        self.next = (self.next * 2).clamp(self.limits.poll_retry_min, self.limits.poll_max);
    }

    pub(super) fn expired(&self) -> bool {
        Instant::now() > self.deadline
    }
}
