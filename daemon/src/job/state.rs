//! `state.json`: the job's status and one checkpoint per stage.
//!
//! Invariant: a stage's outputs are checkpointed (status `done`) before the next stage
//! starts, and a stage marked `done` is never run again for the same job.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The states a job goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Claimed, waiting for a slot.
    #[default]
    Queued,
    /// A daemon is running its stages.
    Running,
    /// Delivered to the outbox.
    Done,
    /// Delivered to failed/ with error.json.
    Failed,
    /// Cancelled by `chute cancel`; delivered to failed/.
    Cancelled,
    /// Running, with a cancel requested that the daemon has not acted on yet. Only the
    /// catalog reports it (from the `cancel` file); state.json never holds it.
    Cancelling,
}

impl JobStatus {
    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// The lowercase name used in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Cancelling => "cancelling",
        }
    }
}

/// The states of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Not started.
    #[default]
    Pending,
    /// Started; if found so after a restart, it is run again (attempts + 1).
    Running,
    /// Finished; its outputs are recorded and it is never run again.
    Done,
    /// Failed; the job failed with it, unless the stage is optional (then the job went on
    /// without its outputs).
    Failed,
}

/// The checkpoint of one stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StageState {
    /// Stage name.
    pub name: String,
    /// Where it stands.
    pub status: StageStatus,
    /// How many times it has been started.
    pub attempts: u32,
    /// When the last attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (done or failed).
    pub finished_at: Option<DateTime<Utc>>,
    /// What it produced (paths relative to the job folder, small facts).
    pub outputs: BTreeMap<String, serde_json::Value>,
    /// Remote operation handles, saved before anything else happens after a submit.
    pub remote: BTreeMap<String, serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// What the user can do about the failure.
    pub hint: Option<String>,
}

/// The checkpoint file of a job.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobState {
    /// Overall status.
    pub status: JobStatus,
    /// The job's route (a second copy, so a lost job.json can be rebuilt).
    pub route: Option<String>,
    /// One entry per pipeline stage, in order.
    pub stages: Vec<StageState>,
    /// Last write.
    pub updated_at: Option<DateTime<Utc>>,
    /// Where the job is delivered (relative to the spool root), set when it becomes final.
    pub delivery: Option<String>,
    /// Why the job failed or was cancelled.
    pub error: Option<JobError>,
}

/// Why a job failed: written to state.json first, then to error.json.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobError {
    /// The stage that failed (`claim` for inputs refused before processing).
    pub stage: String,
    /// What went wrong, as a sentence.
    pub reason: String,
    /// What the user can do about it.
    pub hint: String,
}

impl JobState {
    /// A fresh state for these stage names.
    pub fn new(stage_names: &[&str]) -> Self {
        Self {
            status: JobStatus::Queued,
            route: None,
            stages: stage_names
                .iter()
                .map(|name| StageState {
                    name: (*name).to_owned(),
                    ..StageState::default()
                })
                .collect(),
            updated_at: Some(Utc::now()),
            delivery: None,
            error: None,
        }
    }

    /// Makes sure every stage of the pipeline has an entry (a pipeline may have gained
    /// stages since the state was written), keeping existing checkpoints.
    pub fn align_stages(&mut self, stage_names: &[&str]) {
        let mut aligned = Vec::with_capacity(stage_names.len());
        for name in stage_names {
            let existing = self.stages.iter().position(|s| s.name == *name);
            aligned.push(match existing {
                Some(index) => self.stages[index].clone(),
                None => StageState {
                    name: (*name).to_owned(),
                    ..StageState::default()
                },
            });
        }
        self.stages = aligned;
    }

    /// The stage that is running, or the first one not done.
    pub fn current_stage(&self) -> Option<&StageState> {
        self.stages
            .iter()
            .find(|stage| stage.status != StageStatus::Done)
    }

    /// Overall progress 0–100 given the current stage's own percent.
    pub fn percent(&self, current_stage_percent: u8) -> u8 {
        if self.stages.is_empty() {
            return 0;
        }
        if self.status == JobStatus::Done {
            return 100;
        }
        let done = self
            .stages
            .iter()
            .filter(|s| s.status == StageStatus::Done)
            .count() as f64;
        let partial = f64::from(current_stage_percent.min(100)) / 100.0;
        let total = self.stages.len() as f64;
        (((done + partial) / total) * 100.0).floor().min(100.0) as u8
    }
}
