//! A job that fails outside any stage (here: its `input` is a file, not a folder, so
//! the runner cannot read it) is not retried at every rescan forever: it is tried a
//! bounded number of times, further apart each time, then fails with the reason.

use std::fs;
use std::time::Instant;

use crate::harness::{Config, Spool, secs};
use crate::in_process::InProcessDaemon;

#[test]
fn a_job_that_cannot_be_run_is_failed_after_backing_off() {
    let spool = Spool::new(&Config::default());
    let id = uuid::Uuid::now_v7();
    let folder = spool.path("jobs").join(id.to_string());
    fs::create_dir_all(&folder).unwrap();
    fs::write(
        folder.join("input"),
        b"a file where the input folder should be",
    )
    .unwrap();
    // Where the filesystem keeps user xattrs, the route survives without a job.json.
    let tagged = chute::job::JobDir::new(id, folder.clone()).tag_route("archive");
    let route = if tagged { "archive" } else { "unknown" };

    let started = Instant::now();
    let _daemon = InProcessDaemon::start(&spool);
    spool.wait_until(secs(90), "the unrunnable job is in failed/", || {
        spool.visible(format!("failed/{route}")).len() == 1
    });
    let took = started.elapsed();
    // Attempts 1–5 are 1 + 2 + 4 + 8 s apart: never a tight loop, never forever.
    assert!(took >= secs(15), "failed after only {took:?}");
    assert!(spool.visible("jobs").is_empty(), "{}", spool.summary());

    let failures = spool.failures(route);
    let record = &failures[0].record;
    assert_eq!(record["state"], "failed", "{record:#}");
    assert_eq!(record["stage"], "claim", "{record:#}");
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.contains("could not be run (5 attempts)") && reason.contains("Not a directory"),
        "{reason}"
    );
    assert!(
        record["hint"].as_str().unwrap().contains("chute retry"),
        "{record:#}"
    );
    // What the input folder held is kept for inspection, not thrown away.
    let kept = failures[0].dir.join(".job/unusable-input");
    assert_eq!(
        fs::read(&kept).unwrap(),
        b"a file where the input folder should be"
    );
}
