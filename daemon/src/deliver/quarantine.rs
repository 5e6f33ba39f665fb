//! What a failed job's input becomes in failed/: never a FIFO, a socket, a device node
//! or a link.
//!
//! An input refused at claim reaches failed/ as it was dropped: a link to anywhere, a
//! FIFO that would hang `grep -R failed/`, a device node, or a folder holding such
//! entries, still owned by the dropper (who may hold descriptors into it and add to it
//! later). So those entries are recorded in error.json (`removed_entries`: the path in
//! the failed folder, the kind, a link's target, escaped) and left behind in the job
//! folder, which is deleted. A dropped folder is rebuilt out of daemon-made folders into
//! which its regular files are moved (renamed, never copied or opened), so nothing the
//! dropper can still add to lands in failed/. A regular file, and a snapshot (already the
//! daemon's own), move as they are.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::logging::escape;
use crate::spool::tree::{self, MAX_TREE_DEPTH, Order, Step};

/// An entry of a failed input that was not delivered, in error.json.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemovedEntry {
    /// Where it would be in the failed folder (escaped).
    pub path: String,
    /// `symlink`, `fifo`, `socket`, `block device`, `character device`, `folder`
    /// (nested deeper than chute walks, or unreadable).
    pub kind: String,
    /// A symlink's target (escaped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// What is left to do with the input after [`make_safe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Move it into the failed folder as it is.
    MoveAsIs,
    /// Nothing: it is already in the failed folder (rebuilt), gone, or not delivered.
    Done,
}

/// Makes the input `name` of `input_dir` safe to deliver to `destination` (its place in
/// the failed folder being filled). `snapshot_inode`: the inode of the job's snapshot,
/// which moves as it is. Returns what is left to do and the entries not delivered.
/// Idempotent: what an earlier run moved is not met again, and what it left behind is
/// recorded again.
pub fn make_safe(
    input_dir: &Path,
    name: &OsStr,
    snapshot_inode: Option<u64>,
    destination: &Path,
) -> io::Result<(Delivery, Vec<RemovedEntry>)> {
    let dir = rustix::fs::open(
        input_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let c_name = tree::c_name(name)?;
    let meta = match tree::look_at(dir.as_fd(), &c_name) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok((Delivery::Done, Vec::new()));
        }
        Err(error) => return Err(error),
    };
    let shown = destination
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if meta.is_file() || (meta.is_dir() && snapshot_inode == Some(meta.ino())) {
        return Ok((Delivery::MoveAsIs, Vec::new()));
    }
    if !meta.is_dir() {
        let removed = removed(dir.as_fd(), &c_name, Path::new(&shown), &meta);
        return Ok((Delivery::Done, vec![removed]));
    }
    let source = tree::open_dir_at(dir.as_fd(), &c_name, &meta)?;
    match std::fs::create_dir(destination) {
        Err(error) if error.kind() != io::ErrorKind::AlreadyExists => return Err(error),
        _ => {}
    }
    let target = rustix::fs::open(
        destination,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut rebuild = Rebuild {
        top: shown,
        removed: Vec::new(),
    };
    tree::walk(source.as_fd(), Order::AsListed, &target, &mut rebuild)?;
    Ok((Delivery::Done, rebuild.removed))
}

/// The walk that moves a dropped folder's regular files into daemon-made folders (the
/// context: the folder made for the folder being walked).
struct Rebuild {
    /// The folder's name in the failed folder.
    top: String,
    removed: Vec<RemovedEntry>,
}

impl Rebuild {
    fn skip(&mut self, entry: &tree::Entry<'_>) -> io::Result<Step<OwnedFd>> {
        let shown = Path::new(&self.top).join(entry.relative);
        self.removed
            .push(removed(entry.parent, entry.name, &shown, entry.meta));
        Ok(Step::Next)
    }
}

impl tree::Visitor<OwnedFd> for Rebuild {
    fn visit(&mut self, entry: &tree::Entry<'_>, target: &OwnedFd) -> io::Result<Step<OwnedFd>> {
        if entry.meta.is_file() {
            rustix::fs::renameat(entry.parent, entry.name, target, entry.name)?;
            return Ok(Step::Next);
        }
        if !entry.meta.is_dir() || entry.depth >= MAX_TREE_DEPTH {
            return self.skip(entry);
        }
        let Ok(source) = tree::open_dir_at(entry.parent, entry.name, entry.meta) else {
            return self.skip(entry);
        };
        match rustix::fs::mkdirat(target, entry.name, Mode::from_raw_mode(0o700)) {
            Err(rustix::io::Errno::EXIST) | Ok(()) => {}
            Err(errno) => return Err(errno.into()),
        }
        let made = tree::look_at(target.as_fd(), entry.name)?;
        let child = tree::open_dir_at(target.as_fd(), entry.name, &made)?;
        Ok(Step::Descend(source, child))
    }
}

