//! The job lock: an exclusive `flock` on `jobs/<id>/lock`, held while a daemon claims or
//! runs the job.
//!
//! The lock file is opened read-write once per holder and kept empty (NFS emulates flock
//! with a whole-file POSIX lock, which needs write access and is dropped when *any*
//! descriptor of the file is closed). After locking, the path is checked to still name
//! the locked inode: a job folder renamed away (delivered) while we waited must not be
//! mistaken for a live job.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use fs2::FileExt;

/// A held job lock; released on drop.
#[derive(Debug)]
pub struct JobLock {
    // Kept open: the lock lives exactly as long as this descriptor.
    _file: File,
}

impl JobLock {
    /// Creates a new lock file (it must not exist) and locks it: used by a claim.
    pub fn create(path: &Path) -> io::Result<JobLock> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.try_lock_exclusive()?;
        Ok(JobLock { _file: file })
    }

    /// Tries to lock an existing job's lock file. `Ok(None)` when another process holds
    /// it or the job folder is gone (delivered or removed meanwhile).
    pub fn try_acquire(path: &Path) -> io::Result<Option<JobLock>> {
        let file = match File::options().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(error) if crate::spool::fsutil::is_gone(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        match file.try_lock_exclusive() {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(error) if error.raw_os_error() == fs2::lock_contended_error().raw_os_error() => {
                return Ok(None);
            }
            Err(error) => return Err(error),
        }
        let held = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(current) if current.ino() == held.ino() && current.dev() == held.dev() => {
                Ok(Some(JobLock { _file: file }))
            }
            Ok(_) => Ok(None),
            Err(error) if crate::spool::fsutil::is_gone(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Creates the lock file if a damaged job folder lacks one, then tries to lock it;
    /// `Ok(None)` when the folder itself is gone.
    pub fn try_acquire_or_create(path: &Path) -> io::Result<Option<JobLock>> {
        match File::options().write(true).create_new(true).open(path) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) if crate::spool::fsutil::is_gone(&error) => return Ok(None),
            Err(error) => return Err(error),
        }
        Self::try_acquire(path)
    }

    /// Whether the lock file is free right now (locks and releases at once).
    pub fn is_free(path: &Path) -> io::Result<bool> {
        Ok(Self::try_acquire(path)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = JobLock::create(&path).unwrap();
        assert!(JobLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(JobLock::try_acquire(&path).unwrap().is_some());
    }

    #[test]
    fn lock_on_a_renamed_away_folder_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("job")).unwrap();
        let path = dir.path().join("job/lock");
        let held = JobLock::create(&path).unwrap();
        let waiter = File::options().read(true).write(true).open(&path).unwrap();
        std::fs::rename(dir.path().join("job"), dir.path().join("gone")).unwrap();
        drop(held);
        drop(waiter);
        assert!(JobLock::try_acquire(&path).unwrap().is_none());
    }
}
