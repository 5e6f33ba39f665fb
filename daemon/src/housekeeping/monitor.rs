//! The disk monitor: what the `[disk]` watermarks make of each reading, and what the
//! emergency cleanup may remove.
//!
//! The level is the higher of the space and inode percentages of the spool's
//! filesystem. At or above `warn_percent` a warning is logged once per crossing (and
//! once when the level is back below); at or above `pause_percent` claiming is held
//! (inputs wait in the inbox) until the level is below `resume_percent`. While held,
//! with `emergency_cleanup`, the oldest finished material goes first: trash, then the
//! provider result cache (least recently used first), then delivered and failed
//! results older than `cleanup_min_age` (oldest first); never anything in jobs/.

use std::time::SystemTime;

use super::cache;
use super::plan::{Candidate, age_at, cache_candidate, folder_candidate, short_duration};
use crate::spool::Spool;
use crate::spool::config::DiskConfig;
use crate::spool::disk::DiskUsage;
use crate::spool::inventory::{self, EndedKind};

/// What changed with a reading, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The level reached `warn_percent`.
    WarnRaised,
    /// The level is back below `warn_percent`.
    WarnCleared,
    /// The level reached `pause_percent`: claiming is held.
    HoldStarted,
    /// The level is below `resume_percent` again: claiming resumes.
    HoldEnded,
}

/// The watermark state carried from one reading to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermarks {
    /// The level is at or above `warn_percent`.
    pub warning: bool,
    /// Claiming is held.
    pub holding: bool,
}

impl Watermarks {
    /// Takes in a reading; returns what changed, in order.
    pub fn observe(&mut self, disk: &DiskConfig, usage: &DiskUsage) -> Vec<Change> {
        let level = usage.level();
        let mut changes = Vec::new();
        let warning = level >= u64::from(disk.warn_percent);
        if warning != self.warning {
            self.warning = warning;
            changes.push(if warning {
                Change::WarnRaised
            } else {
                Change::WarnCleared
            });
        }
        if !self.holding && level >= u64::from(disk.pause_percent) {
            self.holding = true;
            changes.push(Change::HoldStarted);
        } else if self.holding && level < u64::from(disk.resume_percent) {
            self.holding = false;
            changes.push(Change::HoldEnded);
        }
        changes
    }

    /// Whether the emergency cleanup has work to do at this level.
    pub fn needs_cleanup(&self, disk: &DiskConfig, usage: &DiskUsage) -> bool {
        self.holding && disk.emergency_cleanup && usage.level() >= u64::from(disk.resume_percent)
    }
}

