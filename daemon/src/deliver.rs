//! Delivery: moving a finished job's results to `outbox/` or its input to `failed/`,
//! writing `result.json` / `error.json`, and retiring the job folder.
//!
//! Invariant: a result folder appears under its visible name in one rename, complete
//! with its result.json or error.json; every step here is idempotent so a daemon killed
//! anywhere in it finishes the delivery on restart, exactly once.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dedupe::DuplicateOf;
use crate::job::{Event, JobDir, JobError, JobRecord, JobState, JobStatus, StageStatus};
use crate::spool::entry;
use crate::spool::{Spool, fsutil, short_id};

/// Most events copied into result.json / error.json (the last ones are kept).
const MAX_EVENTS_IN_RESULT: usize = 500;

/// `result.json`: what a delivered job produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ResultFile {
    /// The job record.
    pub job: JobRecord,
    /// Always `done`.
    pub state: JobStatus,
    /// When the results were moved to the outbox.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Delivered files (names inside the result folder), result.json excluded.
    pub files: Vec<String>,
    /// Per-stage timings and attempts.
    pub stages: Vec<StageSummary>,
    /// Set when this input was identical to an earlier one and not processed again.
    pub duplicate_of: Option<DuplicateOf>,
    /// Optional stages that failed: the job was delivered without their outputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The job's progress events.
    pub events: Vec<Event>,
}

/// An optional stage that failed, in result.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Warning {
    /// The stage.
    pub stage: String,
    /// What went wrong.
    pub reason: String,
    /// What to do about it.
    pub hint: String,
}

/// The failed optional stages of a delivered job.
pub fn warnings(state: &JobState) -> Vec<Warning> {
    state
        .stages
        .iter()
        .filter(|stage| stage.status == StageStatus::Failed)
        .map(|stage| Warning {
            stage: stage.name.clone(),
            reason: stage.error.clone().unwrap_or_default(),
            hint: stage.hint.clone().unwrap_or_default(),
        })
        .collect()
}

impl Default for ResultFile {
    fn default() -> Self {
        Self {
            job: JobRecord::default(),
            state: JobStatus::Done,
            delivered_at: None,
            files: Vec::new(),
            stages: Vec::new(),
            duplicate_of: None,
            warnings: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// `error.json`: why a job ended in failed/.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorFile {
    /// The job record.
    pub job: JobRecord,
    /// `failed` or `cancelled`.
    pub state: JobStatus,
    /// The stage that failed (`claim` when the input was refused before processing).
    pub stage: String,
    /// What went wrong.
    pub reason: String,
    /// What to do about it.
    pub hint: String,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// Per-stage timings and attempts.
    pub stages: Vec<StageSummary>,
    /// The job's progress events.
    pub events: Vec<Event>,
}

/// One stage in result.json / error.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StageSummary {
    /// Stage name.
    pub name: String,
    /// Final status.
    pub status: StageStatus,
    /// How many times it was started.
    pub attempts: u32,
    /// Start of the last attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// End of the stage.
    pub finished_at: Option<DateTime<Utc>>,
    /// What the stage recorded (timings, real-time factors, models, files).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, serde_json::Value>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The per-stage summary shown in result.json, error.json and `chute show`.
pub fn stage_summaries(state: &JobState) -> Vec<StageSummary> {
    state
        .stages
        .iter()
        .map(|stage| StageSummary {
            name: stage.name.clone(),
            status: stage.status,
            attempts: stage.attempts,
            started_at: stage.started_at,
            finished_at: stage.finished_at,
            outputs: stage.outputs.clone(),
            error: stage.error.clone(),
        })
        .collect()
}

fn recent_events(job: &JobDir) -> Vec<Event> {
    let mut events = job.events().read_all().unwrap_or_default();
    let excess = events.len().saturating_sub(MAX_EVENTS_IN_RESULT);
    events.drain(..excess);
    events
}

/// The input's name as recorded (exact bytes when the record has them).
fn recorded_input_name(record: &JobRecord) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    if let Some(hex) = &record.input.name_hex {
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect();
        if let Some(bytes) = bytes {
            return OsString::from_vec(bytes);
        }
    }
    OsString::from(&record.input.name)
}

/// The result folder name `<stem>--<short-id>` of a job.
pub fn result_folder_name(record: &JobRecord, input_name: &OsString) -> OsString {
    let kind = record.input.kind;
    entry::result_folder_name(&entry::stem(input_name, kind), &short_id(record.id))
}

/// Where a job's results land in the outbox, relative to the spool root.
pub fn outbox_location(spool: &Spool, record: &JobRecord, input_name: &OsString) -> String {
    let path = spool
        .outbox(&record.route)
        .join(result_folder_name(record, input_name));
    spool.relative(&path).to_string_lossy().into_owned()
}

/// Picks the result folder under `parent`: `<stem>--<short>`, or `<stem>--<full id>` in
/// the unlikely case another job already has that name.
fn result_folder(parent: &Path, record: &JobRecord, input_name: &OsString) -> PathBuf {
    let preferred = parent.join(result_folder_name(record, input_name));
    if belongs_to_other_job(&preferred, record.id) {
        let stem = entry::stem(input_name, record.input.kind);
        parent.join(entry::result_folder_name(
            &stem,
            &record.id.simple().to_string(),
        ))
    } else {
        preferred
    }
}

fn belongs_to_other_job(folder: &Path, id: Uuid) -> bool {
    for file in ["result.json", "error.json"] {
        if let Ok(Some(value)) = fsutil::read_json::<serde_json::Value>(&folder.join(file)) {
            return value["job"]["id"].as_str() != Some(id.to_string().as_str());
        }
    }
    folder.exists()
}

fn owns_result(folder: &Path, file: &str, id: Uuid) -> bool {
    matches!(
        fsutil::read_json::<serde_json::Value>(&folder.join(file)),
        Ok(Some(value)) if value["job"]["id"].as_str() == Some(id.to_string().as_str())
    )
}

/// Moves `out/` to the outbox with a result.json; returns the location relative to the
/// spool root. Safe to call again after a crash at any point.
pub fn deliver_done(
    spool: &Spool,
    job: &JobDir,
    record: &JobRecord,
    state: &JobState,
    duplicate_of: Option<DuplicateOf>,
    durable: bool,
) -> io::Result<String> {
    let input_name = job
        .input_name()?
        .unwrap_or_else(|| recorded_input_name(record));
    let parent = spool.outbox(&record.route);
    std::fs::create_dir_all(&parent)?;
    let folder = result_folder(&parent, record, &input_name);
    let out = job.out_dir();
    if !out.exists() && owns_result(&folder, "result.json", record.id) {
        return Ok(spool.relative(&folder).to_string_lossy().into_owned());
    }
    std::fs::create_dir_all(&out)?;
    let mut files: Vec<String> = std::fs::read_dir(&out)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name())
        .filter(|name| name != "result.json" && !name.as_encoded_bytes().starts_with(b".tmp-"))
        .map(|name| entry::display_name(&name).0)
        .collect();
    files.sort();
    let result = ResultFile {
        job: record.clone(),
        state: JobStatus::Done,
        delivered_at: Some(Utc::now()),
        files,
        stages: stage_summaries(state),
        duplicate_of,
        warnings: warnings(state),
        events: recent_events(job),
    };
    fsutil::write_json_atomic(&out.join("result.json"), &result, durable)?;
    if durable {
        fsutil::sync_dir(&out)?;
    }
    fsutil::rename_verified(&out, &folder)?;
    if durable {
        fsutil::sync_dir(&parent)?;
    }
    Ok(spool.relative(&folder).to_string_lossy().into_owned())
}

