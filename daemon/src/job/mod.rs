//! One job on disk: its folder, records, lock and progress log.
//!
//! Daemon-written state is lenient: every field has a serde default, so records written
//! by older versions keep loading (fixtures under `daemon/tests/fixtures/` pin that).

pub mod events;
pub mod fence;
pub mod items;
pub mod lock;
pub mod record;
pub mod state;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uuid::Uuid;

use crate::spool::fsutil;
pub use events::{Event, EventLog};
pub use fence::{Fence, FencedOff};
pub use items::ItemCheckpoints;
pub use lock::JobLock;
pub use record::{InputRecord, JobRecord, Rejected};
pub use state::{JobError, JobState, JobStatus, StageState, StageStatus};

/// Stage name used for failures that happen before any pipeline stage (an input
/// refused at claim, a job that could not be run at all).
pub const CLAIM_STAGE: &str = "claim";

/// Extended attribute holding a job folder's route (a third copy, after job.json and
/// state.json).
const ROUTE_XATTR: &str = "user.chute.route";

/// The paths inside one job folder.
#[derive(Debug, Clone)]
pub struct JobDir {
    /// The job id (the folder's name).
    pub id: Uuid,
    /// The folder.
    pub path: PathBuf,
    /// Set while a daemon runs the job: its records are written only while job.json
    /// still names that daemon (see [`fence`]).
    fence: Option<Arc<Fence>>,
}

impl JobDir {
    /// The job folder `path` (named after `id`).
    pub fn new(id: Uuid, path: PathBuf) -> Self {
        Self {
            id,
            path,
            fence: None,
        }
    }

    /// This folder with its writes fenced by `fence`.
    pub fn fenced(mut self, fence: Arc<Fence>) -> Self {
        self.fence = Some(fence);
        self
    }

    /// The fence its writes go through, if the job runs.
    pub fn fence(&self) -> Option<&Arc<Fence>> {
        self.fence.as_ref()
    }

    /// Confirms (against job.json, now) that the running daemon still owns the job;
    /// `Ok` when the folder is not fenced.
    pub fn confirm_owner(&self) -> io::Result<()> {
        self.fence.as_ref().map_or(Ok(()), |fence| fence.confirm())
    }

    /// `job.json`: the claim record.
    pub fn record_path(&self) -> PathBuf {
        self.path.join("job.json")
    }

    /// `state.json`: per-stage checkpoints.
    pub fn state_path(&self) -> PathBuf {
        self.path.join("state.json")
    }

    /// `events.jsonl`: progress lines.
    pub fn events_path(&self) -> PathBuf {
        self.path.join("events.jsonl")
    }

    /// `lock`: held (flock) while a daemon claims or runs the job.
    pub fn lock_path(&self) -> PathBuf {
        self.path.join("lock")
    }

    /// `cancel`: created by `chute cancel` to ask the running daemon to stop the job.
    pub fn cancel_path(&self) -> PathBuf {
        self.path.join("cancel")
    }

    /// `input/`: holds exactly one entry, the claimed input.
    pub fn input_dir(&self) -> PathBuf {
        self.path.join("input")
    }

    /// `work/`: scratch space for stages.
    pub fn work_dir(&self) -> PathBuf {
        self.path.join("work")
    }

    /// `work/items/<stage>/`: the finished items of a stage that fans out.
    pub fn items(&self, stage: &str, durable: bool) -> ItemCheckpoints {
        ItemCheckpoints::new(&self.path, stage, durable).fenced(self.fence.clone())
    }

    /// `out/`: results to deliver.
    pub fn out_dir(&self) -> PathBuf {
        self.path.join("out")
    }

