//! Delivery: the transitions that end a job. Its results move to `outbox/`, or its
//! input to `failed/`, with `result.json` / `error.json`, and the job folder retires.
//!
//! Invariant: a result folder appears under its visible name in one rename, complete
//! with its result.json or error.json ([`publish`] is the one place that does it, for
//! done and failed alike); every step here is idempotent, so a daemon killed anywhere in
//! it finishes the delivery on restart, exactly once.

pub mod config;
mod permissions;
pub mod quarantine;
mod records;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use crate::dedupe::DuplicateOf;
use crate::job::{JobDir, JobError, JobRecord, JobState, JobStatus, StageStatus};
use crate::spool::entry;
use crate::spool::{Spool, fsutil, short_id};
pub use records::{
    ErrorFile, MAX_EVENTS_IN_RESULT, ResultFile, StageSummary, Warning, stage_summaries, warnings,
};

/// Name of the last stage of every pipeline, which delivery performs.
pub const STAGE: &str = "deliver";

/// Where an ended job went, relative to the spool root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Its results are in `outbox/`.
    Done(String),
    /// Its input and error.json are in `failed/` (failed or cancelled).
    Failed(String),
}

/// The input's name: from `input/` when it is readable there, else as recorded.
fn input_name(job: &JobDir, record: &JobRecord) -> OsString {
    job.input_name()
        .ok()
        .flatten()
        .unwrap_or_else(|| record.input.original_name())
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

/// One result folder on its way out: a staging folder inside the job folder that
/// becomes `<parent>/<stem>--<short>` in one rename.
struct Publication<'a> {
    spool: &'a Spool,
    record: &'a JobRecord,
    /// `outbox/<route>` or `failed/<route>`.
    parent: PathBuf,
    /// The folder inside the job folder that is filled, then renamed.
    staging: PathBuf,
    /// `result.json` or `error.json`: written last, it makes the folder complete.
    record_file: &'static str,
    durable: bool,
    /// The mode its files get (`deliver.mode`).
    file_mode: u32,
}

impl Publication<'_> {
    /// Publishes the staging folder: `fill` puts the files in (given the input's name)
    /// and returns the record to write as `record_file`; then the folder is renamed
    /// into place. Returns the location relative to the spool root. When an earlier
    /// run already published it (the staging folder is gone and the visible folder
    /// holds this job's record), nothing is done again.
    fn publish<T: Serialize>(
        self,
        input_name: &OsString,
        fill: impl FnOnce(&Path) -> io::Result<T>,
    ) -> io::Result<String> {
        std::fs::create_dir_all(&self.parent)?;
        let folder = result_folder(&self.parent, self.record, input_name);
        let location = self.spool.relative(&folder).to_string_lossy().into_owned();
        if !self.staging.exists() && owns_result(&folder, self.record_file, self.record.id) {
            return Ok(location);
        }
        std::fs::create_dir_all(&self.staging)?;
        let contents = fill(&self.staging)?;
        fsutil::write_json_atomic(
            &self.staging.join(self.record_file),
            &contents,
            self.durable,
        )?;
        permissions::open_up(&self.staging, self.file_mode)?;
        if self.durable {
            fsutil::sync_dir(&self.staging)?;
        }
        fsutil::rename_verified(&self.staging, &folder)?;
        if self.durable {
            fsutil::sync_dir(&self.parent)?;
        }
        Ok(location)
    }
}

/// One job's delivery: the job, its record and the spool it is delivered in. Every
/// transition that ends a job goes through it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The spool.
    pub spool: &'a Spool,
    /// The job folder.
    pub job: &'a JobDir,
    /// The job's record.
    pub record: &'a JobRecord,
    /// Whether records and folders are fsynced (`spool.fsync`).
    pub durable: bool,
    /// The mode delivered files get ([`config::DeliverConfig::file_mode`]).
    pub file_mode: u32,
}