/// Moves the input (and the job's records, under `.job/`) to failed/ with an error.json;
/// returns the location relative to the spool root. Safe to call again after a crash.
pub fn deliver_failed(
    spool: &Spool,
    job: &JobDir,
    record: &JobRecord,
    state: &JobState,
    error: &JobError,
    durable: bool,
) -> io::Result<String> {
    let input_name = job
        .input_name()?
        .unwrap_or_else(|| recorded_input_name(record));
    let parent = spool.failed(&record.route);
    std::fs::create_dir_all(&parent)?;
    let folder = result_folder(&parent, record, &input_name);
    let staging = job.path.join("failed-delivery");
    if !staging.exists() && owns_result(&folder, "error.json", record.id) {
        return Ok(spool.relative(&folder).to_string_lossy().into_owned());
    }
    let internals = staging.join(".job");
    std::fs::create_dir_all(&internals)?;
    let input = job.input_path(&input_name);
    if std::fs::symlink_metadata(&input).is_ok() {
        std::fs::rename(&input, staging.join(entry::delivered_name(&input_name)))?;
    }
    for file in ["job.json", "state.json", "events.jsonl"] {
        match std::fs::copy(job.path.join(file), internals.join(file)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    for dir in ["work", "out"] {
        match std::fs::rename(job.path.join(dir), internals.join(dir)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    let error_file = ErrorFile {
        job: record.clone(),
        state: state.status,
        stage: error.stage.clone(),
        reason: error.reason.clone(),
        hint: error.hint.clone(),
        failed_at: Some(Utc::now()),
        stages: stage_summaries(state),
        events: recent_events(job),
    };
    fsutil::write_json_atomic(&staging.join("error.json"), &error_file, durable)?;
    if durable {
        fsutil::sync_dir(&staging)?;
    }
    fsutil::rename_verified(&staging, &folder)?;
    if durable {
        fsutil::sync_dir(&parent)?;
    }
    Ok(spool.relative(&folder).to_string_lossy().into_owned())
}

/// Ends a job as failed or cancelled: checkpoints the status and reason in state.json,
/// delivers to failed/, and retires the job folder. The caller holds the job lock.
pub fn fail_job(
    spool: &Spool,
    job: &JobDir,
    record: &JobRecord,
    mut state: JobState,
    status: JobStatus,
    error: &JobError,
    durable: bool,
) -> io::Result<String> {
    state.status = status;
    state.error = Some(error.clone());
    state.updated_at = Some(Utc::now());
    job.write_state(&state, durable)?;
    let _ = job.events().append(
        &error.stage,
        100,
        &format!("{}: {}", status.name(), error.reason),
    );
    let location = deliver_failed(spool, job, record, &state, error, durable)?;
    retire(spool, job)?;
    Ok(location)
}

/// Removes a finished job's folder from jobs/: one rename into trash/ (so no other
/// daemon can see a half-deleted job), then a recursive delete.
pub fn retire(spool: &Spool, job: &JobDir) -> io::Result<()> {
    let trash = spool.trash().join(job.id.to_string());
    match std::fs::rename(&job.path, &trash) {
        Ok(()) => fsutil::remove_tree(&trash),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}
