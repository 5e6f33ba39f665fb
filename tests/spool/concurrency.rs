//! Several daemons on one spool, and queue limits.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::{Duration, Instant};

use crate::drops::assert_each_delivered_once;
use crate::harness::{
    Config, Route, Spool, all_entries, hidden_temp_name, os, random_bytes, read_job_state, secs,
    wait_until,
};

/// Three daemons sharing one spool process 1,000 inputs exactly once between them:
/// 1,000 distinct job ids in result.json files, each input name delivered once, intact.
/// A small per-daemon queue keeps any one daemon from claiming everything, so the
/// daemons really compete for the same inbox entries.
#[test]
fn three_daemons_process_each_input_exactly_once() {
    let spool = Spool::new(&Config {
        max_running_jobs: 2,
        max_queue_depth: 16,
        ..Config::default()
    });
    let daemons: Vec<_> = (0..3).map(|_| spool.start_daemon()).collect();
    wait_until(
        secs(10),
        "a heartbeat file for each of the 3 daemons",
        || daemons.iter().all(|d| spool.has_heartbeat(d.pid)),
    );
    let mut inputs = BTreeMap::new();
    for i in 0..1000 {
        let name = format!("shared {i:04}.dat").into_bytes();
        let mut content = format!("shared input {i}\n").into_bytes();
        content.extend(random_bytes(32 + i % 100));
        inputs.insert(name, content);
    }
    let inbox = spool.inbox("archive");
    let staged: Vec<_> = inputs
        .iter()
        .map(|(name, content)| {
            let tmp = inbox.join(hidden_temp_name());
            fs::write(&tmp, content).unwrap();
            (tmp, inbox.join(os(name)))
        })
        .collect();
    for (tmp, dest) in &staged {
        fs::rename(tmp, dest).unwrap();
    }

    spool.wait_delivered("archive", 1000, secs(240));
    spool.wait_jobs_empty(secs(30));

    let deliveries = spool.deliveries("archive");
    let ids: BTreeSet<String> = deliveries.iter().map(|d| d.job_id()).collect();
    assert_eq!(ids.len(), 1000, "distinct job ids in result.json files");
    assert_each_delivered_once(&spool, "archive", &inputs);
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
    assert!(spool.visible("inbox/archive").is_empty());

    let mut per_owner: BTreeMap<String, usize> = BTreeMap::new();
    for d in &deliveries {
        *per_owner
            .entry(d.record["job"]["owner"]["pid"].to_string())
            .or_default() += 1;
    }
    eprintln!("jobs per owner pid: {per_owner:?}");
    assert!(
        per_owner.len() >= 2,
        "only one daemon delivered jobs ({per_owner:?}): the daemons never competed, so \
         the test proves nothing about sharing a spool"
    );
    drop(daemons);
}

/// One snapshot of jobs/ as seen by the backpressure sampler.
#[derive(Debug, Default)]
struct Snapshot {
    queued: Vec<String>,
    running: Vec<String>,
    strays: Vec<String>,
}

fn snapshot(spool: &Spool) -> Snapshot {
    let jobs = spool.path("jobs");
    let mut s = Snapshot::default();
    for name in all_entries(&jobs) {
        let n = name.to_string_lossy().into_owned();
        let dir = jobs.join(&name);
        if uuid::Uuid::parse_str(&n).is_err() {
            // Anything but a job folder (even short-lived) breaks the contract; it may
            // vanish before we look twice, so record it now.
            s.strays.push(n);
            continue;
        }
        match read_job_state(&dir) {
            Some(None) => s.queued.push(n),
            Some(Some(status)) if status == "queued" => s.queued.push(n),
            Some(Some(status)) if status == "running" => s.running.push(n),
            _ => {}
        }
    }
    s
}

/// Keeps the ids whose folder still shows `want` (None = queued). States only move
/// forward, so ids that show a state at two instants held it in between: the confirmed
/// set was in that state simultaneously at the second instant.
fn confirm(spool: &Spool, ids: &[String], running: bool) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            let state = read_job_state(&spool.path("jobs").join(id));
            match state {
                Some(None) => !running,
                Some(Some(s)) if s == "queued" => !running,
                Some(Some(s)) if s == "running" => running,
                _ => false,
            }
        })
        .cloned()
        .collect()
}

/// With `max_queue_depth = 5` and `max_running_jobs = 2`, 50 inputs never produce more
/// than 5 queued job folders (no state.json, or status "queued") nor more than 2 running
/// ones; jobs/ holds only job folders; all 50 are delivered in the end.
#[test]
fn queue_depth_limits_claims() {
    let config = Config {
        max_running_jobs: 2,
        max_queue_depth: 5,
        ..Config::with_route(Route::passthrough("archive").work("40ms"))
    };
    let spool = Spool::new(&config);
    let _daemon = spool.start_daemon();
    let mut inputs = BTreeMap::new();
    for i in 0..50 {
        let name = format!("bp-{i:02}.txt").into_bytes();
        let content = format!("backpressure {i} {:?}", random_bytes(8)).into_bytes();
        spool.drop_file("archive", os(&name), &content);
        inputs.insert(name, content);
    }

    let deadline = Instant::now() + secs(180);
    let mut max_queued_seen = 0;
    let mut max_running_seen = 0;
    let mut samples = 0u64;
    let mut violations: Vec<String> = Vec::new();
    let mut strays: BTreeSet<String> = BTreeSet::new();
    while spool.delivered_count("archive") < inputs.len() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for 50 deliveries\n{}",
            spool.summary()
        );
        let snap = snapshot(&spool);
        samples += 1;
        strays.extend(snap.strays);
        if snap.queued.len() > 5 {
            let confirmed = confirm(&spool, &snap.queued, false);
            if confirmed.len() > 5 {
                violations.push(format!("{} queued: {confirmed:?}", confirmed.len()));
            }
            max_queued_seen = max_queued_seen.max(confirmed.len());
        } else {
            max_queued_seen = max_queued_seen.max(snap.queued.len());
        }
        if snap.running.len() > 2 {
            let confirmed = confirm(&spool, &snap.running, true);
            if confirmed.len() > 2 {
                violations.push(format!("{} running: {confirmed:?}", confirmed.len()));
            }
            max_running_seen = max_running_seen.max(confirmed.len());
        } else {
            max_running_seen = max_running_seen.max(snap.running.len());
        }
        // Sampling interval, not a wait for a condition.
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("{samples} samples; max queued {max_queued_seen}, max running {max_running_seen}");
    assert!(
        violations.is_empty(),
        "limits exceeded ({} samples): {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    assert!(
        strays.is_empty(),
        "jobs/ held entries that are not job folders: {strays:?}"
    );
    assert!(
        max_running_seen >= 1,
        "never saw a running job in {samples} samples: the sampler saw nothing"
    );
    spool.wait_jobs_empty(secs(30));
    assert_each_delivered_once(&spool, "archive", &inputs);
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
}
