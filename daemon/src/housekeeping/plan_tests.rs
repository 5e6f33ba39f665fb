#![allow(clippy::unwrap_used)]
use super::super::test_spool::{DAY, HOUR, age, cache_file, result, spool};
use super::*;

fn shown(plan: &[Candidate]) -> Vec<(ItemKind, String, String)> {
    plan.iter()
        .map(|candidate| {
            (
                candidate.kind,
                candidate.shown.to_string_lossy().into_owned(),
                candidate.rule.clone(),
            )
        })
        .collect()
}

#[test]
fn retention_picks_exactly_the_expired_items_oldest_first_with_the_rule_that_matched() {
    let (_dir, spool, config) = spool();
    let now = SystemTime::now();
    let outbox = spool.outbox_root();
    let failed = spool.failed_root();
    result(&outbox, "ten--0000000a", 10, now, 10 * DAY);
    result(&outbox, "one--0000000b", 10, now, DAY);
    result(&outbox, "eight--0000000e", 10, now, 8 * DAY + 3 * HOUR);
    result(&failed, "twenty--0000000c", 20, now, 20 * DAY);
    result(&failed, "ten--0000000d", 10, now, 10 * DAY);
    let old_trash = spool.trash().join("0193a1b2-0000-7000-8000-000000000001");
    std::fs::create_dir(&old_trash).unwrap();
    std::fs::write(old_trash.join("state.json"), b"{}").unwrap();
    age(&old_trash, now, 2 * HOUR);
    let new_trash = spool.trash().join("0193a1b2-0000-7000-8000-000000000002");
    std::fs::create_dir(&new_trash).unwrap();
    cache_file(&spool, "k1.json", 3, now, 40 * DAY);
    cache_file(&spool, "k1.bin", 5, now, 40 * DAY);
    cache_file(&spool, "k2.json", 3, now, DAY);

    let plan = retention(&spool, &config, now);
    assert_eq!(
        shown(&plan),
        [
            (
                ItemKind::Trash,
                "trash/0193a1b2-0000-7000-8000-000000000001".into(),
                "retention.trash = 1h: left 2h ago".into()
            ),
            (
                ItemKind::Cache,
                "cache/results/k1".into(),
                "retention.cache = 30d: unused for 40d".into()
            ),
            (
                ItemKind::Failed,
                "failed/audio/twenty--0000000c".into(),
                "retention.failed = 14d: failed 20d ago".into()
            ),
            (
                ItemKind::Delivered,
                "outbox/audio/ten--0000000a".into(),
                "retention.done = 7d: delivered 10d ago".into()
            ),
            (
                ItemKind::Delivered,
                "outbox/audio/eight--0000000e".into(),
                "retention.done = 7d: delivered 8d 3h ago".into()
            ),
        ]
    );
    let sizes: Vec<u64> = plan.iter().map(|candidate| candidate.size).collect();
    assert_eq!(sizes, [2, 8, 20, 10, 10]);
    assert_eq!(
        plan[1].target,
        Target::CacheFiles(vec![
            spool.result_cache().join("k1.json"),
            spool.result_cache().join("k1.bin")
        ])
    );
}

#[test]
fn the_cache_size_bound_removes_the_least_recently_used_until_the_rest_fits() {
    let (_dir, spool, mut config) = spool();
    config.plugins.cache_size = bytesize::ByteSize::b(10);
    let now = SystemTime::now();
    cache_file(&spool, "k1.json", 4, now, 3 * DAY);
    cache_file(&spool, "k2.json", 4, now, 2 * DAY);
    cache_file(&spool, "k3.json", 4, now, DAY);
    // A write in progress is never removed by the size bound, only by age.
    cache_file(&spool, ".tmp-k4", 4, now, 4 * DAY);

    let plan = retention(&spool, &config, now);
    // The leftover's bytes count: it takes space too.
    assert_eq!(
        shown(&plan),
        [
            (
                ItemKind::Cache,
                "cache/results/k1".into(),
                "plugins.cache_size = 10 B: 6 B over it, least recently used first".into()
            ),
            (
                ItemKind::Cache,
                "cache/results/k2".into(),
                "plugins.cache_size = 10 B: 2 B over it, least recently used first".into()
            ),
        ]
    );

    config.plugins.cache_size = bytesize::ByteSize::b(3);
    let names: Vec<_> = retention(&spool, &config, now)
        .iter()
        .map(|candidate| candidate.shown.to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["cache/results/k1", "cache/results/k2", "cache/results/k3"]
    );
}

#[test]
fn nothing_young_is_planned() {
    let (_dir, spool, config) = spool();
    let now = SystemTime::now();
    result(&spool.outbox_root(), "new--00000001", 5, now, 6 * DAY);
    result(&spool.failed_root(), "new--00000002", 5, now, 13 * DAY);
    cache_file(&spool, "k.json", 5, now, 29 * DAY);
    assert!(retention(&spool, &config, now).is_empty());
}

#[test]
fn durations_read_as_in_the_config() {
    assert_eq!(short_duration(Duration::from_secs(7 * 86_400)), "7d");
    assert_eq!(short_duration(Duration::from_secs(36 * 3_600)), "1d 12h");
    assert_eq!(
        short_duration(Duration::from_secs(86_400 + 1_800 + 5)),
        "1d 30m"
    );
    assert_eq!(short_duration(Duration::from_secs(45 * 60)), "45m");
    assert_eq!(short_duration(Duration::from_millis(300)), "0s");
}
