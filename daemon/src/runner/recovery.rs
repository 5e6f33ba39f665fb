//! What a job folder says after a crash: a claim that never completed, a job.json
//! lost or torn in a power cut (rebuilt from the input, the route and the UUID v7 id),
//! a job adopted from a dead owner (a new epoch), a `finished` event lost to a kill.

use chrono::Utc;

use super::Runner;
use crate::deliver;
use crate::job::{InputRecord, JobDir, JobRecord, JobState, StageStatus};
use crate::spool::entry::{self, InputKind};
use crate::spool::owner::Owner;

impl Runner {
    /// The job's records, repaired where a crash left them incomplete, and owned by
    /// this daemon; `None` when the folder is an unfinished claim (now removed).
    pub(super) fn load_records(
        &self,
        job: &JobDir,
    ) -> anyhow::Result<Option<(JobRecord, Option<JobState>)>> {
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
            deliver::retire(&self.spool, job)?;
            return Ok(None);
        }
        let mut record = match job.read_record() {
            Ok(Some(record)) => record,
            Ok(None) | Err(_) => {
                let record = self.rebuild_record(job, state.as_ref(), input_name.as_ref())?;
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
        Ok(Some((record, state)))
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
            .routes()
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
}

/// A daemon killed between a stage's "done" checkpoint and its `finished` event leaves
/// the log one line short; on resume the missing `finished` lines are added, so the log
/// agrees with state.json.
pub(super) fn repair_finished_events(job: &JobDir, state: &JobState) {
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
