//! Duplicate content within the dedupe window.

use crate::drops::assert_delivered_intact;
use crate::harness::{Config, Route, Spool, random_bytes, secs};
use crate::in_process::InProcessDaemon;

/// The same content dropped twice under different names is processed once and delivered
/// twice: the second result.json has `duplicate_of` = {job_id of the first, location of
/// the first's outbox folder}, the first has `duplicate_of: null`, and the second job
/// never starts the processing stage.
#[test]
fn duplicate_content_is_processed_once_delivered_twice() {
    let spool = Spool::new(&Config::with_route(
        Route::passthrough("archive").work("50ms"),
    ));
    let _daemon = InProcessDaemon::start(&spool);
    let content = random_bytes(10_000);
    spool.drop_file("archive", "first.txt", &content);
    spool.wait_delivered("archive", 1, secs(30));
    spool.drop_file("archive", "second.txt", &content);
    spool.wait_delivered("archive", 2, secs(30));

    let deliveries = spool.deliveries("archive");
    let first = deliveries
        .iter()
        .find(|d| d.input_name() == b"first.txt")
        .expect("delivery of first.txt");
    let second = deliveries
        .iter()
        .find(|d| d.input_name() == b"second.txt")
        .expect("delivery of second.txt");
    assert_ne!(first.job_id(), second.job_id(), "two jobs");
    assert_delivered_intact(first, b"first.txt", &content);
    assert_delivered_intact(second, b"second.txt", &content);

    assert!(
        first.record["duplicate_of"].is_null(),
        "first delivery must not be a duplicate: {}",
        first.record["duplicate_of"]
    );
    let dup = &second.record["duplicate_of"];
    assert_eq!(
        dup["job_id"].as_str(),
        Some(first.job_id().as_str()),
        "duplicate_of.job_id: {dup}"
    );
    let location = dup["location"]
        .as_str()
        .unwrap_or_else(|| panic!("duplicate_of.location missing: {dup}"));
    assert_eq!(
        spool.root.join(location),
        first.dir,
        "duplicate_of.location must point at the first delivery"
    );
    let processing_starts = |d: &crate::harness::Outcome| {
        d.events()
            .iter()
            .filter(|e| {
                e["stage"] == "passthrough"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("started"))
            })
            .count()
    };
    assert!(
        processing_starts(first) > 0,
        "the first job's events show no processing stage: {:?}",
        first.events()
    );
    assert_eq!(
        processing_starts(second),
        0,
        "the duplicate ran the processing stage again: {:?}",
        second.events()
    );
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
}

/// The id of the live job whose input is `name` (from `chute jobs --json`).
fn live_job(spool: &Spool, name: &str) -> Option<serde_json::Value> {
    let output = spool.cli(["jobs", "--json"]);
    let jobs: Vec<serde_json::Value> = serde_json::from_str(&output.stdout).ok()?;
    jobs.into_iter().find(|job| {
        job["input"] == name
            && job["location"]
                .as_str()
                .is_some_and(|location| location.starts_with("jobs/"))
    })
}

/// Drops `first.txt` and, while it is still being processed, `second.txt` with the same
/// content; returns once the second says it waits for the first.
fn duplicate_while_the_original_runs(spool: &Spool) -> Vec<u8> {
    let content = random_bytes(5_000);
    spool.drop_file("archive", "first.txt", &content);
    // Every stage takes the route's simulated time, so the second job must start
    // a little after the first for its check to fall within the first's processing.
    spool.wait_until(secs(30), "the original to start", || {
        live_job(spool, "first.txt").is_some_and(|job| job["stage"] == "prepare")
    });
    std::thread::sleep(std::time::Duration::from_millis(700));
    spool.drop_file("archive", "second.txt", &content);
    spool.wait_until(secs(30), "the duplicate to wait for its original", || {
        live_job(spool, "second.txt").is_some_and(|job| {
            job["waiting"]
                .as_str()
                .is_some_and(|waiting| waiting.contains("the original job"))
        })
    });
    content
}

