//! Stopping work early: a job's cancel (`chute cancel`) and the daemon's stop (the
//! shutdown grace ran out), in one place, so every wait in a stage ends the same way
//! with the same reason.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Why work stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// `chute cancel`: the job ends as cancelled.
    #[error("the job was cancelled")]
    Cancelled,
    /// The daemon is shutting down: the work runs again after the restart.
    #[error("the daemon is shutting down")]
    Interrupted,
}

impl Stopped {
    /// What the operator is told about a cancelled job.
    pub const CANCEL_REASON: &'static str = "the job was cancelled (chute cancel)";
    /// What the operator can do about a cancelled job.
    pub const CANCEL_HINT: &'static str = "run `chute retry ID` to run it again";
}

/// The two signals a piece of a job's work obeys.
#[derive(Debug, Clone, Default)]
pub struct StopSignals {
    /// Fired by `chute cancel`.
    pub cancel: CancellationToken,
    /// Fired when the shutdown grace has run out.
    pub shutdown: CancellationToken,
}

impl StopSignals {
    /// `Err` as soon as either signal has fired (cancel wins).
    pub fn check(&self) -> Result<(), Stopped> {
        if self.cancel.is_cancelled() {
            Err(Stopped::Cancelled)
        } else if self.shutdown.is_cancelled() {
            Err(Stopped::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Runs `work` to its end, unless a signal fires first (then `work` is dropped).
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, Stopped> {
        self.check()?;
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(Stopped::Cancelled),
            () = self.shutdown.cancelled() => Err(Stopped::Interrupted),
            value = work => Ok(value),
        }
    }

    /// Sleeps for `duration` (tokio time, so tests can pause and advance it), unless a
    /// signal fires first.
    pub async fn sleep(&self, duration: Duration) -> Result<(), Stopped> {
        self.run(tokio::time::sleep(duration)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_sleep_ends_early_with_the_signal_that_fired() {
        let signals = StopSignals::default();
        let waiter = {
            let signals = signals.clone();
            tokio::spawn(async move { signals.sleep(Duration::from_secs(3600)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        signals.shutdown.cancel();
        assert_eq!(waiter.await.expect("join"), Err(Stopped::Interrupted));
        signals.cancel.cancel();
        assert_eq!(signals.check(), Err(Stopped::Cancelled));
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_finishes_first_returns_its_value() {
        let signals = StopSignals::default();
        let value = signals
            .run(async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                7
            })
            .await;
        assert_eq!(value, Ok(7));
    }
}
