//! Fencing on one host: a job whose job.json another daemon has rewritten at a new epoch
//! (as an adopter on another host does) is abandoned by its old owner at its next write,
//! without delivering, checkpointing or adding a progress line.

use std::fs;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Config, Route, Spool, running_jobs, secs};

#[test]
fn an_owner_that_finds_a_new_epoch_in_job_json_abandons_the_job_and_writes_nothing() {
    let spool = Spool::new(&Config::with_route(
        Route::passthrough("archive").work("20s"),
    ));
    let daemon = spool.start_daemon();
    spool.drop_file(
        "archive",
        "held.bin",
        b"held by a daemon that is about to lose it",
    );
    spool.wait_until(secs(20), "the job runs", || running_jobs(&spool).len() == 1);
    let id = running_jobs(&spool).remove(0);
    let job = spool.path("jobs").join(&id);

    // Another node adopts the job: a new owner at epoch + 1, and a fresh daemon record
    // for it, so the old owner cannot take the job back as an orphan either.
    let mut record: Value =
        serde_json::from_slice(&fs::read(job.join("job.json")).unwrap()).unwrap();
    let epoch = record["owner"]["epoch"].as_u64().unwrap();
    record["owner"]["host"] = "elsewhere".into();
    record["owner"]["pid"] = 4242.into();
    record["owner"]["epoch"] = (epoch + 1).into();
    let adopter_record = spool.path("daemons/elsewhere--4242.json");
    fs::write(
        &adopter_record,
        serde_json::to_vec(&record["owner"]).unwrap(),
    )
    .unwrap();
    let taken = serde_json::to_vec_pretty(&record).unwrap();
    let temp = job.join(".job.json.adopter");
    fs::write(&temp, &taken).unwrap();
    fs::rename(&temp, job.join("job.json")).unwrap();
    let events_at_takeover = fs::read(job.join("events.jsonl")).unwrap();
    let state_at_takeover = fs::read(job.join("state.json")).unwrap();

    let deadline = Instant::now() + secs(15);
    while !daemon
        .log()
        .contains("Gave the job up without writing anything more")
    {
        assert!(
            Instant::now() < deadline,
            "the old owner never noticed:\n{}",
            daemon.log()
        );
        // The adopter is alive: its record keeps beating.
        fs::write(
            &adopter_record,
            serde_json::to_vec(&record["owner"]).unwrap(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = daemon.log();
    assert!(
        log.contains("node elsewhere (pid 4242) took it over at epoch"),
        "{log}"
    );
    // A few more heartbeats and rescans: still nothing written by the old owner.
    for _ in 0..15 {
        fs::write(
            &adopter_record,
            serde_json::to_vec(&record["owner"]).unwrap(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        fs::read(job.join("job.json")).unwrap(),
        taken,
        "job.json was rewritten"
    );
    assert_eq!(
        fs::read(job.join("events.jsonl")).unwrap(),
        events_at_takeover,
        "a progress line was added"
    );
    assert_eq!(
        fs::read(job.join("state.json")).unwrap(),
        state_at_takeover,
        "state.json was rewritten"
    );
    assert_eq!(spool.delivered_count("archive"), 0);
    assert!(spool.all_failed().is_empty(), "{:?}", spool.all_failed());
    assert!(
        !log.contains("Adopting a job"),
        "the old owner took the job back:\n{log}"
    );
    daemon.terminate(secs(10));
}
