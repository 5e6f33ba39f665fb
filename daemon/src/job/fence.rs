//! Fencing: a daemon may write a job's records only while job.json still names it, at
//! the epoch it ran the job under.
//!
//! On a shared spool a daemon cut off from the filesystem (a network partition) keeps
//! running; its peers adopt its jobs after `spool.owner_lease` and write a new epoch
//! into each job.json. When the stale owner reaches the spool again, its next write
//! through a fenced [`JobDir`](super::JobDir) reads job.json first, finds another
//! owner (or cannot read it at all) and is refused: the fence is lost for good, the
//! runner abandons the job without delivering, checkpointing or submitting anything.
//!
//! Commit points (checkpoints, job.json, delivery, a remote submit) confirm against
//! job.json every time; progress lines accept a confirmation up to
//! [`EVENT_CONFIRM_AGE`] old. The check and the write are two operations, so a write
//! can still race the adoption by the length of one write; the owner lease (longer
//! than the filesystem's lock-release time) is what keeps that race from happening in
//! the first place.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::record::JobRecord;
use crate::spool::fsutil;
use crate::spool::owner::Owner;

/// How old a confirmation may be for a progress line (not a commit point).
pub const EVENT_CONFIRM_AGE: Duration = Duration::from_secs(1);

/// The refusal a fenced write returns (inside an [`io::Error`]); the text says why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("this daemon no longer owns the job: {0}")]
pub struct FencedOff(pub String);

/// One daemon's claim to one job, at one epoch.
#[derive(Debug)]
pub struct Fence {
    record_path: PathBuf,
    owner: Owner,
    state: Mutex<FenceState>,
}

#[derive(Debug)]
struct FenceState {
    /// Why the job was lost; once set, never cleared.
    lost: Option<String>,
    /// When job.json last named this owner.
    confirmed_at: Instant,
}

impl Fence {
    /// The fence of `owner` (with the epoch it runs the job under) over the job.json at
    /// `record_path`; confirmed now (the owner has just written that record).
    pub fn new(record_path: PathBuf, owner: Owner) -> Self {
        Self {
            record_path,
            owner,
            state: Mutex::new(FenceState {
                lost: None,
                confirmed_at: Instant::now(),
            }),
        }
    }

    /// The owner and epoch this fence holds the job for.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Why the job was lost, once it was.
    pub fn lost(&self) -> Option<String> {
        self.lock().lost.clone()
    }

    /// Confirms against job.json now (a commit point).
    pub fn confirm(&self) -> io::Result<()> {
        self.confirm_within(Duration::ZERO)
    }

    /// Confirms, reading job.json only when the last confirmation is older than
    /// `max_age`. A record naming another owner or epoch, a missing record or one that
    /// cannot be read loses the job for good.
    pub fn confirm_within(&self, max_age: Duration) -> io::Result<()> {
        {
            let state = self.lock();
            if let Some(reason) = &state.lost {
                return Err(refusal(reason));
            }
            if !max_age.is_zero() && state.confirmed_at.elapsed() <= max_age {
                return Ok(());
            }
        }
        let verdict = match fsutil::read_json::<JobRecord>(&self.record_path) {
            Ok(Some(record))
                if record.owner.same_process(&self.owner)
                    && record.owner.epoch == self.owner.epoch =>
            {
                Ok(())
            }
            Ok(Some(record)) => Err(format!(
                "node {} (pid {}) took it over at epoch {} (this daemon held epoch {})",
                record.owner.host, record.owner.pid, record.owner.epoch, self.owner.epoch
            )),
            Ok(None) => Err("its job.json is gone (another daemon ended the job)".to_owned()),
            Err(error) => Err(format!("its job.json cannot be read ({error})")),
        };
        let mut state = self.lock();
        match verdict {
            Ok(()) => {
                state.confirmed_at = Instant::now();
                Ok(())
            }
            Err(reason) => {
                let reason = state.lost.get_or_insert(reason).clone();
                Err(refusal(&reason))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FenceState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn refusal(reason: &str) -> io::Error {
    io::Error::other(FencedOff(reason.to_owned()))
}

/// Why `error` (or an error it wraps) is a fenced write's refusal, if it is one.
pub fn fenced_off(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(fenced) = error.downcast_ref::<FencedOff>() {
            return Some(fenced.0.clone());
        }
        if let Some(io) = error.downcast_ref::<io::Error>()
            && let Some(fenced) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<FencedOff>())
        {
            return Some(fenced.0.clone());
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use uuid::Uuid;

    fn record(owner: Owner) -> JobRecord {
        JobRecord {
            id: Uuid::now_v7(),
            route: "r".into(),
            pipeline: "passthrough".into(),
            input: Default::default(),
            claimed_at: chrono::Utc::now(),
            owner,
            heartbeat: None,
            rejection: None,
            rebuilt_at: None,
        }
    }

    #[test]
    fn a_new_epoch_in_job_json_loses_the_job_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.json");
        let me = Owner {
            epoch: 3,
            ..Owner::current()
        };
        fsutil::write_json_atomic(&path, &record(me.clone()), false).unwrap();
        let fence = Fence::new(path.clone(), me.clone());
        fence.confirm().unwrap();
        let adopter = Owner {
            host: "elsewhere".into(),
            pid: 9,
            epoch: 4,
            ..me.clone()
        };
        fsutil::write_json_atomic(&path, &record(adopter), false).unwrap();
        // A recent confirmation still passes for a progress line, not for a commit.
        fence.confirm_within(Duration::from_secs(60)).unwrap();
        let error = fence.confirm().unwrap_err();
        let reason = fenced_off(&error).unwrap();
        assert!(reason.contains("node elsewhere (pid 9) took it over at epoch 4"));
        // Lost for good: even the record naming this daemon again does not restore it.
        fsutil::write_json_atomic(&path, &record(me), false).unwrap();
        assert!(fence.confirm_within(Duration::from_secs(60)).is_err());
        assert!(fence.lost().is_some());
    }

    #[test]
    fn the_same_process_at_an_older_epoch_or_a_missing_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.json");
        let me = Owner {
            epoch: 2,
            ..Owner::current()
        };
        fsutil::write_json_atomic(
            &path,
            &record(Owner {
                epoch: 1,
                ..me.clone()
            }),
            false,
        )
        .unwrap();
        assert!(Fence::new(path.clone(), me.clone()).confirm().is_err());
        let missing = Fence::new(dir.path().join("gone.json"), me);
        let error = missing.confirm().unwrap_err();
        assert!(fenced_off(&error).unwrap().contains("gone"));
        let wrapped = anyhow::Error::from(error).context("delivering");
        assert!(fenced_off(wrapped.as_ref()).is_some());
    }
}
