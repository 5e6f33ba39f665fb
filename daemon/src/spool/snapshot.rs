//! The claimed input made the daemon's own before anything reads it.
//!
//! A dropper can keep a descriptor on what it dropped (opened before the claim, or
//! reopened later through `/proc/self/fd`), or make a second hard link in the moment
//! between the inspection and the claim's rename, and so rewrite a claimed file while
//! it is hashed, decoded or delivered; passthrough once delivered a hard link to that
//! very inode. So before the first stage the runner replaces the claimed input with a
//! snapshot: a new, daemon-owned file (a folder: a new tree of daemon-owned folders and
//! files) whose data is reflinked from the dropped one where the filesystem can (btrfs,
//! XFS, bcachefs…: `FICLONE`, blocks shared copy-on-write, nothing copied) and copied
//! where it cannot. The dropped inode then leaves the spool; what the dropper does with
//! it afterwards changes nothing chute hashes, processes or delivers.
//!
//! **Cost on ext4** (no reflinks): every byte of the input is copied once, in the
//! kernel (`copy_file_range`), before the first stage — about the time it takes to read
//! and write the input once — and the filesystem holds the input twice until the
//! dropped inode is freed (right after the swap, unless the dropper still holds it
//! open). Passthrough then hard-links the snapshot: no second copy.
//!
//! Each file is read through the descriptor that was checked with `fstat`, never past
//! the size `fstat` gave (plus one byte, to see growth). An input that changed since
//! the claim looked at it (size, modification time, entries), or while it was being
//! copied (size, modification or change time), is refused, as is a file with a second
//! hard link, a folder holding anything but folders and regular files, and an input
//! over the route's `max_size`.
//!
//! Crash safety: the snapshot is built as `input/.tmp-snapshot`, recorded in job.json
//! by the caller's `commit`, and only then put in place: a file in one rename over the
//! dropped one, a folder in two (the dropped one aside, the snapshot in). [`ensure`]
//! finishes a swap a crash interrupted, or starts over when the record does not match.

use std::ffi::{CStr, OsStr};
use std::fs::{File, FileTimes, Metadata};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};

use super::entry::{self, InputKind, Rejection};
use super::{fsutil, reprocess, tree};
use crate::logging::escape;

mod folder;

/// Where a snapshot is built, inside `input/` (hidden: `.tmp-` names are never taken
/// for the input).
const BUILDING: &CStr = c".tmp-snapshot";
/// Where a dropped folder waits while its snapshot takes its place.
const DROPPED: &CStr = c".tmp-snapshot-dropped";

/// How the claimed input was made the daemon's own (`job.json`'s `input.snapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Reflinked or copied.
    pub method: SnapshotMethod,
    /// The snapshot's inode (a folder: its own).
    pub inode: u64,
    /// Its size in bytes (a folder: the total of its files).
    pub size: u64,
}

/// How the bytes of a snapshot were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotMethod {
    /// No data was copied: every file shares its blocks with the dropped one
    /// (`FICLONE`, copy-on-write), or there was no file to copy.
    Reflink,
    /// At least one file was copied (a filesystem without reflinks, such as ext4).
    Copy,
}

/// What the claim saw of the input. Without `modified` nothing is compared (a record
/// from before snapshots, or a job put back by `chute retry`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Claimed {
    /// Size in bytes (a folder: the total of its files).
    pub size: u64,
    /// Latest modification time (a folder: of anything inside).
    pub modified: Option<SystemTime>,
    /// A folder's entries, itself included.
    pub entries: Option<usize>,
}

/// One snapshot to make sure of.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The job's `input/` folder.
    pub input_dir: &'a Path,
    /// The input's name in it.
    pub name: &'a OsStr,
    /// What was claimed: a file or a folder.
    pub kind: InputKind,
    /// What the claim saw.
    pub claimed: Claimed,
    /// The snapshot job.json records, if any.
    pub recorded: Option<Snapshot>,
    /// The route's `max_size`.
    pub limit: Option<u64>,
    /// Whether to fsync (`spool.fsync`).
    pub durable: bool,
}

/// Why no snapshot was made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The input is refused, for good: the job fails with this reason.
    #[error("{0}")]
    Refused(Rejection),
    /// The spool could not be read or written; trying again may work.
    #[error("cannot snapshot the input: {0}")]
    Io(#[from] io::Error),
}