impl<'a> Delivery<'a> {
    /// A result folder staged in `staging`, published under `parent`.
    fn publication(
        &self,
        parent: PathBuf,
        staging: PathBuf,
        record_file: &'static str,
    ) -> Publication<'a> {
        Publication {
            spool: self.spool,
            record: self.record,
            parent,
            staging,
            record_file,
            durable: self.durable,
            file_mode: self.file_mode,
        }
    }

    /// Moves `out/` to the outbox with a result.json; returns the location relative to
    /// the spool root. Safe to call again after a crash at any point.
    pub fn done(&self, state: &JobState, duplicate_of: Option<DuplicateOf>) -> io::Result<String> {
        let Delivery { job, record, .. } = *self;
        let publication = self.publication(
            self.spool.outbox(&record.route),
            job.out_dir(),
            "result.json",
        );
        publication.publish(&input_name(job, record), |out| {
            let mut files: Vec<String> = std::fs::read_dir(out)?
                .filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name())
                .filter(|name| {
                    name != "result.json" && !name.as_encoded_bytes().starts_with(b".tmp-")
                })
                .map(|name| entry::display_name(&name).0)
                .collect();
            files.sort();
            // result.json's events end with the delivery itself: it is finished once
            // this folder appears (the same line then goes to events.jsonl).
            let mut events = records::recent_events(job);
            if events
                .last()
                .is_none_or(|last| last.stage != STAGE || last.message != "finished")
            {
                events.push(crate::job::Event {
                    ts: Utc::now(),
                    stage: STAGE.to_owned(),
                    percent: 100,
                    message: "finished".to_owned(),
                });
            }
            Ok(ResultFile {
                job: record.clone(),
                state: JobStatus::Done,
                delivered_at: Some(Utc::now()),
                files,
                stages: stage_summaries(state),
                duplicate_of,
                warnings: warnings(state),
                events,
            })
        })
    }

    /// Moves the input (and the job's records, under `.job/`) to failed/ with an
    /// error.json; returns the location relative to the spool root. Safe to call again
    /// after a crash. An `input` entry that cannot be read as a folder is kept as
    /// `.job/unusable-input`. No link, FIFO, socket or device node of a refused input
    /// is delivered ([`quarantine`]): error.json lists them.
    pub fn failed(&self, state: &JobState, error: &JobError) -> io::Result<String> {
        let Delivery { job, record, .. } = *self;
        let publication = self.publication(
            self.spool.failed(&record.route),
            job.path.join("failed-delivery"),
            "error.json",
        );
        let readable_input = job.input_name();
        let name = input_name(job, record);
        publication.publish(&name, |staging| {
            let internals = staging.join(".job");
            std::fs::create_dir_all(&internals)?;
            let mut moves: Vec<(PathBuf, PathBuf)> = ["work", "out"]
                .iter()
                .map(|dir| (job.path.join(dir), internals.join(dir)))
                .collect();
            let mut removed_entries = Vec::new();
            match readable_input {
                Ok(Some(input)) => {
                    let destination = staging.join(entry::delivered_name(&input));
                    let snapshot = record.input.snapshot.map(|snapshot| snapshot.inode);
                    let (rest, removed) =
                        quarantine::make_safe(&job.input_dir(), &input, snapshot, &destination)?;
                    removed_entries = removed;
                    if rest == quarantine::Delivery::MoveAsIs {
                        moves.push((job.input_path(&input), destination));
                    }
                }
                Ok(None) => {}
                Err(_) => moves.push((job.input_dir(), internals.join("unusable-input"))),
            }
            for file in ["job.json", "state.json", "events.jsonl"] {
                match std::fs::copy(job.path.join(file), internals.join(file)) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                    _ => {}
                }
            }
            for (from, to) in moves {
                match std::fs::rename(from, to) {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                    _ => {}
                }
            }
            Ok(ErrorFile {
                job: record.clone(),
                state: state.status,
                stage: error.stage.clone(),
                reason: error.reason.clone(),
                hint: error.hint.clone(),
                removed_entries,
                failed_at: Some(Utc::now()),
                stages: stage_summaries(state),
                events: records::recent_events(job),
            })
        })
    }

    /// Ends a job whose stages all succeeded: records the deliver stage in state.json,
    /// publishes `out/` to the outbox and retires the job folder. The caller holds the
    /// job lock.
    pub fn complete(
        &self,
        mut state: JobState,
        duplicate_of: Option<DuplicateOf>,
    ) -> io::Result<String> {
        let job = self.job;
        let index = state.stages.iter().position(|stage| stage.name == STAGE);
        if let Some(index) = index {
            let entry = &mut state.stages[index];
            entry.status = StageStatus::Running;
            entry.attempts += 1;
            entry.started_at = Some(Utc::now());
            let attempt = entry.attempts;
            job.write_state(&state, false)?;
            let _ = job
                .events()
                .append(STAGE, 0, &format!("started (attempt {attempt})"));
        }
        // result.json shows the job as it will be once this delivery has happened.
        state.status = JobStatus::Done;
        if let Some(index) = index {
            let entry = &mut state.stages[index];
            entry.status = StageStatus::Done;
            entry.finished_at = Some(Utc::now());
        }
        let location = self.done(&state, duplicate_of)?;
        state.delivery = Some(location.clone());
        state.updated_at = Some(Utc::now());
        // Not fsynced: the delivered folder (already durable) is the truth from here on,
        // and a re-run of deliver recognises it.
        job.write_state(&state, false)?;
        let _ = job.events().append(STAGE, 100, "finished");
        retire(self.spool, job)?;
        Ok(location)
    }

    /// Ends a job as failed or cancelled: checkpoints the status and reason in
    /// state.json, delivers to failed/, and retires the job folder. The caller holds the
    /// job lock.
    pub fn fail(
        &self,
        mut state: JobState,
        status: JobStatus,
        error: &JobError,
    ) -> io::Result<String> {
        state.status = status;
        state.error = Some(error.clone());
        state.updated_at = Some(Utc::now());
        self.job.write_state(&state, self.durable)?;
        let _ = self.job.events().append(
            &error.stage,
            100,
            &format!("{}: {}", status.name(), error.reason),
        );
        let location = self.failed(&state, error)?;
        retire(self.spool, self.job)?;
        Ok(location)
    }

    /// Completes the delivery of a job that was already final when a daemon died (its
    /// state.json says done, failed or cancelled).
    pub fn finish_final(
        &self,
        state: &JobState,
        duplicate_of: Option<DuplicateOf>,
    ) -> io::Result<Delivered> {
        if state.status == JobStatus::Done {
            let location = self.done(state, duplicate_of)?;
            retire(self.spool, self.job)?;
            return Ok(Delivered::Done(location));
        }
        let error = state.error.clone().unwrap_or_else(|| JobError {
            stage: crate::job::CLAIM_STAGE.into(),
            reason: "the job failed".into(),
            hint: String::new(),
        });
        let location = self.failed(state, &error)?;
        retire(self.spool, self.job)?;
        Ok(Delivered::Failed(location))
    }
}

/// Removes a finished job's folder from jobs/: one rename into trash/ (so no other
/// daemon can see a half-deleted job), then a recursive delete.
///
/// Once in trash/ the job is gone from jobs/: a delete that fails there (a file still
/// open on another host of a shared spool) is logged and left to `retention.trash`.
pub fn retire(spool: &Spool, job: &JobDir) -> io::Result<()> {
    let trash = spool.trashed_job(job.id);
    match std::fs::rename(&job.path, &trash) {
        Ok(()) => {
            if let Err(error) = fsutil::remove_tree(&trash) {
                tracing::warn!(path = %trash.display(), %error, "A retired job folder could not be deleted yet; retention removes it from trash/ later.");
            }
            Ok(())
        }
        Err(error) if fsutil::is_gone(&error) => Ok(()),
        Err(error) => Err(error),
    }
}
