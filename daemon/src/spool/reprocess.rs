//! The "process this again" mark an inbox entry can carry: `chute submit --force` (and
//! `chute retry` on a done job) set it, and `prepare` then processes the input even
//! when the same content was delivered within the dedupe window (to run it with another
//! model, say). The mark is an extended attribute on the entry itself, so it moves with
//! the entry into its job folder; anyone who can write to the inbox can set it, which
//! only costs them the processing they asked for.

use std::io;
use std::path::Path;

/// The extended attribute that marks an entry.
const REPROCESS_XATTR: &str = "user.chute.reprocess";

/// Marks `path` (a file or folder, not followed if a link) to be processed again.
pub fn mark(path: &Path) -> io::Result<()> {
    rustix::fs::lsetxattr(path, REPROCESS_XATTR, b"1", rustix::fs::XattrFlags::empty())
        .map_err(|error| {
            io::Error::new(
                io::Error::from(error).kind(),
                format!(
                    "cannot mark it to be processed again: the spool's filesystem refused an extended attribute ({error})"
                ),
            )
        })
}

/// Whether `path` carries the mark.
pub fn is_marked(path: &Path) -> bool {
    let mut value = [0u8; 8];
    rustix::fs::lgetxattr(path, REPROCESS_XATTR, &mut value[..]).is_ok()
}

/// Puts the mark on `to` when `from` carries it (the snapshot of a marked input keeps
/// the mark). Both are open descriptors (not `O_PATH`).
pub fn carry(from: std::os::fd::BorrowedFd<'_>, to: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    let mut value = [0u8; 8];
    match rustix::fs::fgetxattr(from, REPROCESS_XATTR, &mut value[..]) {
        Ok(length) => rustix::fs::fsetxattr(
            to,
            REPROCESS_XATTR,
            &value[..length],
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(io::Error::from),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_mark_moves_with_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wav");
        std::fs::write(&file, b"x").unwrap();
        assert!(!is_marked(&file));
        if mark(&file).is_err() {
            // A filesystem without user xattrs (tmpfs on old kernels): nothing to test.
            return;
        }
        let moved = dir.path().join("moved.wav");
        std::fs::rename(&file, &moved).unwrap();
        assert!(is_marked(&moved));
    }
}
