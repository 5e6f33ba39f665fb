//! Housekeeping end to end with the real binary: `chute gc` on a spool holding results
//! of several ages (mtimes set by the test), and the daemon's disk monitor on a small
//! tmpfs the test mounts (skipped, with the reason printed, where mounting is refused).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod harness;

mod disk;
mod gc;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One day.
const DAY: Duration = Duration::from_secs(86_400);
/// One hour.
const HOUR: Duration = Duration::from_secs(3_600);

/// Sets the access and modification times of a file or folder to `age` ago.
fn set_age(path: &Path, age: Duration) {
    let time = SystemTime::now() - age;
    std::fs::File::open(path)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_accessed(time)
                .set_modified(time),
        )
        .unwrap();
}

/// A folder `<spool>/<rel>` holding one file of `bytes` bytes, `age` old.
fn folder(root: &Path, rel: &str, bytes: usize, age: Duration) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("result.json"), vec![b'r'; bytes]).unwrap();
    set_age(&path, age);
    path
}

/// A file `<root>/<rel>` of `bytes` bytes, `age` old.
fn file(root: &Path, rel: &str, bytes: usize, age: Duration) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, vec![b'f'; bytes]).unwrap();
    set_age(&path, age);
    path
}

/// The folders a daemon would have made, so the CLI accepts the spool.
fn lay_out(root: &Path) {
    for dir in [
        "jobs",
        "trash",
        "daemons",
        "index/archive",
        "inbox/archive",
        "outbox/archive",
        "failed/archive",
        "cache/results",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
}