/// The record of an entry left out: where it was, what it is, where a link pointed.
fn removed(
    parent: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    shown: &Path,
    meta: &std::fs::Metadata,
) -> RemovedEntry {
    let target = meta
        .file_type()
        .is_symlink()
        .then(|| rustix::fs::readlinkat(parent, name, Vec::new()).ok())
        .flatten()
        .map(|target| escape(&OsStr::from_bytes(target.to_bytes()).to_string_lossy()).into_owned());
    RemovedEntry {
        path: escape(&shown.to_string_lossy()).into_owned(),
        kind: tree::kind_name(meta).to_owned(),
        target,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::FileTypeExt;

    use super::*;

    fn kinds(removed: &[RemovedEntry]) -> Vec<(&str, &str, Option<&str>)> {
        let mut kinds: Vec<_> = removed
            .iter()
            .map(|entry| {
                (
                    entry.path.as_str(),
                    entry.kind.as_str(),
                    entry.target.as_deref(),
                )
            })
            .collect();
        kinds.sort();
        kinds
    }

    #[test]
    fn a_dropped_folder_is_rebuilt_without_its_special_entries() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        let album = input.join("album");
        std::fs::create_dir_all(album.join("sub/deeper")).unwrap();
        std::fs::write(album.join("a.txt"), b"a").unwrap();
        std::fs::write(album.join("sub/deeper/b.txt"), b"b").unwrap();
        std::os::unix::fs::symlink("/etc/passwd\n\u{202e}", album.join("sub/link")).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            album.join("sub/deeper/pipe"),
            Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let a_inode = std::fs::metadata(album.join("a.txt")).unwrap().ino();
        let staging = dir.path().join("staging");
        std::fs::create_dir(&staging).unwrap();
        let destination = staging.join("album");

        let (plan, removed) = make_safe(&input, OsStr::new("album"), None, &destination).unwrap();
        assert_eq!(plan, Delivery::Done);
        assert_eq!(
            kinds(&removed),
            vec![
                ("album/sub/deeper/pipe", "fifo", None),
                ("album/sub/link", "symlink", Some("/etc/passwd\\n\\u{202e}")),
            ]
        );
        // Regular files moved (same inode), folders made anew, no special entry.
        assert_eq!(
            std::fs::metadata(destination.join("a.txt")).unwrap().ino(),
            a_inode
        );
        assert_eq!(
            std::fs::read(destination.join("sub/deeper/b.txt")).unwrap(),
            b"b"
        );
        assert!(std::fs::symlink_metadata(destination.join("sub/link")).is_err());
        assert!(std::fs::symlink_metadata(destination.join("sub/deeper/pipe")).is_err());
        // Run again (a crash before the publication): the same record, nothing lost.
        let (_, again) = make_safe(&input, OsStr::new("album"), None, &destination).unwrap();
        assert_eq!(kinds(&again), kinds(&removed));
        assert_eq!(std::fs::read(destination.join("a.txt")).unwrap(), b"a");
    }

    #[test]
    fn a_special_input_is_recorded_and_never_delivered_and_a_file_moves_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("input");
        std::fs::create_dir(&input).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            input.join("pipe.wav"),
            Mode::from_raw_mode(0o600),
        )
        .unwrap();
        let destination = dir.path().join("pipe.wav");
        let (plan, removed) =
            make_safe(&input, OsStr::new("pipe.wav"), None, &destination).unwrap();
        assert_eq!(plan, Delivery::Done);
        assert_eq!(kinds(&removed), vec![("pipe.wav", "fifo", None)]);
        assert!(std::fs::symlink_metadata(&destination).is_err());
        assert!(
            std::fs::symlink_metadata(input.join("pipe.wav"))
                .unwrap()
                .file_type()
                .is_fifo()
        );

        std::fs::write(input.join("big.bin"), b"x").unwrap();
        let (plan, removed) = make_safe(
            &input,
            OsStr::new("big.bin"),
            None,
            &dir.path().join("big.bin"),
        )
        .unwrap();
        assert_eq!((plan, removed), (Delivery::MoveAsIs, Vec::new()));
    }
}
