//! Removing planned candidates safely while other daemons (and other `chute gc` runs)
//! work on the same spool.
//!
//! Every removal is claimed first by one atomic rename into a private name under trash/
//! (`trash/.gc-<id>`): of several processes removing the same thing, one rename wins and
//! the others get "not found" and skip it, so nothing is removed (or reported) twice.
//! A delivered folder is checked after its claim against the live jobs that point at
//! it as their original (a duplicate in jobs/): if one does, it is put back. The dedupe
//! index entries of removed results are removed too (`dedupe::forget_locations`), so no
//! later duplicate is linked to a result that is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::components;
use super::live;
use super::plan::{Candidate, ItemKind, Target};
use crate::spool::{Spool, fsutil, inventory};

/// What became of one candidate.
#[derive(Debug)]
pub enum Outcome {
    /// This process removed it: this many bytes.
    Removed(u64),
    /// It was gone when claimed (another process removed it, or it changed).
    Gone,
    /// A live job points at it; it stays.
    InUse,
    /// It could not be removed.
    Failed(io::Error),
}

/// Removes candidates, one at a time; [`Sweeper::finish`] then tidies the dedupe index.
pub struct Sweeper<'a> {
    spool: &'a Spool,
    /// Jobs whose state.json changed after this are read again after each claim.
    since: SystemTime,
    /// The originals live jobs pointed at when the sweep began.
    in_use: BTreeSet<String>,
    /// Removed delivered results per route, for the dedupe index.
    removed_results: BTreeMap<String, BTreeSet<String>>,
}

/// Slack for coarse file times when asking which state.json changed since a moment.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

impl<'a> Sweeper<'a> {
    /// A sweep of `spool` starting now.
    pub fn new(spool: &'a Spool) -> Sweeper<'a> {
        let since = SystemTime::now()
            .checked_sub(CLOCK_SLACK)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        Sweeper {
            spool,
            since,
            in_use: live::originals_in_use(spool, SystemTime::UNIX_EPOCH),
            removed_results: BTreeMap::new(),
        }
    }

    /// Removes one candidate (claiming it first).
    pub fn remove(&mut self, candidate: &Candidate) -> Outcome {
        let result = match &candidate.target {
            Target::Folder(path) => self.remove_folder(candidate.kind, path),
            Target::CacheFiles(files) => self.remove_cache_files(files),
            Target::Component { dir, name } => components::remove(dir, name, candidate.last_used)
                .map(|removed| match removed {
                    Some(size) => Outcome::Removed(size),
                    None => Outcome::Gone,
                }),
        };
        result.unwrap_or_else(Outcome::Failed)
    }

    fn remove_folder(&mut self, kind: ItemKind, path: &Path) -> io::Result<Outcome> {
        let location = self.spool.relative(path).to_string_lossy().into_owned();
        let original = kind == ItemKind::Delivered;
        if original && self.in_use.contains(&location) {
            return Ok(Outcome::InUse);
        }
        let claim = self.spool.removal_claim(Uuid::now_v7());
        match std::fs::rename(path, &claim) {
            Ok(()) => {}
            // Another process (maybe on another host) claimed it first.
            Err(error) if fsutil::is_gone(&error) => return Ok(Outcome::Gone),
            Err(error) => return Err(error),
        }
        if original && live::originals_in_use(self.spool, self.since).contains(&location) {
            // A job became its duplicate while we looked: it stays where it was.
            std::fs::rename(&claim, path)?;
            return Ok(Outcome::InUse);
        }
        let size = inventory::tree_size(&claim);
        fsutil::remove_tree(&claim)?;
        if original && let Some(route) = route_of(&location) {
            self.removed_results
                .entry(route)
                .or_default()
                .insert(location);
        }
        Ok(Outcome::Removed(size))
    }

    /// Moves the entry's files into one claim folder (the `.json` first: the process
    /// that moves it owns the entry), then removes the folder.
    fn remove_cache_files(&mut self, files: &[std::path::PathBuf]) -> io::Result<Outcome> {
        let claim = self.spool.removal_claim(Uuid::now_v7());
        std::fs::create_dir(&claim)?;
        let mut size = 0;
        for (index, file) in files.iter().enumerate() {
            let Some(name) = file.file_name() else {
                continue;
            };
            let moved = claim.join(name);
            match std::fs::rename(file, &moved) {
                Ok(()) => size += std::fs::symlink_metadata(&moved).map_or(0, |meta| meta.len()),
                Err(error) if fsutil::is_gone(&error) => {
                    if index == 0 {
                        fsutil::remove_tree(&claim)?;
                        return Ok(Outcome::Gone);
                    }
                }
                Err(error) => {
                    fsutil::remove_tree(&claim)?;
                    return Err(error);
                }
            }
        }
        fsutil::remove_tree(&claim)?;
        Ok(Outcome::Removed(size))
    }

    /// Removes the dedupe index entries that point at results this sweep removed, and
    /// with `dedupe_window`, index entries older than it (they no longer make anything
    /// a duplicate); returns how many entries went.
    pub fn finish(self, dedupe_window: Option<Duration>) -> usize {
        let mut forgotten = 0;
        for (route, locations) in &self.removed_results {
            match crate::dedupe::forget_locations(self.spool, route, locations) {
                Ok(count) => forgotten += count,
                Err(error) => tracing::warn!(%route, %error, "Could not tidy the dedupe index."),
            }
        }
        if let Some(window) = dedupe_window {
            match crate::dedupe::prune(self.spool, window, chrono::Utc::now()) {
                Ok(count) => forgotten += count,
                Err(error) => tracing::warn!(%error, "Could not prune the dedupe index."),
            }
        }
        forgotten
    }
}

/// The route of `outbox/<route>/<folder>`.
fn route_of(location: &str) -> Option<String> {
    let mut parts = Path::new(location).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), Some(Component::Normal(route))) => {
            Some(route.to_string_lossy().into_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod tests;
