//! Durable, atomic file operations used everywhere in the spool.
//!
//! Invariant: a record file (job.json, state.json, result.json, …) is only ever replaced
//! by rename of a fully written (and, when durability is on, fsynced) temporary file in
//! the same folder, so a reader sees the old or the new version, never a torn one.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Marks an I/O error as a failed fsync. Such an error must fail the step loudly: after
/// a failed fsync the kernel may have dropped the dirty pages, so a retry that "succeeds"
/// would be a false success.
#[derive(Debug, thiserror::Error)]
#[error(
    "fsync failed: {0} (the disk may be failing or full; data written since the last sync may be lost)"
)]
pub struct FsyncFailed(io::Error);

/// A failed fsync of `error`, as [`fsync`] reports it (for tests elsewhere).
#[cfg(test)]
pub(crate) fn fsync_failed_for_tests(error: io::Error) -> io::Error {
    io::Error::new(error.kind(), FsyncFailed(error))
}

/// Whether `error` came from a failed fsync.
pub fn is_fsync_failure(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<FsyncFailed>())
}

/// `sync_all` with its failure marked as [`FsyncFailed`].
pub fn fsync(file: &File) -> io::Result<()> {
    file.sync_all()
        .map_err(|error| io::Error::new(error.kind(), FsyncFailed(error)))
}

/// Writes `value` as pretty JSON to `path` atomically (temp file + rename).
/// With `durable`, the temp file is fsynced before the rename; an fsync failure is
/// returned, never ignored.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T, durable: bool) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes, durable)
}

/// Writes `bytes` to `path` atomically (temp file in the same folder + rename).
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no parent"))?;
    let mut temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    temp.write_all(bytes)?;
    if durable {
        fsync(temp.as_file())?;
    }
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Creates `path` (which must not exist) with `bytes`, without a temp file; used for
/// files in folders nobody else reads yet. Not fsynced: see [`sync_filesystem`].
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::options().write(true).create_new(true).open(path)?;
    file.write_all(bytes)
}

/// Reads and parses a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// fsyncs a folder so that renames and creations inside it are durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    fsync(&File::open(path)?)
}

/// Flushes everything written to the filesystem holding `path` (one `syncfs(2)`): the
/// group commit that makes a whole batch of claims durable at the cost of one sync.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    rustix::fs::syncfs(&dir).map_err(|errno| {
        let error = io::Error::from(errno);
        io::Error::new(error.kind(), FsyncFailed(error))
    })
}

/// Removes a folder tree, treating "already gone" as success.
///
/// "Directory not empty" is tried again a few times: on a network filesystem a file
/// still open elsewhere (NFS's `.nfsXXXX` silly renames) or a listing that lagged a
/// late write leaves an entry behind for a moment.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let mut pause = std::time::Duration::from_millis(20);
    for _ in 0..4 {
        match std::fs::remove_dir_all(path) {
            Err(error) if error.kind() == io::ErrorKind::DirectoryNotEmpty => {
                std::thread::sleep(pause);
                pause *= 2;
            }
            Err(error) if is_gone(&error) => return Ok(()),
            other => return other,
        }
    }
    match std::fs::remove_dir_all(path) {
        Err(error) if is_gone(&error) => Ok(()),
        other => other,
    }
}

/// Renames `from` to `to`. On a network filesystem a rename that succeeded can be
/// reported as failed (a retried request), so after an error other than "source gone"
/// the outcome is verified: `to` exists and `from` does not.
pub fn rename_verified(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(error) if is_gone(&error) => Err(as_not_found(error)),
        Err(error) => {
            let arrived = std::fs::symlink_metadata(to).is_ok();
            let left = std::fs::symlink_metadata(from).is_ok();
            if arrived && !left { Ok(()) } else { Err(error) }
        }
    }
}

/// Whether `error` says the entry is no longer there: `NotFound`, or `ESTALE`, which a
/// network filesystem returns when another host removed or renamed the entry this one
/// still had in its caches (GlusterFS does, within its ~1 s attribute cache).
pub fn is_gone(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
        || error.raw_os_error() == Some(rustix::io::Errno::STALE.raw_os_error())
}

/// `error` with the `NotFound` kind (callers match on the kind), its text kept.
pub fn as_not_found(error: io::Error) -> io::Error {
    if error.kind() == io::ErrorKind::NotFound {
        error
    } else {
        io::Error::new(io::ErrorKind::NotFound, error)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_json_atomic(&path, &serde_json::json!({"a": 1}), true).unwrap();
        write_json_atomic(&path, &serde_json::json!({"a": 2}), false).unwrap();
        let value: serde_json::Value = read_json(&path).unwrap().unwrap();
        assert_eq!(value["a"], 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_stale_handle_counts_as_gone() {
        let stale = io::Error::from_raw_os_error(rustix::io::Errno::STALE.raw_os_error());
        assert!(is_gone(&stale));
        assert_eq!(as_not_found(stale).kind(), io::ErrorKind::NotFound);
        assert!(!is_gone(&io::Error::from(io::ErrorKind::PermissionDenied)));
        let dir = tempfile::tempdir().unwrap();
        let error = rename_verified(&dir.path().join("gone"), &dir.path().join("to")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn read_json_distinguishes_missing_from_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.json");
        assert!(read_json::<serde_json::Value>(&path).unwrap().is_none());
        std::fs::write(&path, b"{\"id\": ").unwrap();
        assert!(read_json::<serde_json::Value>(&path).is_err());
    }
}
