//! The catalog: every job the spool knows about — live ones in jobs/, delivered ones in
//! outbox/, failed ones in failed/ — as the CLI lists and shows them.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::dedupe::DuplicateOf;
use crate::deliver::{self, ErrorFile, ResultFile, StageSummary};
use crate::job::{self, Event, JobDir, JobRecord, JobStatus, StageStatus};
use crate::spool::inventory::{self, EndedKind};
use crate::spool::{Spool, fsutil, short_id};

/// One job as `chute jobs --json` prints it (a stable format, documented in README.md).
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    /// Full job id.
    pub id: Uuid,
    /// Last 8 hex digits of the id.
    pub short_id: String,
    /// Route.
    pub route: String,
    /// Pipeline.
    pub pipeline: String,
    /// The input's name.
    pub input: String,
    /// queued | running | cancelling | done | failed | cancelled.
    pub state: JobStatus,
    /// Current (or failing) stage; `None` when queued or done.
    pub stage: Option<String>,
    /// Overall progress 0–100.
    pub percent: u8,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
    /// The node whose daemon runs it (or last ran it): `spool.node`.
    pub node: String,
    /// Folder relative to the spool root.
    pub location: String,
    /// What a running job waits for, when it waits (`waiting for the speech model,
    /// held by 1a2b3c4d (transcribe)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// For a job delivered as a duplicate of an earlier one (not processed again): the
    /// original job and its folder, as its result.json says; `None` otherwise.
    pub duplicate_of: Option<DuplicateOf>,
}

/// Everything known about one job, as `chute show --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct JobDetails {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: JobSummary,
    /// The job record.
    pub job: JobRecord,
    /// Per-stage status.
    pub stages: Vec<StageSummary>,
    /// Progress events.
    pub events: Vec<Event>,
    /// result.json or error.json, once the job has ended.
    pub result: Option<serde_json::Value>,
}

impl JobDetails {
    /// The optional stages that failed, as its result.json lists them.
    pub fn warnings(&self) -> Vec<crate::deliver::Warning> {
        self.result
            .as_ref()
            .and_then(|result| result.get("warnings"))
            .and_then(|warnings| serde_json::from_value(warnings.clone()).ok())
            .unwrap_or_default()
    }
}

/// Where a job was found.
#[derive(Debug, Clone)]
pub enum Found {
    /// Live, in jobs/.
    Live(JobDir),
    /// Ended, in outbox/ or failed/ (the result folder).
    Ended(PathBuf),
}

/// Lists every job: live ones first (oldest first), then ended ones.
pub fn list(spool: &Spool) -> io::Result<Vec<JobDetails>> {
    let mut jobs = Vec::new();
    for dir in job::list_job_dirs(&spool.jobs())? {
        if let Some(details) = live_details(spool, &dir) {
            jobs.push(details);
        }
    }
    for folder in inventory::ended_folders(spool, &[EndedKind::Delivered, EndedKind::Failed]) {
        if let Some(details) = ended_details(spool, &folder.path) {
            jobs.push(details);
        }
    }
    jobs.sort_by_key(|details| details.summary.id);
    Ok(jobs)
}

/// Finds one job by full id, unique id prefix, or short id.
pub fn find(spool: &Spool, query: &str) -> Result<JobDetails, FindError> {
    let query = query.trim().to_ascii_lowercase();
    if query.len() < 4 {
        return Err(FindError::TooShort);
    }
    let matches: Vec<JobDetails> = list(spool)?
        .into_iter()
        .filter(|details| {
            details.summary.id.to_string().starts_with(&query) || details.summary.short_id == query
        })
        .collect();
    match matches.len() {
        0 => Err(FindError::NotFound(query)),
        1 => Ok(matches.into_iter().next().ok_or(FindError::TooShort)?),
        n => Err(FindError::Ambiguous(query, n)),
    }
}

/// Why a job could not be found.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    /// Nothing matches.
    #[error("no job matches {0:?} (try `chute jobs`)")]
    NotFound(String),
    /// Several jobs match.
    #[error("{1} jobs match {0:?}; give more of the id")]
    Ambiguous(String, usize),
    /// The query is too short to mean anything.
    #[error("give at least 4 characters of the job id")]
    TooShort,
    /// The spool could not be read.
    #[error("cannot read the spool: {0}")]
    Io(#[from] io::Error),
}

/// Where the job with this id is now.
pub fn locate(spool: &Spool, details: &JobDetails) -> Found {
    let path = spool.resolve(&details.summary.location);
    if details.summary.location.starts_with("jobs/") {
        Found::Live(JobDir::new(details.summary.id, path))
    } else {
        Found::Ended(path)
    }
}