/// What the emergency cleanup may remove, in the order it removes it: every folder in
/// trash/, the result cache least recently used first, then delivered and failed results
/// older than `disk.cleanup_min_age`, oldest first. `level` is the reading that
/// started it (for the rule text).
pub fn emergency_candidates(
    spool: &Spool,
    disk: &DiskConfig,
    level: u64,
    now: SystemTime,
) -> Vec<Candidate> {
    let why = format!(
        "disk.emergency_cleanup: {level}% used, at or above disk.pause_percent = {}",
        disk.pause_percent
    );
    let mut plan = Vec::new();
    let mut trash = inventory::ended_folders(spool, &[EndedKind::Trash]);
    trash.extend(inventory::abandoned_removals(spool));
    trash.sort_by_key(|folder| folder.modified);
    for folder in trash {
        plan.push(folder_candidate(
            spool,
            folder,
            format!("{why}; trash first"),
        ));
    }
    let mut entries = cache::entries(&spool.result_cache());
    entries.sort_by_key(|entry| entry.last_used);
    for entry in entries {
        let rule = format!("{why}; then the result cache, least recently used first");
        plan.push(cache_candidate(spool, entry, rule));
    }
    let mut results: Vec<_> =
        inventory::ended_folders(spool, &[EndedKind::Delivered, EndedKind::Failed])
            .into_iter()
            .filter(|folder| {
                folder
                    .modified
                    .is_some_and(|modified| age_at(modified, now) > disk.cleanup_min_age)
            })
            .collect();
    results.sort_by_key(|folder| folder.modified);
    for folder in results {
        let age = folder
            .modified
            .map_or_else(Default::default, |time| age_at(time, now));
        let rule = format!(
            "{why}; then results older than disk.cleanup_min_age = {}, oldest first ({} ago)",
            short_duration(disk.cleanup_min_age),
            short_duration(age)
        );
        plan.push(folder_candidate(spool, folder, rule));
    }
    plan
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_spool::{DAY, HOUR, age, cache_file, result, spool};
    use super::*;

    #[test]
    fn the_emergency_plan_is_trash_then_cache_then_results_past_the_minimum_age_oldest_first() {
        let (_dir, spool, _config) = spool();
        let now = SystemTime::now();
        result(&spool.outbox_root(), "old--00000001", 1, now, 3 * HOUR);
        result(&spool.outbox_root(), "young--00000002", 1, now, HOUR / 2);
        result(&spool.failed_root(), "older--00000003", 1, now, 5 * HOUR);
        cache_file(&spool, "k2.json", 1, now, HOUR);
        cache_file(&spool, "k1.json", 1, now, DAY);
        let trash = spool.trash().join("0193a1b2-0000-7000-8000-000000000001");
        std::fs::create_dir(&trash).unwrap();
        age(&trash, now, std::time::Duration::ZERO);
        let job = spool.job_dir(uuid::Uuid::now_v7());
        std::fs::create_dir_all(&job).unwrap();

        let plan = emergency_candidates(&spool, &DiskConfig::default(), 93, now);
        let order: Vec<_> = plan
            .iter()
            .map(|candidate| candidate.shown.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            order,
            [
                "trash/0193a1b2-0000-7000-8000-000000000001",
                "cache/results/k1",
                "cache/results/k2",
                "failed/audio/older--00000003",
                "outbox/audio/old--00000001",
            ]
        );
        assert_eq!(
            plan[4].rule,
            "disk.emergency_cleanup: 93% used, at or above disk.pause_percent = 90; then results older than disk.cleanup_min_age = 1h, oldest first (3h ago)"
        );
    }

    fn usage(bytes: u64, inodes: u64) -> DiskUsage {
        DiskUsage {
            used_percent: bytes,
            free_bytes: 1,
            inodes_used_percent: inodes,
            free_inodes: 1,
        }
    }

    #[test]
    fn each_crossing_is_reported_once_and_the_hold_lasts_until_below_resume() {
        let disk = DiskConfig::default(); // warn 80, pause 90, resume 85
        let mut marks = Watermarks::default();
        assert_eq!(marks.observe(&disk, &usage(50, 1)), []);
        assert_eq!(marks.observe(&disk, &usage(81, 1)), [Change::WarnRaised]);
        assert_eq!(marks.observe(&disk, &usage(82, 1)), []);
        // Inodes count as much as bytes.
        assert_eq!(marks.observe(&disk, &usage(10, 95)), [Change::HoldStarted]);
        assert!(marks.needs_cleanup(&disk, &usage(10, 95)));
        assert_eq!(
            marks.observe(&disk, &usage(87, 1)),
            [],
            "still above resume"
        );
        assert!(marks.holding);
        assert_eq!(marks.observe(&disk, &usage(84, 1)), [Change::HoldEnded]);
        assert_eq!(
            marks.observe(&disk, &usage(89, 1)),
            [],
            "below pause: no hold"
        );
        assert_eq!(marks.observe(&disk, &usage(40, 1)), [Change::WarnCleared]);
        assert_eq!(
            marks.observe(&disk, &usage(100, 100)),
            [Change::WarnRaised, Change::HoldStarted]
        );
        let off = DiskConfig {
            emergency_cleanup: false,
            ..DiskConfig::default()
        };
        assert!(!marks.needs_cleanup(&off, &usage(100, 100)));
    }
}
