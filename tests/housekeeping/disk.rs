//! The disk monitor with a real daemon on a 16 MiB tmpfs: above `disk.pause_percent`
//! drops wait in the inbox; the emergency cleanup removes trash, then the result cache,
//! then finished results past `disk.cleanup_min_age`, oldest first, never jobs/ or
//! younger results; below `disk.resume_percent` the drops are claimed and delivered.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::harness::{Config, Route, Spool, poll_until, secs};
use super::{DAY, HOUR, file, folder};

const MIB: usize = 1 << 20;

/// A tmpfs mounted by the test; unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `path`; `None`, with the reason printed, where
    /// mounting is refused (no privilege, a container without CAP_SYS_ADMIN).
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .output();
        match output {
            Ok(output) if output.status.success() => Some(Tmpfs(path.to_owned())),
            Ok(output) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs on {} ({}: {}); this test needs root and mount(2)",
                    path.display(),
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("SKIPPED: cannot run mount ({error}); this test needs root and mount(2)");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn config(disk: &str) -> Config {
    Config {
        routes: vec![
            Route::passthrough("archive"),
            Route::passthrough("slow").work("300s"),
        ],
        shutdown_grace: "1s".to_owned(),
        extra: format!("[disk]\ninterval = \"100ms\"\ncleanup_min_age = \"1h\"\n{disk}"),
        ..Config::default()
    }
}

/// Takes `bytes` of space at `path` in one step (fallocate), so no monitor round sees
/// the filesystem half-way.
fn ballast(path: &Path, bytes: usize) {
    let file = std::fs::File::create(path).unwrap();
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes as u64).unwrap();
}

#[test]
fn a_full_disk_holds_claiming_until_space_returns_and_nothing_is_removed_without_cleanup() {
    let spool = Spool::new(&config(
        "warn_percent = 40\npause_percent = 70\nresume_percent = 60\nemergency_cleanup = false\n",
    ));
    let Some(_mount) = Tmpfs::mount(&spool.root, "16m") else {
        return;
    };
    let root = spool.root.clone();
    let old = folder(&root, "outbox/archive/old--0000000a", MIB, 3 * HOUR);
    let daemon = spool.start_daemon();
    let weight = root.join("ballast");
    ballast(&weight, 13 * MIB);
    spool.wait_until(secs(20), "the disk monitor holds claiming", || {
        daemon.log().contains("reached disk.pause_percent = 70")
    });
    for index in 0..3 {
        spool.drop_file("archive", format!("held-{index}.txt"), b"waiting");
    }
    spool.wait_until(secs(20), "the intake says claiming is held", || {
        daemon.log().contains("waiting for disk space")
    });
    // Several monitor and rescan rounds: the drops stay in the inbox, untouched.
    let claimed = poll_until(secs(3), || {
        spool.visible("inbox/archive").len() < 3 || !spool.job_entries().is_empty()
    });
    assert!(!claimed, "a drop was claimed while the disk was full");
    assert_eq!(spool.delivered_count("archive"), 1);
    assert!(old.exists(), "nothing is removed without emergency_cleanup");

    std::fs::remove_file(&weight).unwrap();
    spool.wait_delivered("archive", 4, secs(60));
    assert!(spool.visible("inbox/archive").is_empty());
    assert!(old.exists());
    let log = daemon.log();
    assert!(log.contains("reached disk.warn_percent = 40"), "{log}");
    assert!(
        log.contains("below disk.resume_percent = 60: claiming resumes"),
        "{log}"
    );
    assert!(!log.contains("Housekeeping removed"), "{log}");
}

#[test]
fn emergency_cleanup_removes_the_oldest_finished_material_first_and_claiming_resumes() {
    let spool = Spool::new(&config(
        "warn_percent = 40\npause_percent = 80\nresume_percent = 50\nemergency_cleanup = true\n",
    ));
    let Some(_mount) = Tmpfs::mount(&spool.root, "16m") else {
        return;
    };
    let root = spool.root.clone();
    folder(
        &root,
        "trash/0193a1b2-0000-7000-8000-00000000000f",
        MIB,
        Duration::ZERO,
    );
    file(&root, "cache/results/k1.json", MIB, DAY);
    folder(&root, "failed/archive/older--0000000b", 3 * MIB, 5 * HOUR);
    folder(&root, "outbox/archive/old--0000000a", 3 * MIB, 3 * HOUR);
    let young = folder(
        &root,
        "outbox/archive/young--0000000c",
        2 * MIB,
        Duration::from_secs(600),
    );
    let daemon = spool.start_daemon();
    spool.drop_file("slow", "long.txt", b"a job that runs for minutes");
    spool.wait_until(secs(30), "the slow job is claimed", || {
        !spool.visible("jobs").is_empty()
    });
    let live_job = spool.visible("jobs");

    let weight = root.join("ballast");
    ballast(&weight, 4 * MIB);
    spool.wait_until(secs(30), "claiming resumes after the cleanup", || {
        daemon.log().contains("claiming resumes")
    });
    let log = daemon.log();
    let removed: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split("Housekeeping removed ").nth(1))
        .collect();
    assert_eq!(
        removed
            .iter()
            .map(|rest| rest.split(' ').nth(1).unwrap_or(""))
            .collect::<Vec<_>>(),
        [
            "trash/0193a1b2-0000-7000-8000-00000000000f.",
            "cache/results/k1.",
            "failed/archive/older--0000000b.",
            "outbox/archive/old--0000000a.",
        ],
        "{log}"
    );
    assert!(log.contains("reached disk.pause_percent = 80"), "{log}");
    assert!(
        young.exists(),
        "a result younger than disk.cleanup_min_age stays"
    );
    assert!(weight.exists());
    assert_eq!(spool.visible("jobs"), live_job, "jobs/ is never touched");

    for index in 0..2 {
        spool.drop_file("archive", format!("after-{index}.txt"), b"claimed again");
    }
    spool.wait_delivered("archive", 3, secs(60));
    assert_eq!(spool.visible("jobs"), live_job);
}