    /// The claimed input's real name, read from `input/` (the record's copy is only
    /// informational). `None` when the input is missing (an unfinished claim).
    pub fn input_name(&self) -> io::Result<Option<OsString>> {
        let mut names = match std::fs::read_dir(self.input_dir()) {
            Ok(entries) => entries
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<io::Result<Vec<_>>>()?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        names.retain(|name| !name.as_encoded_bytes().starts_with(b".tmp-"));
        Ok(names.pop())
    }

    /// Whether this folder is a claim that never completed: nothing in it but what a
    /// claim creates before the input moves in (lock, job.json, an empty input/). Any
    /// other entry means the job got further, and the folder must not be thrown away.
    pub fn is_unfinished_claim(&self) -> io::Result<bool> {
        if self.input_name()?.is_some() {
            return Ok(false);
        }
        // A snapshot taking the input's place (`spool/snapshot.rs`) is past the claim.
        let snapshot_under_way = std::fs::read_dir(self.input_dir())
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                entry
                    .file_name()
                    .as_encoded_bytes()
                    .starts_with(b".tmp-snapshot")
            });
        if snapshot_under_way {
            return Ok(false);
        }
        for entry in std::fs::read_dir(&self.path)? {
            let name = entry?.file_name();
            let expected = name == "lock"
                || name == "job.json"
                || name == "input"
                || name.as_encoded_bytes().starts_with(b".tmp-");
            if !expected {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Path of the claimed input.
    pub fn input_path(&self, name: &OsString) -> PathBuf {
        self.input_dir().join(name)
    }

    /// Reads job.json.
    pub fn read_record(&self) -> io::Result<Option<JobRecord>> {
        fsutil::read_json(&self.record_path())
    }

    /// Replaces job.json atomically.
    pub fn write_record(&self, record: &JobRecord, durable: bool) -> io::Result<()> {
        self.confirm_owner()?;
        fsutil::write_json_atomic(&self.record_path(), record, durable)
    }

    /// Reads state.json.
    pub fn read_state(&self) -> io::Result<Option<JobState>> {
        fsutil::read_json(&self.state_path())
    }

    /// Replaces state.json atomically. On a full disk the spool's emergency reserve is
    /// released and the write tried once more (see [`crate::spool::space`]): the
    /// checkpoints that end, pause or resume a job need no new space.
    pub fn write_state(&self, state: &JobState, durable: bool) -> io::Result<()> {
        self.confirm_owner()?;
        let path = self.state_path();
        crate::spool::space::with_reserve_released(&path, || {
            fsutil::write_json_atomic(&path, state, durable)
        })
    }

    /// Records the route as an extended attribute of the job folder (best effort), so a
    /// queued job whose job.json is lost can still be rebuilt into the right route.
    /// Returns whether the attribute was set.
    pub fn tag_route(&self, route: &str) -> bool {
        rustix::fs::setxattr(
            &self.path,
            ROUTE_XATTR,
            route.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .is_ok()
    }

    /// The route recorded by [`JobDir::tag_route`], if the filesystem kept it.
    pub fn tagged_route(&self) -> Option<String> {
        let mut buffer = [0u8; 128];
        let length = rustix::fs::getxattr(&self.path, ROUTE_XATTR, &mut buffer[..]).ok()?;
        String::from_utf8(buffer[..length].to_vec()).ok()
    }

    /// The progress log.
    pub fn events(&self) -> EventLog {
        EventLog::new(self.events_path()).fenced(self.fence.clone())
    }
}

/// Whether folders under `dir` keep extended attributes (so claims may skip the batch
/// sync: see `claim.rs`).
pub fn folders_keep_route_tags(dir: &Path) -> bool {
    let probe = JobDir::new(
        Uuid::nil(),
        dir.join(format!(".probe-{}", std::process::id())),
    );
    if std::fs::create_dir(&probe.path).is_err() {
        return false;
    }
    let kept = probe.tag_route("probe") && probe.tagged_route().as_deref() == Some("probe");
    let _ = std::fs::remove_dir(&probe.path);
    kept
}

/// Parses a job folder name; `None` for anything that is not a job id.
pub fn parse_job_dir_name(name: &std::ffi::OsStr) -> Option<Uuid> {
    let text = name.to_str()?;
    let id = Uuid::parse_str(text).ok()?;
    (id.hyphenated().to_string() == text).then_some(id)
}

/// Lists `jobs/` (job folders only).
pub fn list_job_dirs(jobs: &Path) -> io::Result<Vec<JobDir>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(jobs)? {
        let entry = entry?;
        if let Some(id) = parse_job_dir_name(&entry.file_name()) {
            dirs.push(JobDir::new(id, entry.path()));
        }
    }
    dirs.sort_by_key(|dir| dir.id);
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Records written by earlier versions must keep loading (daemon-written state is
    /// lenient); the fixtures are checked in and never rewritten.
    #[test]
    fn old_records_keep_loading() {
        let record: JobRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/job-v0.1.json")).unwrap();
        assert_eq!(record.route, "archive");
        assert_eq!(record.input.size, 6);
        let state: JobState =
            serde_json::from_str(include_str!("../../tests/fixtures/state-v0.1.json")).unwrap();
        assert_eq!(state.stages.len(), 3);
        assert_eq!(state.current_stage().unwrap().name, "passthrough");
        assert_eq!(state.stages[2].status, StageStatus::Pending);
        let empty: JobState =
            serde_json::from_str(include_str!("../../tests/fixtures/minimal.json")).unwrap();
        assert_eq!(empty.status, JobStatus::Queued);
        let empty: JobRecord =
            serde_json::from_str(include_str!("../../tests/fixtures/minimal.json")).unwrap();
        assert!(empty.id.is_nil());
    }
}
