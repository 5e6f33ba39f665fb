//! Finding one job without listing the whole spool: the job that claimed an input
//! `chute submit` renamed into an inbox — in jobs/ while it runs, in outbox/ or failed/
//! once it ended — and the result folder of a job that left jobs/.
//!
//! An input is known by its route, its final name in the inbox and the inode of the
//! renamed file, from the moment it was renamed in; the daemon records all three in
//! job.json when it claims it.

use std::ffi::{OsStr, OsString};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::{self, JobDetails};
use crate::job::{self, JobDir, JobRecord};
use crate::spool::entry::{self, InputKind};
use crate::spool::{Spool, short_id};

/// Clock slack between this command and a daemon on another host of a shared spool.
const CLOCK_SLACK_SECONDS: i64 = 5;

/// One input put into an inbox by `chute submit`.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// Its route.
    pub route: String,
    /// Its final name in `inbox/<route>/`.
    pub name: OsString,
    /// The inode of the renamed file or folder (the daemon records it at claim).
    pub inode: u64,
    /// When it was renamed in.
    pub at: DateTime<Utc>,
}

impl Submitted {
    /// Its name as job.json records it (UTF-8, invalid bytes replaced).
    pub fn display_name(&self) -> String {
        entry::display_name(&self.name).0
    }

    /// Whether `record` is the claim of this input.
    pub fn claimed_by(&self, record: &JobRecord) -> bool {
        record.route == self.route
            && record.input.inode == self.inode
            && record.input.name == self.display_name()
            && record.claimed_at >= self.at - chrono::Duration::seconds(CLOCK_SLACK_SECONDS)
    }
}

/// The folder in jobs/ of the job that claimed `input`, while it is live. Only job.json
/// is read.
pub fn live_claim(spool: &Spool, input: &Submitted) -> Option<JobDir> {
    job::list_job_dirs(&spool.jobs())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| {
            dir.read_record()
                .ok()
                .flatten()
                .is_some_and(|record| input.claimed_by(&record))
        })
}

/// The ended job of `input` from its outbox or failed folder: job `job` once its id is
/// known, else the one that claimed `input`.
pub fn ended_claim(spool: &Spool, input: &Submitted, job: Option<Uuid>) -> Option<JobDetails> {
    // Result folders are `<stem>--<short id>`; a folder keeps its whole name as its stem.
    let prefixes = [InputKind::File, InputKind::Directory]
        .map(|kind| entry::result_folder_name(&entry::stem(&input.name, kind), ""));
    ended_in(
        spool,
        &input.route,
        |name| {
            prefixes.iter().any(|prefix| {
                name.as_encoded_bytes()
                    .starts_with(prefix.as_encoded_bytes())
            })
        },
        |details| match job {
            Some(id) => details.job.id == id,
            None => input.claimed_by(&details.job),
        },
    )
}

/// The id of the job that claimed `input`, live or already ended; `None` while the
/// input waits in the inbox.
pub fn claimed_job(spool: &Spool, input: &Submitted) -> Option<Uuid> {
    live_claim(spool, input)
        .map(|dir| dir.id)
        .or_else(|| ended_claim(spool, input, None).map(|details| details.job.id))
}

/// The result folder of job `id` (of `route`) in outbox/ or failed/, once it left jobs/.
pub fn ended_job(spool: &Spool, route: &str, id: Uuid) -> Option<JobDetails> {
    let suffix = format!("--{}", short_id(id));
    ended_in(
        spool,
        route,
        |name| name.as_encoded_bytes().ends_with(suffix.as_bytes()),
        |details| details.job.id == id,
    )
}

/// The first ended job of `route` whose folder name passes `name` and whose details
/// pass `is_it`.
fn ended_in(
    spool: &Spool,
    route: &str,
    name: impl Fn(&OsStr) -> bool,
    is_it: impl Fn(&JobDetails) -> bool,
) -> Option<JobDetails> {
    [spool.outbox(route), spool.failed(route)]
        .iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|folder| {
            let folder = folder.file_name();
            // Hidden names are folders still being moved into place.
            !folder.as_encoded_bytes().starts_with(b".") && name(&folder)
        })
        .filter_map(|folder| catalog::ended_details(spool, &folder.path()))
        .find(is_it)
}
