//! Claiming: moving complete inbox entries into their own job folders, in batches.
//!
//! Per entry: `mkdir jobs/<id>/input`, tag the folder with its route (an extended
//! attribute), create and lock `jobs/<id>/lock`, write `job.json`; then, in `batch`
//! commit mode, **one** filesystem sync for the whole batch (group commit); then one
//! rename per entry from the inbox into `input/`. A rename that finds its source gone lost
//! a race to another daemon, and the empty job folder is removed again. A crash before
//! the rename leaves a job folder without input, which recovery removes; a crash after it
//! leaves job.json next to the input — or, after a power cut without the sync, at least
//! the route attribute (metadata is journaled in order), from which the runner rebuilds
//! job.json: every other field derives from the input and the UUID v7 id.
//!
//! Invariant: a job folder is locked from before its input arrives until the claim is
//! complete, so no other daemon can take a half-made claim for an orphan.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;

use chrono::Utc;
use uuid::Uuid;

use crate::job::{InputRecord, JobDir, JobLock, JobRecord, Rejected};
use crate::pipeline::config::RouteConfig;
use crate::spool::entry::{self, InputKind, Inspection};
use crate::spool::owner::Owner;
use crate::spool::{Spool, fsutil};

/// An inbox entry judged complete, to be claimed.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Its route.
    pub route: RouteConfig,
    /// Its name in `inbox/<route>/`.
    pub name: OsString,
    /// What `lstat` said just before the claim.
    pub inspection: Inspection,
}

/// What became of one request.
#[derive(Debug)]
pub enum ClaimOutcome {
    /// Now a job (possibly a rejected one that goes straight to failed/).
    Claimed {
        /// The new job.
        id: Uuid,
        /// Its route.
        route: String,
        /// The input's name, as text.
        input: String,
        /// Its size in bytes (a folder: its total).
        size: u64,
    },
    /// Another daemon claimed it first (or it was removed).
    Lost,
    /// The claim failed; the entry stays in the inbox.
    Failed(io::Error),
}

/// Claims inbox entries into job folders.
#[derive(Debug, Clone)]
pub struct Claimer {
    spool: Spool,
    sync_batches: bool,
}

struct Prepared {
    job: JobDir,
    source: PathBuf,
    name: OsString,
    route: String,
    size: u64,
    /// Whether the route attribute was set (else this claim needs the batch sync).
    tagged: bool,
    _lock: JobLock,
}

impl Claimer {
    /// A claimer for `spool`; `sync_batches` turns on the group-commit sync.
    pub fn new(spool: Spool, sync_batches: bool) -> Self {
        Self {
            spool,
            sync_batches,
        }
    }

    /// Claims a batch of entries with one filesystem sync; outcomes are in request order.
    pub fn claim_batch(&self, requests: Vec<ClaimRequest>) -> Vec<ClaimOutcome> {
        let owner = Owner::current();
        let mut prepared: Vec<Result<Prepared, io::Error>> = requests
            .into_iter()
            .map(|request| self.prepare(request, &owner))
            .collect();
        let needs_sync = prepared.iter().any(|slot| {
            slot.as_ref()
                .is_ok_and(|job| self.sync_batches || !job.tagged)
        });
        if needs_sync && let Err(error) = fsutil::sync_filesystem(&self.spool.jobs()) {
            // Without the sync a power cut could leave inputs next to lost records:
            // do not move any input in.
            for slot in &mut prepared {
                if let Ok(job) = slot {
                    let _ = fsutil::remove_tree(&job.job.path);
                    *slot = Err(io::Error::new(
                        error.kind(),
                        format!("sync of the spool failed: {error}"),
                    ));
                }
            }
        }
        prepared
            .into_iter()
            .map(|slot| match slot {
                Ok(job) => self.move_in(job),
                Err(error) => ClaimOutcome::Failed(error),
            })
            .collect()
    }

    fn prepare(&self, request: ClaimRequest, owner: &Owner) -> io::Result<Prepared> {
        let id = Uuid::now_v7();
        let job = JobDir::new(id, self.spool.job_dir(id));
        std::fs::create_dir(&job.path)?;
        let result = (|| {
            std::fs::create_dir(job.input_dir())?;
            let tagged = job.tag_route(&request.route.name);
            let lock = JobLock::create(&job.lock_path())?;
            let (name, name_hex) = entry::display_name(&request.name);
            let (kind, rejection) = match &request.inspection.verdict {
                Ok(kind) => (*kind, None),
                Err(rejection) => (
                    InputKind::File,
                    Some(Rejected {
                        reason: rejection.to_string(),
                        hint: rejection.hint().to_owned(),
                    }),
                ),
            };
            let record = JobRecord {
                id,
                route: request.route.name.clone(),
                pipeline: request.route.pipeline.name().to_owned(),
                input: InputRecord {
                    name,
                    name_hex,
                    kind,
                    size: request.inspection.size,
                    inode: request.inspection.inode,
                    modified: Some(request.inspection.mtime.into()),
                    entries: (kind == InputKind::Directory).then_some(request.inspection.entries),
                    snapshot: None,
                    content_hash: None,
                },
                claimed_at: Utc::now(),
                owner: owner.clone(),
                heartbeat: None,
                rejection,
                rebuilt_at: None,
            };
            // Not fsynced here: the batch's one filesystem sync covers every record.
            fsutil::write_json_atomic(&job.record_path(), &record, false)?;
            Ok((lock, tagged))
        })();
        match result {
            Ok((lock, tagged)) => Ok(Prepared {
                tagged,
                source: self.spool.inbox(&request.route.name).join(&request.name),
                job,
                name: request.name,
                route: request.route.name,
                size: request.inspection.size,
                _lock: lock,
            }),
            Err(error) => {
                let _ = fsutil::remove_tree(&job.path);
                Err(error)
            }
        }
    }

    fn move_in(&self, prepared: Prepared) -> ClaimOutcome {
        let destination = prepared.job.input_path(&prepared.name);
        match fsutil::rename_verified(&prepared.source, &destination) {
            Ok(()) => ClaimOutcome::Claimed {
                id: prepared.job.id,
                route: prepared.route,
                input: crate::spool::entry::display_name(&prepared.name).0,
                size: prepared.size,
            },
            Err(error) => {
                let _ = fsutil::remove_tree(&prepared.job.path);
                if error.kind() == io::ErrorKind::NotFound {
                    ClaimOutcome::Lost
                } else {
                    ClaimOutcome::Failed(error)
                }
            }
        }
    }
}
