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
