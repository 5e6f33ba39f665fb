//! The daemon process's own hardening (`chute run`): it never dumps core (keys live in
//! its memory), and nothing it creates in the spool is readable by other users.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{Config, Route, Spool, secs};

/// Every file and folder under `dir` whose mode gives others any access, skipping
/// `skip` (what the test itself made).
fn open_to_others(dir: &Path, skip: &[&Path], found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return; // removed meanwhile (a job folder on its way out)
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if skip.contains(&path.as_path()) {
            continue;
        }
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            found.push(format!("{} {mode:o}", path.display()));
        }
        if metadata.is_dir() {
            open_to_others(&path, skip, found);
        }
    }
}

#[test]
fn the_daemon_dumps_no_core_and_creates_nothing_others_can_read() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("plain")));
    // The inbox is the test's (it drops files there), not the daemon's.
    let inbox = spool.inbox("plain");
    let daemon = spool.start_daemon();
    let limits = fs::read_to_string(format!("/proc/{}/limits", daemon.pid)).unwrap();
    let core: Vec<&str> = limits
        .lines()
        .find(|line| line.starts_with("Max core file size"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(core[4..6], ["0", "0"], "{limits}");
    let status = fs::read_to_string(format!("/proc/{}/status", daemon.pid)).unwrap();
    let umask = status
        .lines()
        .find_map(|line| line.strip_prefix("Umask:"))
        .map(|value| u32::from_str_radix(value.trim(), 8).unwrap())
        .unwrap();
    assert_eq!(umask & 0o027, 0o027, "umask {umask:04o}");

    spool.drop_file("plain", "note.txt", b"for the owner and the group only");
    spool.wait_delivered("plain", 1, secs(30));
    spool.wait_jobs_empty(secs(30));
    let mut found = Vec::new();
    open_to_others(&spool.root, &[inbox.parent().unwrap()], &mut found);
    assert!(found.is_empty(), "readable by others: {found:#?}");
    drop(daemon);
}
