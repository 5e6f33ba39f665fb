//! What retention would remove now, and why: one list of [`Candidate`]s, oldest first
//! within each kind, each with the rule that matched. The daemon's schedule and
//! `chute gc` both plan here and remove through `sweep.rs`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytesize::ByteSize;
use serde::Serialize;

use super::cache::{self, CacheEntry};
use super::components;
use crate::config::Config;
use crate::spool::Spool;
use crate::spool::inventory::{self, EndedFolder, EndedKind};

/// What kind of material a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A folder in trash/ (a retired job, or an interrupted removal).
    Trash,
    /// One provider result in cache/results/ (its `<key>.*` files).
    Cache,
    /// A delivered result folder in outbox/.
    Delivered,
    /// A failed result folder in failed/.
    Failed,
    /// A compiled plugin in `plugins.compile_cache` (outside the spool).
    ComponentCache,
}

impl ItemKind {
    /// How the kind reads in a log line or a table.
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Trash => "trash",
            ItemKind::Cache => "cache",
            ItemKind::Delivered => "delivered",
            ItemKind::Failed => "failed",
            ItemKind::ComponentCache => "component_cache",
        }
    }
}

/// What exactly is removed for a candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A folder under the spool (result, trash), removed whole.
    Folder(PathBuf),
    /// The files of one result-cache entry, in removal order (the `.json` first, so
    /// a reader never finds it without its bytes).
    CacheFiles(Vec<PathBuf>),
    /// A regular file of this user in the compile cache folder.
    Component {
        /// The compile cache folder.
        dir: PathBuf,
        /// The file's name in it.
        name: String,
    },
}

/// One thing retention would remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its kind.
    pub kind: ItemKind,
    /// What is removed.
    pub target: Target,
    /// How it is shown: relative to the spool, or absolute outside it.
    pub shown: PathBuf,
    /// Its size in bytes (file lengths) when planned.
    pub size: u64,
    /// When it was last written or used.
    pub last_used: SystemTime,
    /// The rule that matched, in words (`retention.done = 7d: delivered 9d ago`).
    pub rule: String,
}

/// Every candidate of the `[retention]` rules at `now`: trash, the result cache (by age,
/// then by `plugins.cache_size`), delivered and failed results, compiled plugins.
pub fn retention(spool: &Spool, config: &Config, now: SystemTime) -> Vec<Candidate> {
    let retention = &config.retention;
    let mut plan = Vec::new();
    // Retired job folders, and removals another sweeper claimed but never finished.
    let trash = inventory::ended_folders(spool, &[EndedKind::Trash])
        .into_iter()
        .chain(inventory::abandoned_removals(spool));
    for folder in trash {
        push_if_older(
            &mut plan,
            spool,
            folder,
            now,
            ("retention.trash", retention.trash),
        );
    }
    plan.extend(cache_by_rules(spool, config, now));
    let mut results = Vec::new();
    for folder in inventory::ended_folders(spool, &[EndedKind::Delivered, EndedKind::Failed]) {
        let rule = match folder.kind {
            EndedKind::Delivered => ("retention.done", retention.done),
            _ => ("retention.failed", retention.failed),
        };
        push_if_older(&mut results, spool, folder, now, rule);
    }
    results.sort_by_key(|candidate| candidate.last_used);
    plan.extend(results);
    plan.extend(components::expired(
        &config.plugins,
        retention.component_cache,
        now,
    ));
    plan
}

/// The result cache's candidates: entries unused for `retention.cache`, then, oldest
/// first, those that keep the rest above `plugins.cache_size`.
fn cache_by_rules(spool: &Spool, config: &Config, now: SystemTime) -> Vec<Candidate> {
    let mut entries = cache::entries(&spool.result_cache());
    entries.sort_by_key(|entry| entry.last_used);
    let bound = config.plugins.cache_size.as_u64();
    let mut kept: u64 = entries.iter().map(|entry| entry.size).sum();
    let mut plan = Vec::new();
    for entry in entries {
        let age = age_at(entry.last_used, now);
        let rule = if age > config.retention.cache {
            format!(
                "retention.cache = {}: unused for {}",
                short_duration(config.retention.cache),
                short_duration(age)
            )
        } else if kept > bound && entry.settled {
            format!(
                "plugins.cache_size = {}: {} over it, least recently used first",
                ByteSize(bound).display().iec(),
                ByteSize(kept - bound).display().iec()
            )
        } else {
            continue;
        };
        kept = kept.saturating_sub(entry.size);
        plan.push(cache_candidate(spool, entry, rule));
    }
    plan
}

/// A cache entry as a candidate.
pub(super) fn cache_candidate(spool: &Spool, entry: CacheEntry, rule: String) -> Candidate {
    Candidate {
        kind: ItemKind::Cache,
        shown: spool.relative(&entry.shown),
        size: entry.size,
        last_used: entry.last_used,
        target: Target::CacheFiles(entry.files),
        rule,
    }
}

/// Adds `folder` when it is older than the rule's age.
fn push_if_older(
    plan: &mut Vec<Candidate>,
    spool: &Spool,
    folder: EndedFolder,
    now: SystemTime,
    (key, max_age): (&str, Duration),
) {
    let last_used = folder.modified.unwrap_or(SystemTime::UNIX_EPOCH);
    let age = age_at(last_used, now);
    if age <= max_age {
        return;
    }
    let kind = folder_kind(folder.kind);
    let rule = format!(
        "{key} = {}: {} {} ago",
        short_duration(max_age),
        match kind {
            ItemKind::Delivered => "delivered",
            ItemKind::Failed => "failed",
            _ => "left",
        },
        short_duration(age)
    );
    plan.push(folder_candidate(spool, folder, rule));
}

/// An ended folder as a candidate (its size walked now).
pub(super) fn folder_candidate(spool: &Spool, folder: EndedFolder, rule: String) -> Candidate {
    Candidate {
        kind: folder_kind(folder.kind),
        shown: spool.relative(&folder.path),
        size: folder.size(),
        last_used: folder.modified.unwrap_or(SystemTime::UNIX_EPOCH),
        target: Target::Folder(folder.path),
        rule,
    }
}

fn folder_kind(kind: EndedKind) -> ItemKind {
    match kind {
        EndedKind::Delivered => ItemKind::Delivered,
        EndedKind::Failed => ItemKind::Failed,
        EndedKind::Trash => ItemKind::Trash,
    }
}

/// How long before `now` `then` was (0 for a time in the future).
pub fn age_at(then: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// A duration as people write it in the config, in its two largest units: `7d`,
/// `1d 12h`, `45m`, `3s`.
pub fn short_duration(duration: Duration) -> String {
    let mut left = duration.as_secs();
    let mut parts = Vec::new();
    for (unit, seconds) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= seconds {
            parts.push(format!("{}{unit}", left / seconds));
            left %= seconds;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
