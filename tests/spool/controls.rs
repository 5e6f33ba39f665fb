//! The operator's controls through the real binary: `chute pause` holds drops in the
//! inbox across rescans and a restart until `chute resume`; `chute drain --exit` lets
//! the running job finish, starts no queued one, and the daemon exits 0 by itself;
//! the next start claims again.

use std::time::Duration;

use crate::harness::{Config, Route, Spool, job_states, poll_until, running_jobs, secs};

/// Asserts that `route`'s inbox keeps `name` (nothing claims it) for `period`.
fn stays_in_inbox(spool: &Spool, route: &str, name: &str, period: Duration) {
    let claimed = poll_until(period, || !spool.inbox(route).join(name).exists());
    assert!(
        !claimed,
        "{name} was claimed while claiming was held\n{}",
        spool.summary()
    );
    assert!(spool.job_entries().is_empty(), "{}", spool.summary());
}

#[test]
fn pause_holds_drops_across_rescans_and_a_restart_until_resume() {
    let spool = Spool::new(&Config::default());
    let daemon = spool.start_daemon();
    let paused = spool.cli(["pause"]);
    assert_eq!(paused.code, Some(0), "{paused:?}");
    assert!(paused.stdout.contains("Paused"), "{paused:?}");
    assert!(
        paused
            .stdout
            .contains(&format!("pid {}: paused", daemon.pid)),
        "the daemon acknowledges: {paused:?}"
    );
    spool.drop_file("archive", "held.txt", b"wait for resume");
    // rescan_interval is 1 s, settle 1 s: several rescans pass.
    stays_in_inbox(&spool, "archive", "held.txt", secs(4));
    let jobs = spool.cli(["jobs"]);
    assert!(
        jobs.stdout.contains(&format!("pid {}: paused", daemon.pid)),
        "chute jobs shows the mode: {jobs:?}"
    );
    let doctor = spool.cli(["doctor"]);
    assert!(
        doctor.stdout.contains("paused"),
        "chute doctor shows the mode: {doctor:?}"
    );

    // The pause survives a restart.
    assert!(daemon.terminate(secs(30)).success());
    let daemon = spool.start_daemon();
    stays_in_inbox(&spool, "archive", "held.txt", secs(3));
    let resumed = spool.cli(["resume"]);
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
    assert!(
        resumed
            .stdout
            .contains(&format!("pid {}: running", daemon.pid)),
        "{resumed:?}"
    );
    spool.wait_delivered("archive", 1, secs(30));
    let listed = spool.cli(["jobs", "--json"]);
    assert_eq!(listed.json()[0]["daemon_mode"], "running", "{listed:?}");
    assert!(daemon.terminate(secs(30)).success());
}

#[test]
fn pause_without_a_daemon_is_kept_for_the_next_start() {
    let spool = Spool::new(&Config::default());
    spool.start_daemon().kill9();
    let paused = spool.cli(["pause", "--all-hosts"]);
    assert_eq!(paused.code, Some(0), "{paused:?}");
    assert!(
        paused.stdout.contains("No daemon runs on this spool now"),
        "{paused:?}"
    );
    let daemon = spool.start_daemon();
    spool.drop_file("archive", "early.txt", b"before resume");
    stays_in_inbox(&spool, "archive", "early.txt", secs(3));
    // A resume for this host is newer than the pause for all hosts: it wins here.
    let resumed = spool.cli(["resume"]);
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
    spool.wait_delivered("archive", 1, secs(30));
    assert!(daemon.terminate(secs(30)).success());
}

#[test]
fn drain_exit_finishes_the_running_job_starts_no_queued_one_and_exits_0() {
    let mut config = Config::with_route(Route::passthrough("slow").work("4s"));
    config.max_running_jobs = 1;
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    spool.drop_file("slow", "first.txt", b"runs during the drain");
    spool.wait_until(secs(30), "the first job to run", || {
        running_jobs(&spool).len() == 1
    });
    spool.drop_file("slow", "second.txt", b"queued behind it");
    spool.wait_until(secs(30), "the second job to be queued", || {
        job_states(&spool)
            .values()
            .filter(|state| state.is_none())
            .count()
            == 1
    });

    let drained = spool.cli(["drain", "--exit"]);
    assert_eq!(drained.code, Some(0), "{drained:?}");
    assert!(drained.stdout.contains("Draining"), "{drained:?}");
    spool.drop_file("slow", "third.txt", b"arrives while draining");
    let status = daemon.wait_exit(secs(60));
    assert!(status.success(), "the drained daemon exits 0: {status}");
    assert_eq!(spool.delivered_count("slow"), 1, "{}", spool.summary());
    let states = job_states(&spool);
    assert_eq!(states.len(), 1, "only the queued job is left: {states:?}");
    assert!(
        states.values().all(|state| state.is_none()),
        "the queued job never started: {states:?}"
    );
    assert!(spool.inbox("slow").join("third.txt").exists());

    // The --exit part is cleared: the next start claims and runs everything left.
    let daemon = spool.start_daemon();
    spool.wait_delivered("slow", 3, secs(90));
    assert!(daemon.terminate(secs(30)).success());
}
