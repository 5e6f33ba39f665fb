//! The provider result cache (`cache/results/`, written by `provider/cache.rs`) as
//! retention sees it: entries of files named `<key>.json`, `<key>.bin` and
//! `<key>.<extension>` (a video), and leftovers of interrupted writes (hidden temp
//! files, `<key>.part`). The cache keeps no index: an entry is its files, and the
//! time it was last used is the newest mtime among them (a hit touches them).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One cache entry: the files of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// `cache/results/<key>` (how it is shown; no file has exactly this name).
    pub shown: PathBuf,
    /// Its files, the `.json` first (a reader then misses rather than finds the JSON
    /// without its bytes).
    pub files: Vec<PathBuf>,
    /// Bytes of its files.
    pub size: u64,
    /// The newest mtime of its files.
    pub last_used: SystemTime,
    /// A finished entry; `false` for a leftover of a write (hidden, `.part`) that may
    /// still be in progress, which only the age rule removes.
    pub settled: bool,
}

/// The entries in `dir` (regular files only: a link or folder planted there is not the
/// cache's and is left alone); nothing when `dir` cannot be read.
pub fn entries(dir: &Path) -> Vec<CacheEntry> {
    let mut by_key: BTreeMap<Vec<u8>, CacheEntry> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        let name = entry.file_name();
        let (key, settled) = key_of(&name);
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let group = by_key.entry(key.to_vec()).or_insert_with(|| CacheEntry {
            shown: dir.join(OsStr::from_bytes(key)),
            files: Vec::new(),
            size: 0,
            last_used: SystemTime::UNIX_EPOCH,
            settled,
        });
        group.settled &= settled;
        group.size += meta.len();
        group.last_used = group.last_used.max(modified);
        group.files.push(entry.path());
    }
    let mut entries: Vec<CacheEntry> = by_key.into_values().collect();
    for entry in &mut entries {
        entry.files.sort_by_key(|file| !is_json(file));
    }
    entries
}

/// The key a file belongs to (its name up to the first dot; a hidden file is its own
/// entry) and whether it is a finished file.
fn key_of(name: &OsStr) -> (&[u8], bool) {
    let bytes = name.as_bytes();
    if bytes.first() == Some(&b'.') {
        return (bytes, false);
    }
    match bytes.iter().position(|&byte| byte == b'.') {
        Some(dot) => (&bytes[..dot], &bytes[dot..] != b".part"),
        None => (bytes, true),
    }
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "json")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_of_one_key_are_one_entry_json_first_and_links_are_not_the_caches() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(at("k1.bin"), b"12345").unwrap();
        std::fs::write(at("k1.json"), b"{}").unwrap();
        std::fs::write(at("k2.mp4"), b"video").unwrap();
        std::fs::write(at("k3.part"), b"partial").unwrap();
        std::fs::write(at(".tmp-abc"), b"t").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", at("k4.json")).unwrap();
        std::fs::create_dir(at("k5")).unwrap();

        let found = entries(dir.path());
        let summary: Vec<_> = found
            .iter()
            .map(|entry| {
                let names: Vec<_> = entry
                    .files
                    .iter()
                    .map(|file| file.file_name().unwrap().to_string_lossy().into_owned())
                    .collect();
                (
                    entry
                        .shown
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    names,
                    entry.size,
                    entry.settled,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (".tmp-abc".into(), vec![".tmp-abc".into()], 1, false),
                (
                    "k1".into(),
                    vec!["k1.json".into(), "k1.bin".into()],
                    7,
                    true
                ),
                ("k2".into(), vec!["k2.mp4".into()], 5, true),
                ("k3".into(), vec!["k3.part".into()], 7, false),
            ]
        );
        assert!(entries(&at("missing")).is_empty());
    }
}
