//! The records a delivered job carries: `result.json` in outbox/ and `error.json` in
//! failed/, with the per-stage summary both share. Daemon-written, so lenient: every
//! field has a serde default and files written by older versions keep loading.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dedupe::DuplicateOf;
use crate::job::{Event, JobDir, JobRecord, JobState, JobStatus, StageStatus};

/// Most events copied into result.json / error.json (the last ones are kept).
pub const MAX_EVENTS_IN_RESULT: usize = 500;

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
    /// Optional stages that failed (the job was delivered without their outputs), and
    /// the notes of stages that finished (`outputs.warnings`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The job's progress events.
    pub events: Vec<Event>,
}

/// An optional stage that failed, or a stage's note about what it delivered, in
/// result.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Warning {
    /// The stage.
    pub stage: String,
    /// A name for the kind of problem, when the stage gave one (`cut_off`,
    /// `nothing_to_summarize`, …).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cause: String,
    /// What went wrong.
    pub reason: String,
    /// What to do about it.
    pub hint: String,
}

/// The failed optional stages of a delivered job, then the warnings finished stages
/// recorded in their outputs (`warnings`: a list of `{cause, reason, hint}`).
pub fn warnings(state: &JobState) -> Vec<Warning> {
    let failed = state
        .stages
        .iter()
        .filter(|stage| stage.status == StageStatus::Failed)
        .map(|stage| Warning {
            stage: stage.name.clone(),
            cause: String::new(),
            reason: stage.error.clone().unwrap_or_default(),
            hint: stage.hint.clone().unwrap_or_default(),
        });
    let noted = state
        .stages
        .iter()
        .filter(|stage| stage.status == StageStatus::Done)
        .flat_map(|stage| {
            let notes = stage
                .outputs
                .get("warnings")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            notes.into_iter().filter_map(|note| {
                let mut warning: Warning = serde_json::from_value(note).ok()?;
                warning.stage = stage.name.clone();
                Some(warning)
            })
        });
    failed.chain(noted).collect()
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
    /// Entries of the input that are not in the failed folder: links, FIFOs, sockets,
    /// device nodes (never delivered), folders nested too deep.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_entries: Vec<super::quarantine::RemovedEntry>,
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

/// The job's last events, at most [`MAX_EVENTS_IN_RESULT`].
pub(super) fn recent_events(job: &JobDir) -> Vec<Event> {
    let mut events = job.events().read_all().unwrap_or_default();
    let excess = events.len().saturating_sub(MAX_EVENTS_IN_RESULT);
    events.drain(..excess);
    events
}
