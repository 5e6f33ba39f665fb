//! Hostile droppers: a descriptor kept on the dropped file and used to rewrite it after
//! the claim, and links and FIFOs hidden inside dropped folders.

use std::fs::{self, File};
use std::io::{Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::harness::{Config, Outcome, Route, Spool, hidden_temp_name, random_bytes, secs};
use crate::in_process::InProcessDaemon;

/// Writes `content` under a hidden name in the inbox and keeps a read-only descriptor on
/// it (which the intake does not count as a writer), then renames it in as `name`.
fn drop_keeping_a_descriptor(spool: &Spool, route: &str, name: &str, content: &[u8]) -> File {
    let inbox = spool.inbox(route);
    let temp = inbox.join(hidden_temp_name());
    fs::write(&temp, content).unwrap();
    let kept = File::open(&temp).unwrap();
    fs::rename(&temp, inbox.join(name)).unwrap();
    kept
}

/// What a dropper with a read-only descriptor can still do to the inode behind it: open
/// it again for writing through `/proc/self/fd` (only the inode's own permissions are
/// checked, not the spool's folders).
fn writable_again(kept: &File) -> File {
    File::options()
        .write(true)
        .open(format!("/proc/self/fd/{}", kept.as_raw_fd()))
        .unwrap()
}

/// The one delivered file of a passthrough outcome.
fn delivered_file(outcome: &Outcome, name: &str) -> std::path::PathBuf {
    assert_eq!(
        outcome.payload(),
        vec![std::ffi::OsString::from(name)],
        "{}",
        outcome.record
    );
    outcome.dir.join(name)
}

/// A file rewritten (same size, other bytes) through a descriptor the dropper kept, as
/// soon as it has left the inbox, while its job runs: the job is refused because the
/// input changed, or delivers the bytes that were claimed — never the rewrite.
#[test]
fn a_file_rewritten_after_its_claim_is_delivered_as_claimed_or_refused() {
    let spool = Spool::new(&Config::with_route(
        Route::passthrough("archive").work("300ms"),
    ));
    let _daemon = InProcessDaemon::start(&spool);
    let claimed = random_bytes(64 * 1024);
    let kept = drop_keeping_a_descriptor(&spool, "archive", "ledger.bin", &claimed);
    spool.wait_until(secs(30), "the input to be claimed", || {
        spool.visible("inbox/archive").is_empty()
    });
    let rewrite = random_bytes(claimed.len());
    writable_again(&kept).write_all(&rewrite).unwrap();

    spool.wait_until(secs(30), "the job to end", || {
        spool.delivered_count("archive") + spool.failed_count("archive") == 1
    });
    if let Some(outcome) = spool.deliveries("archive").first() {
        let delivered = fs::read(delivered_file(outcome, "ledger.bin")).unwrap();
        assert!(delivered == claimed, "the rewrite reached the outbox");
    } else {
        let failure = &spool.failures("archive")[0];
        let reason = failure.record["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("changed"), "{}", failure.record);
    }
}

/// After a passthrough delivery, the dropper writes to and then truncates the inode
/// it still holds: the delivered file is not that inode and keeps its bytes.
#[test]
fn a_passthrough_output_does_not_change_when_the_dropper_writes_after_delivery() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let content = random_bytes(100_000);
    let kept = drop_keeping_a_descriptor(&spool, "archive", "report.pdf", &content);
    let dropped_inode = kept.metadata().unwrap().ino();
    spool.wait_delivered("archive", 1, secs(30));
    let outcome = &spool.deliveries("archive")[0];
    let delivered = delivered_file(outcome, "report.pdf");
    assert_eq!(fs::read(&delivered).unwrap(), content);
    assert_ne!(
        fs::metadata(&delivered).unwrap().ino(),
        dropped_inode,
        "the outbox holds the dropper's own inode"
    );

    let mut writer = writable_again(&kept);
    writer.write_all(b"overwritten by the dropper").unwrap();
    writer.flush().unwrap();
    assert_eq!(fs::read(&delivered).unwrap(), content, "after a write");
    writer.rewind().unwrap();
    writer.set_len(0).unwrap();
    assert_eq!(fs::read(&delivered).unwrap(), content, "after a truncation");
    assert_eq!(outcome.record["job"]["input"]["inode"], dropped_inode);
    assert!(
        outcome.record["job"]["input"]["snapshot"]["inode"].is_u64(),
        "{}",
        outcome.record
    );
}

/// Every entry under `dir` (not following links) that is not a regular file or folder.
fn special_entries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            found.extend(special_entries(&entry.path()));
        } else if !meta.is_file() {
            found.push(String::from_utf8_lossy(entry.path().as_os_str().as_bytes()).into_owned());
        }
    }
    found
}

/// Folders holding a symlink to a file outside the spool, or a FIFO, deep inside are
/// refused at claim naming the entry; they end in failed/ with their regular files and
/// error.json's `removed_entries` saying what was left out (the link's target among
/// it), and with no link, FIFO or socket anywhere under failed/.
#[test]
fn special_entries_inside_folders_are_refused_and_never_reach_failed() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let target = spool.outside.join("secret.txt");
    fs::write(&target, b"outside the spool").unwrap();
    let inbox = spool.inbox("archive");
    let drop_folder = |name: &str, make: &dyn Fn(&Path)| {
        let staging = inbox.join(hidden_temp_name());
        fs::create_dir_all(staging.join("sub")).unwrap();
        fs::write(staging.join("keep.txt"), b"kept").unwrap();
        make(&staging.join("sub"));
        fs::rename(&staging, inbox.join(name)).unwrap();
    };
    drop_folder("linked", &|sub| {
        std::os::unix::fs::symlink(&target, sub.join("link")).unwrap()
    });
    drop_folder("piped", &|sub| {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            sub.join("pipe"),
            rustix::fs::Mode::from_raw_mode(0o644),
        )
        .unwrap()
    });
    spool.wait_until(secs(30), "2 entries in failed/archive", || {
        spool.failed_count("archive") == 2
    });
    spool.wait_jobs_empty(secs(30));

    for (stem, inside, kind, words) in [
        ("linked", "sub/link", "symlink", "symbolic link"),
        ("piped", "sub/pipe", "fifo", "fifo"),
    ] {
        let failures = spool.failures("archive");
        let failure = failures
            .iter()
            .find(|f| {
                f.folder
                    .as_bytes()
                    .starts_with(format!("{stem}--").as_bytes())
            })
            .unwrap_or_else(|| panic!("no failed folder for {stem}: {}", spool.summary()));
        let reason = failure.record["reason"].as_str().unwrap().to_lowercase();
        assert_eq!(failure.record["stage"], "claim", "{}", failure.record);
        assert!(
            reason.contains(inside) && reason.contains(words),
            "{reason}"
        );
        assert_eq!(
            fs::read(failure.dir.join(stem).join("keep.txt")).unwrap(),
            b"kept"
        );
        let removed = &failure.record["removed_entries"];
        assert_eq!(
            removed[0]["path"],
            format!("{stem}/{inside}"),
            "{}",
            failure.record
        );
        assert_eq!(removed[0]["kind"], kind, "{}", failure.record);
        if kind == "symlink" {
            assert_eq!(
                removed[0]["target"],
                target.to_str().unwrap(),
                "{}",
                failure.record
            );
        }
    }
    assert_eq!(special_entries(&spool.path("failed")), Vec::<String>::new());
    assert_eq!(fs::read(&target).unwrap(), b"outside the spool");
}
