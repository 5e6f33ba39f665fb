//! Changing jobs from the command line: cancel and retry. Both work through the spool
//! (files and locks), so they work whether or not a daemon is running.

use std::io;
use std::path::Path;

use crate::catalog::{self, Found};
use crate::deliver;
use crate::job::{CLAIM_STAGE, JobDir, JobError, JobLock, JobState, JobStatus, StageStatus};
use crate::spool::owner::Owner;
use crate::spool::{Spool, fsutil};

/// What `cancel` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No daemon held the job: it ended here and now; its folder is at this location.
    Finished(String),
    /// A running daemon was asked to stop it; it will at the job's next safe point.
    Requested,
}

/// Why a control command could not act.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The job is in a state where this makes no sense.
    #[error("{0}")]
    WrongState(String),
    /// `--from` names no stage of the job's pipeline.
    #[error("job {job} has no stage {stage:?} (its stages: {stages})")]
    UnknownStage {
        /// The job.
        job: String,
        /// What was asked for.
        stage: String,
        /// The job's stages, in order.
        stages: String,
    },
    /// The job was not found.
    #[error(transparent)]
    Find(#[from] catalog::FindError),
    /// The spool could not be changed.
    #[error("cannot change the spool: {0}")]
    Io(#[from] io::Error),
}

/// Cancels a queued or running job. A job no daemon holds is moved to failed/ at once
/// (state `cancelled`); a running one is asked to stop via a `cancel` file. Both work
/// on a full disk: the spool's emergency reserve is released for the records when
/// the disk is full (see [`crate::spool::space`]).
pub fn cancel(
    spool: &Spool,
    query: &str,
    config: &crate::config::Config,
) -> Result<CancelOutcome, ControlError> {
    let details = catalog::find(spool, query)?;
    let Found::Live(job) = catalog::locate(spool, &details) else {
        return Err(ControlError::WrongState(format!(
            "job {} has already ended ({}); nothing to cancel",
            details.summary.id,
            details.summary.state.name()
        )));
    };
    let reserve = crate::spool::space::EmergencyReserve::for_spool(spool);
    reserve.install();
    let cancel_path = job.cancel_path();
    crate::spool::space::with_reserve_released(&cancel_path, || {
        fsutil::write_atomic(&cancel_path, b"", false)
    })?;
    let Some(lock) = JobLock::try_acquire(&job.lock_path())? else {
        return Ok(CancelOutcome::Requested);
    };
    let record = job.read_record()?.ok_or_else(|| {
        ControlError::WrongState(
            "the job's job.json is unreadable; let the daemon rebuild it first".into(),
        )
    })?;
    let state = job.read_state().ok().flatten().unwrap_or_default();
    if state.status.is_final() {
        return Ok(CancelOutcome::Requested);
    }
    let stage = state
        .current_stage()
        .map_or_else(|| CLAIM_STAGE.to_owned(), |stage| stage.name.clone());
    let error = JobError {
        stage,
        reason: crate::stop::Stopped::CANCEL_REASON.into(),
        hint: crate::stop::Stopped::CANCEL_HINT.into(),
    };
    let delivery = deliver::Delivery {
        spool,
        job: &job,
        record: &record,
        durable: config.spool.fsync,
        file_mode: config.deliver.file_mode(),
    };
    reserve.release_if_low();
    let location = delivery.fail(state, JobStatus::Cancelled, &error)?;
    drop(lock);
    Ok(CancelOutcome::Finished(location))
}

/// Puts a failed or cancelled job back in jobs/ so a daemon runs it again, from `from`
/// (a stage name) or from the first stage that is not done; returns its location.
/// Stages run again from `from` start from scratch (their per-item checkpoints are
/// dropped); otherwise a stage that fans out redoes only its unfinished items.
pub fn retry(spool: &Spool, query: &str, from: Option<&str>) -> Result<String, ControlError> {
    let details = catalog::find(spool, query)?;
    let folder = match catalog::locate(spool, &details) {
        Found::Ended(folder)
            if matches!(
                details.summary.state,
                JobStatus::Failed | JobStatus::Cancelled
            ) =>
        {
            folder
        }
        Found::Ended(_) => {
            return Err(ControlError::WrongState(format!(
                "job {} is done; submit its input again to reprocess it",
                details.summary.id
            )));
        }
        Found::Live(_) => {
            return Err(ControlError::WrongState(format!(
                "job {} is still {}; cancel it first to retry it",
                details.summary.id,
                details.summary.state.name()
            )));
        }
    };
    let internals = folder.join(".job");
    let mut state: JobState = fsutil::read_json(&internals.join("state.json"))?.unwrap_or_default();
    let mut rerun_from_scratch = Vec::new();
    if let Some(from) = from {
        let Some(index) = state.stages.iter().position(|stage| stage.name == from) else {
            let names: Vec<_> = state
                .stages
                .iter()
                .map(|stage| stage.name.as_str())
                .collect();
            return Err(ControlError::UnknownStage {
                job: details.summary.id.to_string(),
                stage: from.to_owned(),
                stages: if names.is_empty() {
                    "none ran; retry it without --from".to_owned()
                } else {
                    names.join(", ")
                },
            });
        };
        for stage in &mut state.stages[index..] {
            stage.status = StageStatus::Pending;
            rerun_from_scratch.push(stage.name.clone());
        }
    }
    for stage in &mut state.stages {
        if stage.status != StageStatus::Done {
            stage.status = StageStatus::Pending;
            stage.error = None;
            // A retry starts remote work afresh: the old operation failed, expired or
            // was abandoned, and polling it again would only fail again.
            stage.remote.clear();
        }
    }
    state.status = JobStatus::Queued;
    state.error = None;
    state.delivery = None;

    let mut record = details.job.clone();
    record.rejection = None;
    // The input moved through failed/ (and a refused folder was rebuilt there): what the
    // claim saw of it no longer applies. The snapshot checks everything else again.
    record.input.modified = None;
    record.input.entries = None;
    // Owned by nobody: the first daemon to rescan adopts it.
    record.owner = Owner {
        epoch: record.owner.epoch + 1,
        ..Owner::default()
    };
    let restoring = spool.restoring_job(record.id);
    std::fs::rename(&folder, &restoring)?;
    let job = JobDir::new(record.id, restoring.clone());
    restore_layout(&job, &restoring.join(".job"))?;
    for stage in &rerun_from_scratch {
        job.items(stage, true).clear()?;
    }
    job.write_record(&record, true)?;
    job.write_state(&state, true)?;
    let _ = job.events().append("job", 0, "queued again by chute retry");
    let target = spool.job_dir(record.id);
    std::fs::rename(&restoring, &target)?;
    Ok(spool.relative(&target).to_string_lossy().into_owned())
}

/// Turns a failed/ folder (input + error.json + .job/) back into a job folder.
fn restore_layout(job: &JobDir, internals: &Path) -> io::Result<()> {
    std::fs::create_dir_all(job.input_dir())?;
    for entry in std::fs::read_dir(&job.path)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".job" || name == "error.json" || name == "input" {
            continue;
        }
        let original = if name.as_encoded_bytes().starts_with(b"input-")
            && crate::spool::entry::RESERVED_RESULT_NAMES
                .iter()
                .any(|reserved| name.as_encoded_bytes() == format!("input-{reserved}").as_bytes())
        {
            std::ffi::OsString::from(&name.to_string_lossy()["input-".len()..])
        } else {
            name.clone()
        };
        std::fs::rename(entry.path(), job.input_dir().join(original))?;
    }
    for entry in std::fs::read_dir(internals)? {
        let entry = entry?;
        std::fs::rename(entry.path(), job.path.join(entry.file_name()))?;
    }
    std::fs::remove_dir(internals)?;
    // An input that could not be read as a folder was kept aside; it goes back as it
    // was, so the retried job meets the same input (and says so again).
    let unusable = job.path.join("unusable-input");
    if std::fs::symlink_metadata(&unusable).is_ok() {
        std::fs::remove_dir(job.input_dir())?;
        std::fs::rename(&unusable, job.input_dir())?;
    }
    match std::fs::remove_file(job.path.join("error.json")) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    Ok(())
}
