//! Duplicate detection: one index file per (route, content hash).
//!
//! The first job to create `index/<route>/<hash>.json` (an exclusive create, so two
//! daemons cannot both win) is the original; a later identical input within the window
//! is delivered as a pointer to it. An entry whose job failed, or that is older than the
//! window, is replaced.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::spool::{Spool, fsutil};

/// One index entry: the job that first processed this content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The original job.
    pub job_id: Uuid,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
    /// Its result folder relative to the spool root (`outbox/<route>/<stem>--<short>`).
    pub location: String,
}

/// What the second of two identical inputs points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateOf {
    /// The original job.
    pub job_id: Uuid,
    /// Its result folder relative to the spool root.
    pub location: String,
}

/// Decides whether the job described by `mine` is a duplicate, registering it as the
/// original when it is not.
pub fn check_and_register(
    spool: &Spool,
    route: &str,
    content_hash: &str,
    mine: &IndexEntry,
    window: Duration,
) -> io::Result<Option<DuplicateOf>> {
    let path = entry_path(spool, route, content_hash);
    for _ in 0..3 {
        let bytes = serde_json::to_vec_pretty(mine).map_err(io::Error::other)?;
        match fsutil::write_new(&path, &bytes) {
            Ok(()) => return Ok(None),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
        let existing: IndexEntry = match fsutil::read_json(&path) {
            Ok(Some(entry)) => entry,
            // Vanished meanwhile (gc) or torn: start over / replace it.
            Ok(None) => continue,
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                fsutil::write_json_atomic(&path, mine, false)?;
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        if existing.job_id == mine.job_id {
            return Ok(None);
        }
        let age = (mine.claimed_at - existing.claimed_at)
            .to_std()
            .unwrap_or_default();
        let original_alive = original_is_done_or_running(spool, &existing);
        if age > window || !original_alive {
            fsutil::write_json_atomic(&path, mine, false)?;
            return Ok(None);
        }
        return Ok(Some(DuplicateOf {
            job_id: existing.job_id,
            location: existing.location,
        }));
    }
    Ok(None)
}

fn entry_path(spool: &Spool, route: &str, content_hash: &str) -> PathBuf {
    spool
        .dedupe_index(route)
        .join(format!("{content_hash}.json"))
}

/// The original counts while it is delivered or still in jobs/; a failed original does
/// not (the duplicate gets a real chance).
fn original_is_done_or_running(spool: &Spool, entry: &IndexEntry) -> bool {
    let delivered: &Path = Path::new(&entry.location);
    spool.resolve(delivered).join("result.json").exists() || spool.job_dir(entry.job_id).exists()
}
