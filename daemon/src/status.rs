//! What the daemon is doing right now, in one place: whether it may claim new inputs
//! (and if not, why), and the figures its reports show.
//!
//! Several parts change it — the operator's controls (`chute pause`, `resume`, `drain`),
//! the disk monitor — and several read it: the intake asks [`DaemonStatus::claim_hold`]
//! before every claim round; the systemd STATUS line, the daemon record in `daemons/`
//! (for `chute doctor` and `chute jobs`) and the metrics report it.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The operator's choice, set by `chute pause`, `chute resume` and `chute drain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorMode {
    /// Claim and run as usual.
    #[default]
    Running,
    /// Claim nothing new; queued and running jobs go on.
    Paused,
    /// Claim nothing new, start no queued job, let running jobs finish, then idle
    /// (`exit`: stop the daemon once nothing runs).
    Draining {
        /// Stop the daemon once drained (`chute drain --exit`, for upgrades).
        exit: bool,
    },
}

/// Why the daemon claims nothing new right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimHold {
    /// `chute pause`.
    Paused,
    /// `chute drain`.
    Draining,
    /// The spool's filesystem is above `disk.pause_percent` (bytes or inodes) and has
    /// not yet come back below `disk.resume_percent`.
    DiskFull,
}

impl ClaimHold {
    /// How the hold reads in a status line or a log.
    pub fn describe(self) -> &'static str {
        match self {
            ClaimHold::Paused => "paused by the operator (chute resume ends it)",
            ClaimHold::Draining => "draining (running jobs finish, nothing new starts)",
            ClaimHold::DiskFull => "waiting for disk space (above disk.pause_percent)",
        }
    }
}

/// The last disk reading and what the watermarks made of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskReading {
    /// Percent of space in use (as `df` counts it).
    pub used_percent: u64,
    /// Percent of inodes in use (as `df -i` counts it).
    pub inodes_used_percent: u64,
    /// Claiming is held until usage is back below `disk.resume_percent`.
    pub holding: bool,
}

#[derive(Debug, Default)]
struct Inner {
    mode: OperatorMode,
    disk: Option<DiskReading>,
    /// Draining, and nothing runs any more.
    drained: bool,
}

/// The daemon's shared status; one per daemon, behind an `Arc`.
#[derive(Debug, Default)]
pub struct DaemonStatus {
    inner: Mutex<Inner>,
}

impl DaemonStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The operator's current choice.
    pub fn mode(&self) -> OperatorMode {
        self.lock().mode
    }

    /// Records the operator's choice (read from the control files).
    pub fn set_mode(&self, mode: OperatorMode) {
        let mut inner = self.lock();
        if !matches!(mode, OperatorMode::Draining { .. }) {
            inner.drained = false;
        }
        inner.mode = mode;
    }

    /// Whether a drain has finished: draining, and no job runs any more.
    pub fn is_drained(&self) -> bool {
        let inner = self.lock();
        inner.drained && matches!(inner.mode, OperatorMode::Draining { .. })
    }

    /// Records whether a drain has finished (the dispatcher knows what runs).
    pub fn set_drained(&self, drained: bool) {
        self.lock().drained = drained;
    }

    /// The mode as reports spell it: `running`, `paused`, `draining` or `drained`
    /// (`chute jobs --json`, `chute doctor`, the daemon's record in `daemons/`).
    pub fn mode_name(&self) -> &'static str {
        let inner = self.lock();
        match inner.mode {
            OperatorMode::Running => "running",
            OperatorMode::Paused => "paused",
            OperatorMode::Draining { .. } if inner.drained => "drained",
            OperatorMode::Draining { .. } => "draining",
        }
    }

    /// The last disk reading, if the monitor has made one.
    pub fn disk(&self) -> Option<DiskReading> {
        self.lock().disk
    }

    /// Records a disk reading.
    pub fn set_disk(&self, reading: DiskReading) {
        self.lock().disk = Some(reading);
    }

    /// Why nothing new may be claimed now; `None` when claiming may go on. The
    /// operator's hold comes first: it is the one a person has to lift.
    pub fn claim_hold(&self) -> Option<ClaimHold> {
        let inner = self.lock();
        match inner.mode {
            OperatorMode::Paused => Some(ClaimHold::Paused),
            OperatorMode::Draining { .. } => Some(ClaimHold::Draining),
            OperatorMode::Running if inner.disk.is_some_and(|disk| disk.holding) => {
                Some(ClaimHold::DiskFull)
            }
            OperatorMode::Running => None,
        }
    }

    /// Whether queued jobs may start (everything but a drain lets them).
    pub fn may_start_jobs(&self) -> bool {
        !matches!(self.mode(), OperatorMode::Draining { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_hold_comes_before_the_disk_hold() {
        let status = DaemonStatus::default();
        assert_eq!(status.claim_hold(), None);
        status.set_disk(DiskReading {
            used_percent: 95,
            inodes_used_percent: 3,
            holding: true,
        });
        assert_eq!(status.claim_hold(), Some(ClaimHold::DiskFull));
        assert!(status.may_start_jobs());
        status.set_mode(OperatorMode::Draining { exit: false });
        assert_eq!(status.claim_hold(), Some(ClaimHold::Draining));
        assert!(!status.may_start_jobs());
        status.set_mode(OperatorMode::Paused);
        assert_eq!(status.claim_hold(), Some(ClaimHold::Paused));
        status.set_mode(OperatorMode::Running);
        status.set_disk(DiskReading::default());
        assert_eq!(status.claim_hold(), None);
    }
}
