//! How full the spool's filesystem is: space and inodes, counted the way `df` counts
//! them. `chute doctor` reports it; the disk monitor
//! (`housekeeping/monitor.rs`) holds claiming by the `[disk]` watermarks.

use std::io;
use std::path::Path;

/// Space and inode use of one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    /// Percent of the usable space in use, as `df` shows it (rounded up).
    pub used_percent: u64,
    /// Bytes an unprivileged process may still write.
    pub free_bytes: u64,
    /// Percent of the usable inodes in use, as `df -i` shows it (rounded up); 0 on
    /// filesystems without an inode count (btrfs and others report 0 inodes).
    pub inodes_used_percent: u64,
    /// Inodes an unprivileged process may still create.
    pub free_inodes: u64,
}

/// The usage of the filesystem holding `path` (one `statvfs(2)`).
pub fn usage(path: &Path) -> io::Result<DiskUsage> {
    let stats = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(DiskUsage {
        used_percent: used_percent(stats.f_blocks, stats.f_bfree, stats.f_bavail),
        free_bytes: stats.f_bavail.saturating_mul(stats.f_frsize),
        inodes_used_percent: used_percent(stats.f_files, stats.f_ffree, stats.f_favail),
        free_inodes: stats.f_favail,
    })
}

impl DiskUsage {
    /// The level the `[disk]` watermarks compare: the higher of the space and inode
    /// percentages (a disk out of inodes is as full as one out of bytes).
    pub fn level(&self) -> u64 {
        self.used_percent.max(self.inodes_used_percent)
    }
}

/// Use as `df` reports it: used units (blocks or inodes) over what users could have
/// (used plus available to unprivileged users), rounded up. Units reserved for root, or
/// not backed at all on thin-provisioned disks, do not count as used.
pub fn used_percent(total: u64, free: u64, available: u64) -> u64 {
    let used = total.saturating_sub(free);
    let usable = used.saturating_add(available);
    if usable == 0 {
        0
    } else {
        used.saturating_mul(100).div_ceil(usable)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn disk_use_is_counted_like_df() {
        // A 252 GB thin disk with 43 GB used and 49 GB available is 47 % used, not 81 %.
        assert_eq!(used_percent(252, 209, 49), 47);
        assert_eq!(used_percent(100, 5, 0), 100);
        assert_eq!(used_percent(0, 0, 0), 0);
    }

    #[test]
    fn usage_of_a_real_folder_is_a_percentage() {
        let dir = tempfile::tempdir().unwrap();
        let measured = usage(dir.path()).unwrap();
        assert!(measured.used_percent <= 100);
        assert!(measured.inodes_used_percent <= 100);
        assert!(measured.free_bytes > 0);
        assert!(usage(&dir.path().join("missing")).is_err());
    }
}