impl From<rustix::io::Errno> for SnapshotError {
    fn from(errno: rustix::io::Errno) -> Self {
        SnapshotError::Io(errno.into())
    }
}

/// Makes sure the input is a snapshot: returns the one job.json records when it is in
/// place (finishing a swap a crash interrupted), else makes one, hands it to `commit`
/// (which records it in job.json) and puts it in place of the dropped input.
pub fn ensure(
    request: &Request<'_>,
    commit: impl FnOnce(&Snapshot) -> io::Result<()>,
) -> Result<Snapshot, SnapshotError> {
    let input_dir = rustix::fs::open(
        request.input_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let dir = input_dir.as_fd();
    let name = tree::c_name(request.name)?;
    if let Some(recorded) = request.recorded
        && finish(dir, request, &name, &recorded)?
    {
        return Ok(recorded);
    }
    remove(request.input_dir, BUILDING)?;
    let seen = tree::look_at(dir, &name)?;
    let built = match (entry::classify(&seen), request.kind) {
        (Ok(InputKind::File), InputKind::File) => build_file(dir, &name, &seen, request),
        (Ok(InputKind::Directory), InputKind::Directory) => {
            folder::build(dir, &name, &seen, request)
        }
        (Ok(_), _) => Err(SnapshotError::Refused(Rejection::Changed(
            "from a file into a folder, or back".into(),
        ))),
        (Err(rejection), _) => Err(SnapshotError::Refused(rejection)),
    };
    let snapshot = built
        .and_then(|snapshot| {
            commit(&snapshot)?;
            Ok(snapshot)
        })
        .inspect_err(|_| {
            let _ = remove(request.input_dir, BUILDING);
        })?;
    match request.kind {
        InputKind::File => rustix::fs::renameat(dir, BUILDING, dir, &name)?,
        InputKind::Directory => {
            rustix::fs::renameat(dir, &name, dir, DROPPED)?;
            rustix::fs::renameat(dir, BUILDING, dir, &name)?;
        }
    }
    if request.durable {
        fsutil::fsync(&File::from(dir.try_clone_to_owned()?))?;
    }
    remove_dropped(request.input_dir);
    Ok(snapshot)
}

/// Whether the recorded snapshot is in place, after finishing a folder swap a crash
/// cut in two. When it is not, a dropped folder moved aside is put back.
fn finish(
    dir: BorrowedFd<'_>,
    request: &Request<'_>,
    name: &CStr,
    recorded: &Snapshot,
) -> io::Result<bool> {
    match tree::look_at(dir, name) {
        Ok(meta) if meta.ino() == recorded.inode => {
            remove_dropped(request.input_dir);
            return Ok(true);
        }
        Ok(_) => return Ok(false),
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        Err(_) => {}
    }
    let built = tree::look_at(dir, BUILDING).is_ok_and(|meta| meta.ino() == recorded.inode);
    if built {
        rustix::fs::renameat(dir, BUILDING, dir, name)?;
        remove_dropped(request.input_dir);
        return Ok(true);
    }
    if tree::look_at(dir, DROPPED).is_ok() {
        rustix::fs::renameat(dir, DROPPED, dir, name)?;
    }
    Ok(false)
}

/// Removes a leftover of ours in `input/` (a file or a folder), if there is one.
fn remove(input_dir: &Path, name: &CStr) -> io::Result<()> {
    let path = input_dir.join(OsStr::from_bytes(name.to_bytes()));
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => fsutil::remove_tree(&path),
        Ok(_) => std::fs::remove_file(&path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Removes the dropped folder a swap moved aside. Failing that (a folder the daemon may
/// not empty), it stays hidden in `input/` and goes with the job folder.
fn remove_dropped(input_dir: &Path) {
    if let Err(error) = remove(input_dir, DROPPED) {
        tracing::warn!(%error, "Could not remove the dropped folder after its snapshot took its place; it is removed with the job folder.");
    }
}

fn build_file(
    dir: BorrowedFd<'_>,
    name: &CStr,
    seen: &Metadata,
    request: &Request<'_>,
) -> Result<Snapshot, SnapshotError> {
    let (source, before) =
        tree::open_file_at(dir, name, seen).map_err(|error| refusal(None, error))?;
    if before.nlink() > 1 {
        return Err(SnapshotError::Refused(Rejection::HardLinked(
            before.nlink(),
        )));
    }
    let claimed = &request.claimed;
    if claimed.modified.is_some()
        && (before.len() != claimed.size || Some(before.modified()?) != claimed.modified)
    {
        return Err(changed("after it was claimed".into()));
    }
    if let Some(limit) = request.limit
        && before.len() > limit
    {
        return Err(SnapshotError::Refused(Rejection::TooLarge {
            size: before.len(),
            limit,
        }));
    }
    let target = create_at(dir, BUILDING)?;
    let method = copy_checked(&source, &before, &target, None)?;
    reprocess::carry(source.as_fd(), target.as_fd())?;
    keep_times(&target, &before)?;
    if request.durable {
        fsutil::fsync(&target)?;
    }
    Ok(Snapshot {
        method,
        inode: target.metadata()?.ino(),
        size: before.len(),
    })
}

/// An error opening a dropped entry, as a refusal when it is one: the entry was
/// replaced (the input changed), or it can never be read (no permission, a loop).
fn refusal(relative: Option<&Path>, error: io::Error) -> SnapshotError {
    let shown = relative
        .map(|relative| format!(" ({})", escape(&relative.to_string_lossy())))
        .unwrap_or_default();
    if error.kind() == io::ErrorKind::InvalidData {
        changed(format!("while it was being copied{shown}: {error}"))
    } else if entry::is_permanent(&error) {
        SnapshotError::Refused(Rejection::Unreadable(format!("{error}{shown}")))
    } else {
        SnapshotError::Io(error)
    }
}

fn changed(when: String) -> SnapshotError {
    SnapshotError::Refused(Rejection::Changed(when))
}

/// Whether an inode's size or times differ between two looks.
fn changed_since(before: &Metadata, after: &Metadata) -> bool {
    before.len() != after.len()
        || (before.mtime(), before.mtime_nsec()) != (after.mtime(), after.mtime_nsec())
        || (before.ctime(), before.ctime_nsec()) != (after.ctime(), after.ctime_nsec())
}

/// A new, empty file `name` in `dir`, for writing, private to the daemon.
fn create_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

/// Copies `source` (as `before` describes it) into the empty `target` and checks that
/// what was copied is what `before` said and that `source` did not change meanwhile.
fn copy_checked(
    source: &File,
    before: &Metadata,
    target: &File,
    relative: Option<&Path>,
) -> Result<SnapshotMethod, SnapshotError> {
    let (method, copied) = clone_or_copy(source, target, before.len())?;
    if copied != before.len() || changed_since(before, &source.metadata()?) {
        let shown = relative
            .map(|relative| format!(" ({} was written to)", escape(&relative.to_string_lossy())))
            .unwrap_or_default();
        return Err(changed(format!("while it was being copied{shown}")));
    }
    Ok(method)
}

/// Errors of `FICLONE` that only mean "no reflink here": copy instead.
const NO_REFLINK: [rustix::io::Errno; 5] = [
    rustix::io::Errno::OPNOTSUPP,
    rustix::io::Errno::XDEV,
    rustix::io::Errno::INVAL,
    rustix::io::Errno::NOTTY,
    rustix::io::Errno::NOSYS,
];

/// Fills the empty `target` with the data of `source`: a reflink where the filesystem
/// can make one, else a copy in the kernel of at most `size + 1` bytes (one more than
/// `fstat` said, to notice a file that grew). Returns how, and how many bytes `target`
/// now holds.
pub fn clone_or_copy(source: &File, target: &File, size: u64) -> io::Result<(SnapshotMethod, u64)> {
    match rustix::fs::ioctl_ficlone(target, source) {
        Ok(()) => return Ok((SnapshotMethod::Reflink, target.metadata()?.len())),
        Err(errno) if NO_REFLINK.contains(&errno) => {}
        Err(errno) => return Err(errno.into()),
    }
    let mut reader = Read::take(source, size.saturating_add(1));
    let mut writer = target;
    let copied = io::copy(&mut reader, &mut writer)?;
    Ok((SnapshotMethod::Copy, copied))
}

/// Gives `target` the access and modification times of what `source` describes (a
/// delivered input keeps its times, as `cp -p` would).
fn keep_times(target: &File, source: &Metadata) -> io::Result<()> {
    target.set_times(
        FileTimes::new()
            .set_accessed(source.accessed()?)
            .set_modified(source.modified()?),
    )
}

#[cfg(test)]
mod tests;
