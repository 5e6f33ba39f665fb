//! Finding one job without listing the whole spool: the job that claimed an input
//! `chute submit` renamed into an inbox — in jobs/ while it runs, in outbox/ or failed/
//! once it ended — and the result folder of a job that left jobs/.
//!
//! An input is known by its route, its final name in the inbox and the inode of the
//! renamed file, from the moment it was renamed in; the daemon records all three in
//! job.json when it claims it. A filesystem reuses a freed inode number at once, so an
//! earlier submission of the same name (whose entry the daemon copied and freed) can
//! carry the same three: the jobs that already matched before the rename are set
//! aside, and of the rest the first claimed is the one.

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
    /// Jobs that had claimed an entry of the same route, name and inode just before
    /// this one was renamed in: never this input's.
    pub earlier: Vec<Uuid>,
}

impl Submitted {
    /// The input about to be renamed into `inbox/<route>/<name>` as inode `inode`,
    /// with the jobs that already match it set aside. Call it just before the rename.
    pub fn before_rename(spool: &Spool, route: &str, name: OsString, inode: u64) -> Self {
        let mut input = Submitted {
            route: route.to_owned(),
            name,
            inode,
            at: Utc::now(),
            earlier: Vec::new(),
        };
        input.earlier = claims(spool, &input).map(|claim| claim.id()).collect();
        input
    }

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
            && !self.earlier.contains(&record.id)
    }
}

/// A job that claimed a submitted input.
pub enum Claim {
    /// Still in jobs/.
    Live(JobDir, Box<JobRecord>),
    /// Delivered to outbox/ or failed/.
    Ended(Box<JobDetails>),
}

impl Claim {
    /// The job's id.
    pub fn id(&self) -> Uuid {
        self.record().id
    }

    fn record(&self) -> &JobRecord {
        match self {
            Claim::Live(_, record) => record,
            Claim::Ended(details) => &details.job,
        }
    }
}

/// The job that claimed `input`: of those that match, the first claimed. `None` while
/// the input waits in the inbox.
pub fn first_claim(spool: &Spool, input: &Submitted) -> Option<Claim> {
    claims(spool, input).min_by_key(|claim| (claim.record().claimed_at, claim.id()))
}

/// The id of the job that claimed `input`, live or already ended; `None` while the
/// input waits in the inbox.
pub fn claimed_job(spool: &Spool, input: &Submitted) -> Option<Uuid> {
    first_claim(spool, input).map(|claim| claim.id())
}

/// Every job, live or ended, whose record matches `input`. Only job.json is read in
/// jobs/.
fn claims<'a>(spool: &'a Spool, input: &'a Submitted) -> impl Iterator<Item = Claim> + 'a {
    let live = job::list_job_dirs(&spool.jobs())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| {
            let record = dir.read_record().ok().flatten()?;
            input
                .claimed_by(&record)
                .then(|| Claim::Live(dir, Box::new(record)))
        });
    // Result folders are `<stem>--<short id>`; a folder keeps its whole name as its stem.
    let prefixes = [InputKind::File, InputKind::Directory]
        .map(|kind| entry::result_folder_name(&entry::stem(&input.name, kind), ""));
    let ended = ended_in(
        spool,
        &input.route,
        move |name| {
            prefixes.iter().any(|prefix| {
                name.as_encoded_bytes()
                    .starts_with(prefix.as_encoded_bytes())
            })
        },
        |details| input.claimed_by(&details.job),
    )
    .map(|details| Claim::Ended(Box::new(details)));
    live.chain(ended)
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
    .next()
}

/// The ended jobs of `route` whose folder name passes `name` and whose details pass
/// `is_it`.
fn ended_in<'a>(
    spool: &Spool,
    route: &str,
    name: impl Fn(&OsStr) -> bool + 'a,
    is_it: impl Fn(&JobDetails) -> bool + 'a,
) -> impl Iterator<Item = JobDetails> + 'a {
    let spool = spool.clone();
    [spool.outbox(route), spool.failed(route)]
        .into_iter()
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|entries| entries.flatten())
        .filter(move |folder| {
            let folder = folder.file_name();
            // Hidden names are folders still being moved into place.
            !folder.as_encoded_bytes().starts_with(b".") && name(&folder)
        })
        .filter_map(move |folder| catalog::ended_details(&spool, &folder.path()))
        .filter(is_it)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::spool::fsutil;

    /// Writes job.json of a live job that claimed `name` (inode `inode`) of route `a`.
    fn claim(spool: &Spool, name: &str, inode: u64) -> Uuid {
        let id = Uuid::now_v7();
        let dir = spool.job_dir(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut record = JobRecord {
            id,
            route: "a".into(),
            claimed_at: Utc::now(),
            ..JobRecord::default()
        };
        record.input.name = name.into();
        record.input.inode = inode;
        fsutil::write_json_atomic(&JobDir::new(id, dir).record_path(), &record, false).unwrap();
        id
    }

    #[test]
    fn an_earlier_job_with_a_reused_inode_is_not_this_inputs() {
        let root = tempfile::tempdir().unwrap();
        let spool = Spool::new(root.path());
        // The previous submission of report.bin: claimed a moment ago, its inbox
        // entry freed, and its inode number handed to this submission's file.
        let previous = claim(&spool, "report.bin", 42);
        let input = Submitted::before_rename(&spool, "a", "report.bin".into(), 42);
        assert_eq!(input.earlier, [previous]);
        assert_eq!(claimed_job(&spool, &input), None, "not claimed yet");

        let mine = claim(&spool, "report.bin", 42);
        claim(&spool, "other.bin", 42);
        assert_eq!(claimed_job(&spool, &input), Some(mine));
        // A later submission that got the number once this input's entry was freed
        // again is claimed after it: the first claim is still this input's.
        std::thread::sleep(std::time::Duration::from_millis(2));
        claim(&spool, "report.bin", 42);
        assert_eq!(claimed_job(&spool, &input), Some(mine));
    }
}