/// Details of one live job folder (`None` when its records are unreadable).
pub fn live_details(spool: &Spool, dir: &JobDir) -> Option<JobDetails> {
    let record = dir.read_record().ok().flatten()?;
    let state = dir.read_state().ok().flatten().unwrap_or_default();
    let events = dir.events().read_all().unwrap_or_default();
    let current = state.current_stage().map(|stage| stage.name.clone());
    let stage_percent = current
        .as_ref()
        .and_then(|name| {
            // The highest so far: a stage that starts again after a restart resumes
            // from its checkpoints, and the job's percent must not go backwards.
            events
                .iter()
                .filter(|event| &event.stage == name)
                .map(|event| event.percent)
                .max()
        })
        .unwrap_or(0);
    let waiting = current
        .as_ref()
        .and_then(|name| events.iter().rev().find(|event| &event.stage == name))
        .map(|event| event.message.clone())
        .filter(|message| message.starts_with(crate::pipeline::WAITING_FOR));
    let stage = match state.status {
        JobStatus::Queued | JobStatus::Done => None,
        _ => current,
    };
    // A cancel request the daemon has not acted on yet (it checks twice a second).
    let status = if !state.status.is_final() && dir.cancel_path().exists() {
        JobStatus::Cancelling
    } else {
        state.status
    };
    let mut summary = summary(
        &record,
        status,
        stage,
        state.percent(stage_percent),
        spool.relative(&dir.path),
    );
    summary.waiting = waiting;
    Some(JobDetails {
        summary,
        stages: deliver::stage_summaries(&state),
        job: record,
        events,
        result: None,
    })
}

/// Details of one ended job folder in outbox/ or failed/ (`None` when it holds no
/// readable result.json or error.json).
pub fn ended_details(spool: &Spool, folder: &Path) -> Option<JobDetails> {
    let location = spool.relative(folder);
    if let Ok(Some(result)) = fsutil::read_json::<ResultFile>(&folder.join("result.json")) {
        let raw = fsutil::read_json::<serde_json::Value>(&folder.join("result.json"))
            .ok()
            .flatten();
        let mut summary = summary(&result.job, JobStatus::Done, None, 100, location);
        summary.duplicate_of = result.duplicate_of.clone();
        return Some(JobDetails {
            summary,
            job: result.job,
            stages: result.stages,
            events: result.events,
            result: raw,
        });
    }
    let error = fsutil::read_json::<ErrorFile>(&folder.join("error.json"))
        .ok()
        .flatten()?;
    let raw = fsutil::read_json::<serde_json::Value>(&folder.join("error.json"))
        .ok()
        .flatten();
    let done = error
        .stages
        .iter()
        .filter(|s| s.status == StageStatus::Done)
        .count();
    let percent = if error.stages.is_empty() {
        0
    } else {
        (done * 100 / error.stages.len()) as u8
    };
    Some(JobDetails {
        summary: summary(
            &error.job,
            error.state,
            Some(error.stage.clone()),
            percent,
            location,
        ),
        job: error.job,
        stages: error.stages,
        events: error.events,
        result: raw,
    })
}

fn summary(
    record: &JobRecord,
    state: JobStatus,
    stage: Option<String>,
    percent: u8,
    location: PathBuf,
) -> JobSummary {
    JobSummary {
        id: record.id,
        short_id: short_id(record.id),
        route: record.route.clone(),
        pipeline: record.pipeline.clone(),
        input: record.input.name.clone(),
        state,
        stage,
        percent,
        claimed_at: record.claimed_at,
        node: record.owner.host.clone(),
        location: location.to_string_lossy().into_owned(),
        waiting: None,
        duplicate_of: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::job::JobState;

    /// A running job in a fresh spool, its transcribe stage at `percents` in turn.
    fn running_job(percents: &[u8]) -> (tempfile::TempDir, Spool, JobDir) {
        let root = tempfile::tempdir().unwrap();
        let spool = Spool::new(root.path());
        let id = Uuid::now_v7();
        let dir = JobDir::new(id, spool.job_dir(id));
        std::fs::create_dir_all(&dir.path).unwrap();
        let record = JobRecord {
            id,
            route: "audio".into(),
            ..JobRecord::default()
        };
        dir.write_record(&record, false).unwrap();
        let mut state = JobState::new(&["prepare", "transcribe", "deliver"]);
        state.status = JobStatus::Running;
        state.stages[0].status = StageStatus::Done;
        state.stages[1].status = StageStatus::Running;
        dir.write_state(&state, false).unwrap();
        for percent in percents {
            dir.events()
                .append("transcribe", *percent, "working")
                .unwrap();
        }
        (root, spool, dir)
    }

    #[test]
    fn a_running_job_with_a_cancel_request_shows_as_cancelling() {
        let (_root, spool, dir) = running_job(&[]);
        let summary = live_details(&spool, &dir).unwrap().summary;
        assert_eq!(summary.state, JobStatus::Running);
        std::fs::write(dir.cancel_path(), b"").unwrap();
        let summary = live_details(&spool, &dir).unwrap().summary;
        assert_eq!(summary.state, JobStatus::Cancelling);
        assert_eq!(summary.stage.as_deref(), Some("transcribe"));
    }

    #[test]
    fn the_percent_does_not_go_back_when_a_stage_starts_again() {
        let (_root, spool, dir) = running_job(&[0, 60, 0, 20]);
        let summary = live_details(&spool, &dir).unwrap().summary;
        // One of three stages done, the second at its best 60 %.
        assert_eq!(summary.percent, 53);
    }
}
