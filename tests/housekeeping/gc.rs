//! `chute gc`: exactly the expired items, a dry run that removes nothing, the space
//! freed, live duplicates' originals kept, and two runs at once never both removing
//! (or reporting) the same item.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use super::harness::{Config, Spool};
use super::{DAY, HOUR, file, folder, lay_out};

fn paths(report: &Value, list: &str) -> BTreeSet<String> {
    report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {report}"))
        .iter()
        .map(|item| item["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn gc_lists_exactly_the_expired_items_removes_them_and_reports_the_space_freed() {
    let spool = Spool::new(&Config::default());
    let root = spool.root.clone();
    lay_out(&root);
    // Expired by the default rules.
    folder(&root, "outbox/archive/old--0000000a", 1000, 10 * DAY);
    folder(&root, "failed/archive/broken--0000000b", 2000, 20 * DAY);
    folder(
        &root,
        "trash/0193a1b2-0000-7000-8000-00000000000f",
        300,
        2 * HOUR,
    );
    file(&root, "cache/results/k1.json", 50, 40 * DAY);
    file(&root, "cache/results/k1.bin", 400, 40 * DAY);
    // The compiled-plugin cache this test's processes use (outside the spool).
    let components = root.parent().unwrap().join("compile-cache/components");
    std::fs::create_dir_all(&components).unwrap();
    std::fs::set_permissions(&components, std::fs::Permissions::from_mode(0o700)).unwrap();
    let old_component = file(&components, "old.cwasm", 700, 40 * DAY);
    // Kept: younger than their rule.
    let kept = [
        folder(&root, "outbox/archive/fresh--0000000c", 10, DAY),
        folder(&root, "failed/archive/recent--0000000d", 10, 10 * DAY),
        file(&root, "cache/results/k2.json", 10, DAY),
        file(&components, "new.cwasm", 10, HOUR),
    ];
    // Kept: an old original that a live duplicate in jobs/ points at.
    let original = folder(&root, "outbox/archive/orig--0000000e", 10, 10 * DAY);
    let job = root.join("jobs/0193a1b2-0000-7000-8000-000000000001");
    std::fs::create_dir_all(&job).unwrap();
    let state = json!({"status": "running", "stages": [{"name": "prepare", "status": "done",
        "outputs": {"duplicate_of": {"job_id": "0193a1b2-0000-7000-8000-000000000002",
        "location": "outbox/archive/orig--0000000e"}}}]});
    std::fs::write(job.join("state.json"), state.to_string()).unwrap();
    let index_of_old = root.join("index/archive/aaaa.json");
    let entry = |location: &str| {
        json!({"job_id": "0193a1b2-0000-7000-8000-000000000003",
            "claimed_at": chrono::Utc::now().to_rfc3339(), "location": location})
        .to_string()
    };
    std::fs::write(&index_of_old, entry("outbox/archive/old--0000000a")).unwrap();
    let index_of_fresh = root.join("index/archive/bbbb.json");
    std::fs::write(&index_of_fresh, entry("outbox/archive/fresh--0000000c")).unwrap();

    let expected: BTreeSet<String> = [
        "outbox/archive/old--0000000a".to_owned(),
        "failed/archive/broken--0000000b".to_owned(),
        "trash/0193a1b2-0000-7000-8000-00000000000f".to_owned(),
        "cache/results/k1".to_owned(),
        old_component.display().to_string(),
    ]
    .into();

    let dry = spool.cli(["gc", "--dry-run", "--json"]);
    assert_eq!(dry.code, Some(0), "{dry:?}");
    let report = dry.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(paths(&report, "removed"), expected);
    assert_eq!(report["freed_bytes"], 1000 + 2000 + 300 + 450 + 700);
    assert_eq!(
        paths(&report, "kept"),
        ["outbox/archive/orig--0000000e".to_owned()].into()
    );
    let rules: Vec<(String, String, u64)> = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["kind"].as_str().unwrap().to_owned(),
                item["rule"].as_str().unwrap().to_owned(),
                item["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        [
            (
                "trash".into(),
                "retention.trash = 1h: left 2h ago".into(),
                300
            ),
            (
                "cache".into(),
                "retention.cache = 30d: unused for 40d".into(),
                450
            ),
            (
                "failed".into(),
                "retention.failed = 14d: failed 20d ago".into(),
                2000
            ),
            (
                "delivered".into(),
                "retention.done = 7d: delivered 10d ago".into(),
                1000
            ),
            (
                "component_cache".into(),
                "retention.component_cache = 30d: unused for 40d".into(),
                700
            ),
        ]
    );
    // A cache entry is shown as cache/results/<key>: its files are <key>.*.
    let on_disk = |path: &String| match path.strip_prefix("cache/results/") {
        Some(key) => root.join(format!("cache/results/{key}.json")),
        None => root.join(path),
    };
    for path in &expected {
        assert!(on_disk(path).exists(), "a dry run removed {path}");
    }
    assert!(root.join("cache/results/k1.bin").exists());
    let text = spool.cli(["gc", "--dry-run"]);
    assert!(
        text.stdout
            .contains("5 items, 4.3 KiB would be freed (dry run: nothing was removed)"),
        "{text:?}"
    );

    let run = spool.cli(["gc", "--json"]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let report = run.json();
    assert_eq!(report["dry_run"], false);
    assert_eq!(paths(&report, "removed"), expected);
    assert_eq!(report["freed_bytes"], 4450);
    for path in &expected {
        assert!(!on_disk(path).exists(), "gc left {path}");
    }
    assert!(!root.join("cache/results/k1.bin").exists());
    for path in kept.iter().chain([&original, &job]) {
        assert!(path.exists(), "gc removed {}", path.display());
    }
    assert!(
        !index_of_old.exists(),
        "the index entry of a removed result goes too"
    );
    assert!(index_of_fresh.exists());
    assert_eq!(report["index_entries_removed"], 1);
    assert!(
        std::fs::read_dir(root.join("trash"))
            .unwrap()
            .next()
            .is_none(),
        "no claim is left in trash/"
    );

    let again = spool.cli(["gc"]);
    assert_eq!(again.code, Some(0));
    assert!(again.stdout.contains("nothing to remove"), "{again:?}");
}

#[test]
fn two_gc_runs_at_once_never_both_remove_the_same_item() {
    let spool = Spool::new(&Config::default());
    let root = spool.root.clone();
    lay_out(&root);
    let mut expected = BTreeSet::new();
    for index in 0..150 {
        let rel = format!("outbox/archive/r{index}--{index:08x}");
        folder(&root, &rel, 100, 9 * DAY);
        expected.insert(rel);
        super::file(&root, &format!("cache/results/k{index}.json"), 10, 40 * DAY);
        expected.insert(format!("cache/results/k{index}"));
    }
    let (first, second) = std::thread::scope(|scope| {
        let one = scope.spawn(|| spool.cli(["gc", "--json"]));
        let two = scope.spawn(|| spool.cli(["gc", "--json"]));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!(first.code, Some(0), "{first:?}");
    assert_eq!(second.code, Some(0), "{second:?}");
    let (first, second) = (first.json(), second.json());
    let (mine, theirs) = (paths(&first, "removed"), paths(&second, "removed"));
    assert!(
        mine.is_disjoint(&theirs),
        "both reported {:?}",
        mine.intersection(&theirs).collect::<Vec<_>>()
    );
    let all: BTreeSet<String> = mine.union(&theirs).cloned().collect();
    assert_eq!(all, expected);
    let freed = first["freed_bytes"].as_u64().unwrap() + second["freed_bytes"].as_u64().unwrap();
    assert_eq!(freed, 150 * 100 + 150 * 10);
    assert!(spool.visible("outbox/archive").is_empty());
    assert!(
        std::fs::read_dir(root.join("trash"))
            .unwrap()
            .next()
            .is_none()
    );
}
