//! Spools with ended material of chosen ages, for the housekeeping unit tests.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::provider::config::CompileCacheSetting;
use crate::spool::Spool;

pub const DAY: Duration = Duration::from_secs(86_400);
pub const HOUR: Duration = Duration::from_secs(3_600);

/// A spool with the `audio` route laid out, and a config whose compile cache is off
/// (so no test looks at the real one).
pub fn spool() -> (tempfile::TempDir, Spool, Config) {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::new(dir.path());
    spool.create_layout(["audio"]).unwrap();
    let mut config = Config::default();
    config.plugins.compile_cache = CompileCacheSetting::Off;
    (dir, spool, config)
}

/// Sets the mtime of a file or folder.
pub fn age(path: &Path, now: SystemTime, age: Duration) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(now - age)
        .unwrap();
}

/// A result folder `<top>/audio/<name>` with `bytes` bytes in one file, `age` old.
pub fn result(top: &Path, name: &str, bytes: usize, now: SystemTime, old: Duration) -> PathBuf {
    let folder = top.join("audio").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("result.json"), vec![b'x'; bytes]).unwrap();
    age(&folder, now, old);
    folder
}

/// A result-cache file of `bytes` bytes, `age` old.
pub fn cache_file(spool: &Spool, name: &str, bytes: usize, now: SystemTime, old: Duration) {
    std::fs::create_dir_all(spool.result_cache()).unwrap();
    let path = spool.result_cache().join(name);
    std::fs::write(&path, vec![b'c'; bytes]).unwrap();
    age(&path, now, old);
}
