//! The facts of a job that ended, as the webhook's JSON body and as the environment of
//! a hook command. The JSON shape is stable (`version` 1; fields are only ever added):
//!
//! ```json
//! {"version": 1, "event": "job.failed", "event_id": "…", "job_id": "…",
//!  "route": "archive", "pipeline": "passthrough", "status": "cancelled",
//!  "input": "report.pdf", "result_dir": "/var/lib/chute/failed/archive/report--0a1b2c3d",
//!  "location": "failed/archive/report--0a1b2c3d",
//!  "error": {"stage": "deliver", "reason": "…", "hint": "…"},
//!  "claimed_at": "2026-…Z", "finished_at": "2026-…Z"}
//! ```
//!
//! `event` is `job.done` or `job.failed` (cancelled jobs too, with `status`
//! `cancelled`); `error` is present for failed and cancelled jobs only. `event_id`
//! stays the same when an event is sent again (after a restart), so receivers can
//! drop repeats.

use std::ffi::OsString;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::job::{JobError, JobRecord, JobStatus};
use crate::spool::Spool;

/// The version of the event's shape.
pub const EVENT_VERSION: u32 = 1;

/// A job that ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEvent {
    /// The shape's version ([`EVENT_VERSION`]).
    pub version: u32,
    /// `job.done` or `job.failed`.
    pub event: String,
    /// This event's id (the same in every resend).
    pub event_id: Uuid,
    /// The job's id.
    pub job_id: Uuid,
    /// The route (inbox folder).
    pub route: String,
    /// The route's pipeline.
    pub pipeline: String,
    /// `done`, `failed` or `cancelled`.
    pub status: String,
    /// The input's original name (a name, never a path).
    pub input: String,
    /// The result folder, absolute: in outbox/ for done jobs, failed/ otherwise.
    pub result_dir: PathBuf,
    /// The result folder relative to the spool root.
    pub location: String,
    /// Why it failed (failed and cancelled jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// When the input was claimed.
    pub claimed_at: DateTime<Utc>,
    /// When the job ended.
    pub finished_at: DateTime<Utc>,
}

impl JobEvent {
    /// The event of `record`'s job, ended with `status` and delivered to `location`.
    pub fn new(
        spool: &Spool,
        record: &JobRecord,
        status: JobStatus,
        error: Option<&JobError>,
        location: &str,
    ) -> Self {
        let done = status == JobStatus::Done;
        Self {
            version: EVENT_VERSION,
            event: if done { "job.done" } else { "job.failed" }.to_owned(),
            event_id: Uuid::now_v7(),
            job_id: record.id,
            route: record.route.clone(),
            pipeline: record.pipeline.clone(),
            status: status.name().to_owned(),
            input: record.input.name.clone(),
            result_dir: spool.resolve(location),
            location: location.to_owned(),
            error: if done { None } else { error.cloned() },
            claimed_at: record.claimed_at,
            finished_at: Utc::now(),
        }
    }

    /// Whether the job is done (the `on_done` hook) rather than failed or cancelled
    /// (`on_failed`).
    pub fn is_done(&self) -> bool {
        self.event == "job.done"
    }

    /// The hook command's variables: `CHUTE_EVENT`, `CHUTE_JOB_ID`, `CHUTE_ROUTE`,
    /// `CHUTE_PIPELINE`, `CHUTE_STATUS`, `CHUTE_INPUT`, `CHUTE_RESULT_DIR`,
    /// `CHUTE_LOCATION`, `CHUTE_CLAIMED_AT`, `CHUTE_FINISHED_AT` and, for failed and
    /// cancelled jobs, `CHUTE_ERROR_STAGE`, `CHUTE_ERROR_REASON`, `CHUTE_ERROR_HINT`.
    /// `input` is the exact original name (`original`), bytes and all.
    pub fn environment(&self, original: Option<OsString>) -> Vec<(&'static str, OsString)> {
        let mut env: Vec<(&'static str, OsString)> = vec![
            ("CHUTE_EVENT", self.event.clone().into()),
            ("CHUTE_JOB_ID", self.job_id.to_string().into()),
            ("CHUTE_ROUTE", self.route.clone().into()),
            ("CHUTE_PIPELINE", self.pipeline.clone().into()),
            ("CHUTE_STATUS", self.status.clone().into()),
            (
                "CHUTE_INPUT",
                original.unwrap_or_else(|| self.input.clone().into()),
            ),
            ("CHUTE_RESULT_DIR", self.result_dir.clone().into_os_string()),
            ("CHUTE_LOCATION", self.location.clone().into()),
            ("CHUTE_CLAIMED_AT", self.claimed_at.to_rfc3339().into()),
            ("CHUTE_FINISHED_AT", self.finished_at.to_rfc3339().into()),
        ];
        if let Some(error) = &self.error {
            env.push(("CHUTE_ERROR_STAGE", error.stage.clone().into()));
            env.push(("CHUTE_ERROR_REASON", error.reason.clone().into()));
            env.push(("CHUTE_ERROR_HINT", error.hint.clone().into()));
        }
        // A NUL cannot be passed in an environment; nothing the daemon writes holds
        // one, but a name or a reason quoting one must not stop the hook.
        for (_, value) in &mut env {
            if value.as_encoded_bytes().contains(&0) {
                *value = value.to_string_lossy().replace('\0', "\u{FFFD}").into();
            }
        }
        env
    }
}
