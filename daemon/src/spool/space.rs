//! Disk space for jobs: what a full disk looks like as an error, how much room the
//! spool's filesystem has, and the two things that keep a full disk from losing work.
//!
//! - **Out of space is its own kind of error** ([`is_out_of_space`]: `ENOSPC`,
//!   `EDQUOT`). A stage that meets it has already removed its partial work files; the
//!   runner then waits for room ("waiting for disk space") and runs the stage again
//!   from its checkpoint, without counting a failed attempt.
//! - **Reservations** (`space/table.rs`): a stage that writes a lot (a decode writes
//!   duration × 16 000 × 4 bytes) reserves its expected output first; the table grants
//!   it only when the filesystem's free bytes, minus `disk.reserve`, minus what other
//!   reservations still have to write, cover it. Concurrent decodes cannot overcommit.
//! - **Records need no new space** (`space/emergency.rs`). Failing, cancelling or
//!   pausing a job writes small records (state.json, error.json, the cancel file, a
//!   "waiting" event). Two measures, chosen for what each record is:
//!   - events.jsonl is append-only, so it keeps a pre-allocated tail beyond its end
//!     (`fallocate(KEEP_SIZE)`, see [`crate::job::events`]): a "waiting for disk
//!     space" line lands in blocks the file already owns.
//!   - state.json and error.json are replaced by temp file + rename (a torn record is
//!     worse than a full disk), which always needs a few new blocks. For them the
//!     spool keeps an **emergency reserve**: a 1 MiB file (`.space-reserve`,
//!     fallocate'd, owned by the daemon) that is removed the moment a checkpoint
//!     (state.json), an event or a cancel file meets a full disk, and just before a
//!     job is failed, cancelled or delivered while the disk is nearly full; then the
//!     write is tried again. Routine writes (job.json's heartbeat, caches) never take
//!     it. The daemon re-creates it as soon as there is room for it beyond
//!     `disk.reserve`, and starts no job while free space is below `disk.reserve`.
//!     In-place rewrites of pre-allocated records were the other option; they would
//!     give up the atomic-rename invariant every record reader relies on.
//!
//! The reserve of a spool is released by whichever process of this user meets the full
//! disk there: the daemon, or `chute cancel` (which ends a job no daemon holds).

pub mod emergency;
#[cfg(test)]
mod full_disk_tests;
pub mod table;
#[cfg(test)]
pub(crate) mod test_fs;

use std::io;
use std::path::Path;

pub use emergency::EmergencyReserve;
pub use table::{Reservation, Shortfall, SpaceTable};

/// What "waiting for disk space" events begin with (after [`crate::pipeline::WAITING_FOR`]).
pub const WAITING_FOR_SPACE: &str = "waiting for disk space";

/// Whether `error` says the filesystem (or the user's quota) is full: `ENOSPC` or
/// `EDQUOT`, also when wrapped (a failed fsync, an error carried inside another).
pub fn is_out_of_space(error: &io::Error) -> bool {
    let full =
        [rustix::io::Errno::NOSPC, rustix::io::Errno::DQUOT].map(|errno| errno.raw_os_error());
    if error
        .raw_os_error()
        .is_some_and(|code| full.contains(&code))
    {
        return true;
    }
    if error.kind() == io::ErrorKind::StorageFull || error.kind() == io::ErrorKind::QuotaExceeded {
        return true;
    }
    let mut inner: Option<&(dyn std::error::Error + 'static)> = error
        .get_ref()
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    while let Some(cause) = inner {
        if let Some(io_error) = cause.downcast_ref::<io::Error>()
            && is_out_of_space(io_error)
        {
            return true;
        }
        inner = cause.source();
    }
    false
}

/// The room on the filesystem holding `path`: bytes an unprivileged process may still
/// write, and the filesystem's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Bytes that may still be written (`f_bavail`).
    pub free: u64,
    /// The filesystem's size (`f_blocks`).
    pub total: u64,
}

/// One `statvfs(2)` of the filesystem holding `path`.
pub fn room(path: &Path) -> io::Result<Room> {
    let stats = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(Room {
        free: stats.f_bavail.saturating_mul(stats.f_frsize),
        total: stats.f_blocks.saturating_mul(stats.f_frsize),
    })
}

/// Runs `write` (a record write under `path`); when it meets a full disk and the spool
/// holding `path` has an emergency reserve, releases the reserve and runs it once more.
pub fn with_reserve_released<T>(
    path: &Path,
    mut write: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    match write() {
        Err(error) if is_out_of_space(&error) && emergency::release_for(path) => {
            tracing::warn!(path = %path.display(), "The disk is full; released the emergency reserve to write a record.");
            write()
        }
        other => other,
    }
}

/// Human-readable bytes (`12.5 MiB`) for events and logs.
pub fn show_bytes(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn enospc_and_edquot_are_out_of_space_also_when_wrapped() {
        let full = io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error());
        assert!(is_out_of_space(&full));
        let quota = io::Error::from_raw_os_error(rustix::io::Errno::DQUOT.raw_os_error());
        assert!(is_out_of_space(&quota));
        let wrapped = io::Error::other(io::Error::from_raw_os_error(
            rustix::io::Errno::NOSPC.raw_os_error(),
        ));
        assert!(is_out_of_space(&wrapped));
        let fsync = crate::spool::fsutil::fsync_failed_for_tests(io::Error::from_raw_os_error(
            rustix::io::Errno::NOSPC.raw_os_error(),
        ));
        assert!(is_out_of_space(&fsync));
        for other in [
            io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
            io::Error::from_raw_os_error(rustix::io::Errno::FBIG.raw_os_error()),
            io::Error::new(io::ErrorKind::NotFound, "gone"),
            io::Error::other("no space left on device, says a plugin"),
        ] {
            assert!(!is_out_of_space(&other), "{other}");
        }
    }

    #[test]
    fn room_of_a_real_folder_is_within_its_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let measured = room(dir.path()).unwrap();
        assert!(measured.free <= measured.total);
        assert!(measured.total > 0);
    }
}
