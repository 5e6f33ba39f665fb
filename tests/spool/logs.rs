//! The daemon's own log file against names made to forge its lines.

use std::fs;

use crate::harness::{Config, Spool, hidden_temp_name, secs};

/// A file named with a newline and a fake timestamp, dropped into a real daemon: its
/// log file gets no line of the name's making, and shows the name escaped.
#[test]
fn a_file_name_cannot_forge_a_line_in_the_daemon_log() {
    let spool = Spool::new(&Config::default());
    let mut daemon = spool.start_daemon();
    let forged = "2026-01-01T00:00:00Z ERROR forged";
    let name = format!("minutes\n{forged}\u{1b}[2J.txt");
    spool.drop_file("archive", &name, b"meeting minutes");
    // And a folder refused for what it holds: the reason (with the name) is logged too.
    let inbox = spool.inbox("archive");
    let staging = inbox.join(hidden_temp_name());
    fs::create_dir(&staging).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", staging.join(format!("x\n{forged}"))).unwrap();
    fs::rename(&staging, inbox.join(format!("album\n{forged}"))).unwrap();
    spool.wait_delivered("archive", 1, secs(30));
    spool.wait_until(secs(30), "the folder in failed/", || {
        spool.failed_count("archive") == 1
    });
    spool.wait_jobs_empty(secs(30));

    let log = daemon.log();
    assert!(daemon.is_running(), "{log}");
    let forged_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.starts_with(forged))
        .collect();
    assert!(
        forged_lines.is_empty(),
        "forged lines {forged_lines:?} in:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "an escape reached the log:\n{log}");
    assert!(
        log.contains(&format!("minutes\\n{forged}")),
        "the name is not in the log:\n{log}"
    );
    assert!(
        log.contains(&format!("album\\n{forged}")),
        "the folder is not in the log:\n{log}"
    );
}
