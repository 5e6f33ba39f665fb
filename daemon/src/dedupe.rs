//! Duplicate detection: one index file per (route, content hash), its `[dedupe]`
//! config, and the pruning of old entries.
//!
//! The first job to create `index/<route>/<hash>.json` (an exclusive create, so two
//! daemons cannot both win) is the original; a later identical input within the window
//! is delivered as a pointer to it. An entry whose job failed, or that is older than the
//! window, is replaced. [`prune`] removes entries older than an age, so the index does
//! not grow without end; [`forget_locations`] those whose result retention removed.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::spool::{Spool, fsutil};

/// `[dedupe]`: identical inputs are delivered once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeConfig {
    /// Turn duplicate detection on or off.
    pub enabled: bool,
    /// An input identical (blake3) to one claimed in the same route within this window is
    /// not processed again; it is delivered as a pointer to the first job's result.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

impl Default for DedupeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(24 * 3600),
        }
    }
}

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
        let found = DuplicateOf {
            job_id: existing.job_id,
            location: existing.location,
        };
        // A failed original does not count: the duplicate gets a real chance.
        if age > window || original(spool, &found) == Original::Gone {
            fsutil::write_json_atomic(&path, mine, false)?;
            return Ok(None);
        }
        return Ok(Some(found));
    }
    Ok(None)
}

fn entry_path(spool: &Spool, route: &str, content_hash: &str) -> PathBuf {
    spool
        .dedupe_index(route)
        .join(format!("{content_hash}.json"))
}

/// Makes `mine` the original of its content whatever the index held (an input
/// submitted with `--force` is processed again, and later duplicates point at it).
pub fn register_anew(
    spool: &Spool,
    route: &str,
    content_hash: &str,
    mine: &IndexEntry,
) -> io::Result<()> {
    let path = entry_path(spool, route, content_hash);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    fsutil::write_json_atomic(&path, mine, false)
}

/// Where the original of a duplicate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Original {
    /// Delivered: the duplicate can point at its outbox folder.
    Delivered,
    /// Still in jobs/: the duplicate waits for its outcome.
    InFlight,
    /// Neither (it failed or was cancelled): the duplicate is processed itself.
    Gone,
}

/// Where the original `duplicate` points at stands now.
pub fn original(spool: &Spool, duplicate: &DuplicateOf) -> Original {
    if spool
        .resolve(Path::new(&duplicate.location))
        .join("result.json")
        .exists()
    {
        Original::Delivered
    } else if spool.job_dir(duplicate.job_id).exists() {
        Original::InFlight
    } else {
        Original::Gone
    }
}

/// Prefix of an entry taken aside by [`prune`] before it is deleted.
const PRUNING_PREFIX: &str = ".pruning-";
/// Prefix of the temporary files of [`fsutil::write_atomic`].
const TEMP_PREFIX: &str = ".tmp-";

