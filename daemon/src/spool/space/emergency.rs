//! The emergency reserve: a 1 MiB file in the spool root (`.space-reserve`), its blocks
//! allocated (`fallocate`), that exists only to be removed when the disk is full, so
//! the records that fail, cancel or pause a job can still be written.
//!
//! Processes register the spools whose reserve they may release ([`install`]); a record
//! write that meets a full disk under such a spool removes the reserve and is tried
//! once more ([`super::with_reserve_released`]). The daemon puts it back
//! ([`EmergencyReserve::ensure`]) once the filesystem has room for it beyond
//! `disk.reserve`. Several daemons on one spool share the one file: whoever meets the
//! full disk first releases it, any of them re-creates it.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::spool::Spool;

/// The reserve file's name in the spool root.
pub const RESERVE_FILE: &str = ".space-reserve";

/// The reserve's size: enough for every record of a few dozen jobs ending at once.
pub const RESERVE_BYTES: u64 = 1 << 20;

/// Spool roots whose reserve this process may release.
static INSTALLED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The emergency reserve of one spool.
#[derive(Debug, Clone)]
pub struct EmergencyReserve {
    root: PathBuf,
}

impl EmergencyReserve {
    /// The reserve of `spool`.
    pub fn for_spool(spool: &Spool) -> Self {
        Self {
            root: spool.root().to_owned(),
        }
    }

    /// The reserve file.
    pub fn path(&self) -> PathBuf {
        self.root.join(RESERVE_FILE)
    }

    /// Lets record writes of this process under the spool release the reserve.
    pub fn install(&self) {
        let mut installed = INSTALLED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !installed.contains(&self.root) {
            installed.push(self.root.clone());
        }
    }

    /// Whether the reserve is in place (a regular file of its full size).
    pub fn is_in_place(&self) -> bool {
        std::fs::symlink_metadata(self.path())
            .is_ok_and(|metadata| metadata.is_file() && metadata.len() >= RESERVE_BYTES)
    }

    /// Puts the reserve in place when it is missing and the filesystem has room for it
    /// with `keep` bytes to spare; returns whether it is in place afterwards.
    pub fn ensure(&self, keep: u64) -> io::Result<bool> {
        if self.is_in_place() {
            return Ok(true);
        }
        let room = super::room(&self.root)?;
        if room.free < RESERVE_BYTES.saturating_add(keep) {
            return Ok(false);
        }
        let path = self.path();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(0o600)
            .open(&path)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, RESERVE_BYTES) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "The emergency reserve is in place.");
                Ok(true)
            }
            Err(error) => {
                drop(file);
                let _ = std::fs::remove_file(&path);
                Err(io::Error::from(error))
            }
        }
    }

    /// Removes the reserve (its blocks become free); returns whether it was there.
    pub fn release(&self) -> bool {
        match std::fs::remove_file(self.path()) {
            Ok(()) => true,
            Err(error) if error.kind() == io::ErrorKind::NotFound => false,
            Err(error) => {
                tracing::warn!(%error, "Cannot remove the emergency reserve.");
                false
            }
        }
    }

    /// Releases the reserve when the filesystem has less than half of it free, so the
    /// records about to be written (a failed or cancelled job's) find room.
    pub fn release_if_low(&self) -> bool {
        let low = super::room(&self.root).is_ok_and(|room| room.free < RESERVE_BYTES / 2);
        low && self.release()
    }
}

/// Releases the reserve of the installed spool holding `path`; returns whether one was
/// released.
pub fn release_for(path: &Path) -> bool {
    let roots = INSTALLED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    roots
        .iter()
        .filter(|root| path.starts_with(root))
        .any(|root| EmergencyReserve { root: root.clone() }.release())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_reserve_is_put_in_place_released_only_for_its_spool_and_put_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("spool"));
        std::fs::create_dir_all(spool.root()).unwrap();
        let reserve = EmergencyReserve::for_spool(&spool);
        assert!(!reserve.is_in_place());
        assert!(reserve.ensure(0).unwrap());
        let metadata = std::fs::metadata(reserve.path()).unwrap();
        assert_eq!(metadata.len(), RESERVE_BYTES);
        // Its blocks are allocated, not a sparse promise.
        assert!(std::os::unix::fs::MetadataExt::blocks(&metadata) * 512 >= RESERVE_BYTES);
        assert!(!release_for(&spool.jobs()), "not installed yet");
        reserve.install();
        assert!(!release_for(&dir.path().join("elsewhere/state.json")));
        assert!(reserve.is_in_place());
        assert!(release_for(&spool.jobs().join("x/state.json")));
        assert!(!reserve.is_in_place());
        assert!(!reserve.release(), "already gone");
        assert!(!reserve.ensure(u64::MAX / 2).unwrap(), "no room to spare");
        assert!(reserve.ensure(0).unwrap());
    }

    #[test]
    fn a_link_in_the_reserve_s_place_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(RESERVE_FILE)).unwrap();
        let reserve = EmergencyReserve::for_spool(&spool);
        assert!(reserve.ensure(0).is_err());
        assert!(reserve.release(), "the link itself is removed");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
