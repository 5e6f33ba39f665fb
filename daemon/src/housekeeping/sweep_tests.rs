#![allow(clippy::unwrap_used)]
use std::time::SystemTime;

use chrono::Utc;
use serde_json::json;

use super::super::plan::{self, Candidate};
use super::super::test_spool::{DAY, cache_file, result, spool};
use super::*;
use crate::dedupe::IndexEntry;
use crate::job::state::JobState;

fn remove_all(spool: &Spool, plan: &[Candidate]) -> Vec<(String, String)> {
    let mut sweeper = Sweeper::new(spool);
    let outcomes = plan
        .iter()
        .map(|candidate| {
            let outcome = match sweeper.remove(candidate) {
                Outcome::Removed(_) => "removed",
                Outcome::Gone => "gone",
                Outcome::InUse => "in use",
                Outcome::Failed(error) => panic!("{error}"),
            };
            (
                candidate.shown.to_string_lossy().into_owned(),
                outcome.to_owned(),
            )
        })
        .collect();
    sweeper.finish(None);
    outcomes
}

fn index_entry(spool: &Spool, hash: &str, location: &str) -> std::path::PathBuf {
    let path = spool.dedupe_index("audio").join(format!("{hash}.json"));
    let entry = IndexEntry {
        job_id: Uuid::now_v7(),
        claimed_at: Utc::now(),
        location: location.to_owned(),
    };
    fsutil::write_json_atomic(&path, &entry, false).unwrap();
    path
}

#[test]
fn a_result_a_live_duplicate_points_at_stays_and_index_entries_of_removed_results_go() {
    let (_dir, spool, config) = spool();
    let now = SystemTime::now();
    let original = result(&spool.outbox_root(), "orig--00000001", 5, now, 10 * DAY);
    let other = result(&spool.outbox_root(), "other--00000002", 5, now, 10 * DAY);
    // A live duplicate of `orig` (its prepare stage recorded the original).
    let job = spool.job_dir(Uuid::now_v7());
    std::fs::create_dir_all(&job).unwrap();
    let mut state = JobState::new(&["prepare", "passthrough"]);
    state.stages[0].outputs.insert(
        "duplicate_of".into(),
        json!({"job_id": Uuid::now_v7(), "location": "outbox/audio/orig--00000001"}),
    );
    fsutil::write_json_atomic(&job.join("state.json"), &state, false).unwrap();
    let to_other = index_entry(&spool, "aaaa", "outbox/audio/other--00000002");
    let to_original = index_entry(&spool, "bbbb", "outbox/audio/orig--00000001");
    let to_fresh = index_entry(&spool, "cccc", "outbox/audio/fresh--00000003");

    let plan = plan::retention(&spool, &config, now);
    assert_eq!(plan.len(), 2, "{plan:?}");
    let mut outcomes = remove_all(&spool, &plan);
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("outbox/audio/orig--00000001".into(), "in use".into()),
            ("outbox/audio/other--00000002".into(), "removed".into()),
        ]
    );
    assert!(original.join("result.json").exists() && !other.exists());
    assert!(job.join("state.json").exists(), "jobs/ is never touched");
    assert!(
        !to_other.exists(),
        "the entry of a removed result goes with it"
    );
    assert!(to_original.exists() && to_fresh.exists());
    let left: Vec<_> = std::fs::read_dir(spool.trash()).unwrap().collect();
    assert!(left.is_empty(), "no claim is left behind: {left:?}");
}

#[test]
fn two_sweepers_at_once_remove_each_item_once() {
    let (_dir, spool, config) = spool();
    let now = SystemTime::now();
    for index in 0..60 {
        result(
            &spool.outbox_root(),
            &format!("r{index}--{index:08x}"),
            3,
            now,
            9 * DAY,
        );
        cache_file(&spool, &format!("k{index}.json"), 2, now, 40 * DAY);
        cache_file(&spool, &format!("k{index}.bin"), 4, now, 40 * DAY);
    }
    let plan = plan::retention(&spool, &config, now);
    assert_eq!(plan.len(), 120);
    let (first, second) = std::thread::scope(|scope| {
        let one = scope.spawn(|| remove_all(&spool, &plan));
        let two = scope.spawn(|| remove_all(&spool, &plan));
        (one.join().unwrap(), two.join().unwrap())
    });
    for ((path, mine), (same, theirs)) in first.iter().zip(&second) {
        assert_eq!(path, same);
        let outcomes = [mine.as_str(), theirs.as_str()];
        assert!(
            outcomes == ["removed", "gone"] || outcomes == ["gone", "removed"],
            "{path}: {outcomes:?}"
        );
    }
    assert!(
        crate::spool::inventory::ended_folders(&spool, &crate::spool::inventory::EndedKind::ALL)
            .is_empty()
    );
    assert_eq!(std::fs::read_dir(spool.result_cache()).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(spool.trash()).unwrap().count(), 0);
}