/// Removes the index entries of every route that were claimed more than `max_age`
/// before `now` (an unreadable entry counts by its file's mtime), and leftovers of
/// interrupted writes and prunes older than that. Returns how many entries it removed.
///
/// Safe while daemons register entries and while other daemons prune: an entry is
/// first renamed aside (only one pruner can win that rename) and read again; if a daemon
/// replaced it with a fresh one in the meantime, it is put back under its name unless a
/// newer one is already there. At worst a fresh entry is lost, and then an identical
/// input is processed once more: never a wrong `duplicate_of`.
pub fn prune(spool: &Spool, max_age: Duration, now: DateTime<Utc>) -> io::Result<usize> {
    let cutoff = SystemTime::from(now)
        .checked_sub(max_age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let routes = match std::fs::read_dir(spool.dedupe_root()) {
        Ok(routes) => routes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let mut removed = 0;
    for route in routes {
        let route = route?;
        if !route.file_type()?.is_dir() {
            continue;
        }
        let dir = route.path();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // The route folder went away meanwhile.
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let path = entry.path();
            if is_leftover(&name) {
                if modified(&path).is_some_and(|time| time < cutoff) {
                    remove_file_if_present(&path)?;
                }
            } else if is_entry_name(&name)
                && claimed_at(&path).is_some_and(|time| time < cutoff)
                && remove_if_still_old(&path, cutoff)?
            {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Removes the index entries of `route` that point at one of `locations` (result
/// folders that retention removed), so no later duplicate is linked to a result that is
/// gone. Safe like [`prune`]: an entry is taken aside, read again, and put back when a
/// daemon replaced it meanwhile. Returns how many entries it removed.
pub fn forget_locations(
    spool: &Spool,
    route: &str,
    locations: &std::collections::BTreeSet<String>,
) -> io::Result<usize> {
    let entries = match std::fs::read_dir(spool.dedupe_index(route)) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let points_at_removed = |path: &Path| matches!(fsutil::read_json::<IndexEntry>(path), Ok(Some(entry)) if locations.contains(&entry.location));
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default();
        if is_entry_name(name)
            && points_at_removed(&path)
            && remove_aside_if(&path, points_at_removed)?
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Takes the entry at `path` aside and deletes it if it is still older than `cutoff`;
/// puts it back when a daemon replaced it meanwhile. Whether it was removed.
fn remove_if_still_old(path: &Path, cutoff: SystemTime) -> io::Result<bool> {
    remove_aside_if(path, |aside| {
        claimed_at(aside).is_none_or(|time| time < cutoff)
    })
}

/// Takes the entry at `path` aside and deletes it if `still` holds for it there; puts it
/// back otherwise (unless a newer entry took the name). Whether it was removed.
fn remove_aside_if(path: &Path, still: impl Fn(&Path) -> bool) -> io::Result<bool> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(false);
    };
    let mut aside_name = std::ffi::OsString::from(PRUNING_PREFIX);
    aside_name.push(Uuid::now_v7().simple().to_string());
    aside_name.push("-");
    aside_name.push(name);
    let aside = dir.join(aside_name);
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        // Another pruner won, or the entry is gone.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error),
    }
    let still_old = still(&aside);
    if !still_old {
        match std::fs::hard_link(&aside, path) {
            // A newer entry took the name meanwhile: it wins.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            other => other?,
        }
    }
    remove_file_if_present(&aside)?;
    Ok(still_old)
}

/// When the entry at `path` was claimed: its `claimed_at`, or for a torn entry its
/// file's mtime; `None` when it is gone.
fn claimed_at(path: &Path) -> Option<SystemTime> {
    match fsutil::read_json::<IndexEntry>(path) {
        Ok(Some(entry)) => Some(SystemTime::from(entry.claimed_at)),
        Ok(None) => None,
        Err(_) => modified(path),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

fn is_entry_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    bytes.first() != Some(&b'.') && bytes.ends_with(b".json")
}

fn is_leftover(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    bytes.starts_with(PRUNING_PREFIX.as_bytes()) || bytes.starts_with(TEMP_PREFIX.as_bytes())
}

fn remove_file_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn register(spool: &Spool, route: &str, hash: &str, claimed_at: DateTime<Utc>) -> PathBuf {
        let entry = IndexEntry {
            job_id: Uuid::now_v7(),
            claimed_at,
            location: format!("outbox/{route}/x--{hash}"),
        };
        let path = entry_path(spool, route, hash);
        fsutil::write_json_atomic(&path, &entry, false).unwrap();
        path
    }

    fn set_mtime(path: &Path, time: SystemTime) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn prune_removes_old_entries_and_leftovers_and_keeps_fresh_ones() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.create_layout(["audio", "briefs"]).unwrap();
        let now = Utc::now();
        let old = register(&spool, "audio", "aaaa", now - chrono::Duration::hours(30));
        let fresh = register(&spool, "audio", "bbbb", now - chrono::Duration::hours(1));
        let other_route = register(&spool, "briefs", "cccc", now - chrono::Duration::days(9));
        let torn = spool.dedupe_index("audio").join("dddd.json");
        std::fs::write(&torn, b"{\"job_id\": ").unwrap();
        set_mtime(&torn, SystemTime::from(now) - 48 * HOUR);
        let leftover = spool.dedupe_index("audio").join(".tmp-abc");
        std::fs::write(&leftover, b"{").unwrap();
        set_mtime(&leftover, SystemTime::from(now) - 48 * HOUR);
        let new_leftover = spool.dedupe_index("audio").join(".pruning-x-eeee.json");
        std::fs::write(&new_leftover, b"{").unwrap();

        assert_eq!(prune(&spool, 24 * HOUR, now).unwrap(), 3);
        assert!(!old.exists() && !other_route.exists() && !torn.exists());
        assert!(!leftover.exists());
        assert!(fresh.exists(), "an entry inside the age is kept");
        assert!(
            new_leftover.exists(),
            "a prune in progress elsewhere is left alone"
        );
        assert_eq!(prune(&spool, 24 * HOUR, now).unwrap(), 0);
    }

    #[test]
    fn an_entry_replaced_during_a_prune_is_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.create_layout(["audio"]).unwrap();
        let now = Utc::now();
        // The pruner saw an old entry; a daemon replaced it before the pruner took it.
        let path = register(&spool, "audio", "aaaa", now);
        let cutoff = SystemTime::from(now) - HOUR;
        assert!(!remove_if_still_old(&path, cutoff).unwrap());
        let entry: IndexEntry = fsutil::read_json(&path).unwrap().unwrap();
        assert_eq!(entry.claimed_at, now);
        let names: Vec<_> = std::fs::read_dir(spool.dedupe_index("audio"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["aaaa.json"], "nothing is left aside");
    }

    #[test]
    fn two_pruners_at_once_remove_each_old_entry_once() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.create_layout(["audio"]).unwrap();
        let now = Utc::now();
        for index in 0..200 {
            register(
                &spool,
                "audio",
                &format!("{index:04x}"),
                now - chrono::Duration::days(2),
            );
        }
        let fresh = register(&spool, "audio", "ffff", now);
        let removed: usize = std::thread::scope(|scope| {
            let pruners: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| prune(&spool, 24 * HOUR, now).unwrap()))
                .collect();
            pruners
                .into_iter()
                .map(|pruner| pruner.join().unwrap())
                .sum()
        });
        assert_eq!(removed, 200);
        let left: Vec<_> = std::fs::read_dir(spool.dedupe_index("audio"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        assert_eq!(left, [fresh]);
    }

    #[test]
    fn prune_of_a_spool_without_an_index_removes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        assert_eq!(prune(&spool, HOUR, Utc::now()).unwrap(), 0);
    }
}