/// A duplicate of an original that is still running waits for it; when the original
/// then fails (here: is cancelled), the duplicate is processed itself instead of being
/// delivered as a pointer to an outbox folder that never comes.
#[test]
fn a_duplicate_of_an_original_that_fails_is_processed_itself() {
    let spool = Spool::new(&Config::with_route(
        Route::passthrough("archive").work("3s"),
    ));
    let _daemon = InProcessDaemon::start(&spool);
    let content = duplicate_while_the_original_runs(&spool);
    let first = live_job(&spool, "first.txt").expect("the original is live");
    let cancel = spool.cli(["cancel", first["short_id"].as_str().unwrap_or_default()]);
    assert_eq!(cancel.code, Some(0), "{cancel:?}");
    spool.wait_delivered("archive", 1, secs(60));
    let deliveries = spool.deliveries("archive");
    let second = &deliveries[0];
    assert_eq!(second.input_name(), b"second.txt");
    assert!(
        second.record["duplicate_of"].is_null(),
        "the duplicate of a cancelled original was processed itself: {}",
        second.record
    );
    assert_delivered_intact(second, b"second.txt", &content);
    assert_eq!(spool.failed_count("archive"), 1, "the cancelled original");
}

/// A duplicate of an original that is still running waits for it and, once it is
/// delivered, points at its (existing) outbox folder.
#[test]
fn a_duplicate_waits_for_its_original_and_points_at_its_delivery() {
    let spool = Spool::new(&Config::with_route(
        Route::passthrough("archive").work("3s"),
    ));
    let _daemon = InProcessDaemon::start(&spool);
    duplicate_while_the_original_runs(&spool);
    spool.wait_delivered("archive", 2, secs(60));
    let deliveries = spool.deliveries("archive");
    let second = deliveries
        .iter()
        .find(|d| d.input_name() == b"second.txt")
        .expect("delivery of second.txt");
    let location = second.record["duplicate_of"]["location"]
        .as_str()
        .unwrap_or_else(|| panic!("not a duplicate: {}", second.record));
    assert!(
        spool.root.join(location).join("result.json").is_file(),
        "duplicate_of.location points at a delivered folder: {location}"
    );
}

/// `submit --force` and `retry` on a done job process the same content again instead of
/// delivering it as a duplicate; a plain resubmission is still a duplicate.
#[test]
fn force_and_retry_of_a_done_job_process_the_content_again() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("archive")));
    let _daemon = InProcessDaemon::start(&spool);
    let content = random_bytes(3_000);
    let file = spool.root.join("report.bin");
    std::fs::write(&file, &content).unwrap_or_else(|e| panic!("{e}"));
    let path = file.to_string_lossy().into_owned();
    let submit = |force: bool| {
        let mut args = vec!["submit", "--route", "archive", "--wait"];
        if force {
            args.push("--force");
        }
        args.push(&path);
        let output = spool.cli(args);
        assert_eq!(output.code, Some(0), "{output:?}");
        output.stdout
    };
    submit(false);
    let plain = submit(false);
    assert!(
        plain.contains(" duplicate "),
        "a plain resubmission: {plain}"
    );
    let forced = submit(true);
    assert!(forced.contains(" done "), "submit --force: {forced}");

    let first = spool
        .deliveries("archive")
        .into_iter()
        .find(|d| d.record["duplicate_of"].is_null())
        .expect("a processed delivery");
    let retry = spool.cli(["retry", &first.job_id()]);
    assert_eq!(retry.code, Some(0), "{retry:?}");
    assert!(retry.stdout.contains("submitted again"), "{retry:?}");
    spool.wait_delivered("archive", 4, secs(30));
    let processed = spool
        .deliveries("archive")
        .iter()
        .filter(|d| d.record["duplicate_of"].is_null())
        .count();
    assert_eq!(processed, 3, "the first, the forced and the retried job");
}
