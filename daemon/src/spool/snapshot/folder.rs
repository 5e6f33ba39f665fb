//! A dropped folder's snapshot: a new tree of daemon-made folders, every regular file
//! reflinked or copied through its checked descriptor, every folder checked unchanged
//! once its entries are copied.

use std::ffi::CStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::time::SystemTime;

use rustix::fs::Mode;

use super::{
    BUILDING, Request, Snapshot, SnapshotError, SnapshotMethod, changed, changed_since,
    copy_checked, create_at, keep_times, refusal,
};
use crate::logging::escape;
use crate::spool::entry::{self, InputKind, Rejection};
use crate::spool::tree::{self, Order, Step};
use crate::spool::{fsutil, reprocess};

/// Builds the snapshot of the dropped folder `name` (as `seen`) in `BUILDING`.
pub(super) fn build(
    dir: BorrowedFd<'_>,
    name: &CStr,
    seen: &Metadata,
    request: &Request<'_>,
) -> Result<Snapshot, SnapshotError> {
    let root = tree::open_dir_at(dir, name, seen).map_err(|error| refusal(None, error))?;
    rustix::fs::mkdirat(dir, BUILDING, Mode::from_raw_mode(0o700))?;
    let made = tree::look_at(dir, BUILDING)?;
    let target = tree::open_dir_at(dir, BUILDING, &made)?;
    let mut copy = FolderCopy {
        entries: 1,
        size: 0,
        modified: seen.modified()?,
        method: SnapshotMethod::Reflink,
        limit: request.limit,
        durable: request.durable,
        refused: None,
    };
    tree::walk(root.as_fd(), Order::Sorted, &target, &mut copy)?;
    if let Some(rejection) = copy.refused {
        return Err(SnapshotError::Refused(rejection));
    }
    if changed_since(seen, &tree::meta_of(root.as_fd())?) {
        return Err(changed("while it was being copied".into()));
    }
    let claimed = &request.claimed;
    if claimed.modified.is_some()
        && (copy.size != claimed.size
            || Some(copy.modified) != claimed.modified
            || claimed
                .entries
                .is_some_and(|entries| entries != copy.entries))
    {
        return Err(changed("after it was claimed".into()));
    }
    reprocess::carry(root.as_fd(), target.as_fd())?;
    let target = File::from(target);
    keep_times(&target, seen)?;
    if request.durable {
        fsutil::fsync(&target)?;
    }
    Ok(Snapshot {
        method: copy.method,
        inode: made.ino(),
        size: copy.size,
    })
}

/// The walk that copies a dropped folder into the snapshot's folders (the context: the
/// snapshot folder that mirrors the folder being walked).
struct FolderCopy {
    entries: usize,
    size: u64,
    modified: SystemTime,
    method: SnapshotMethod,
    limit: Option<u64>,
    durable: bool,
    refused: Option<Rejection>,
}

impl FolderCopy {
    fn refuse(&mut self, rejection: Rejection) -> io::Result<Step<OwnedFd>> {
        self.refused = Some(rejection);
        Ok(Step::Stop)
    }

    fn copy_file(
        &mut self,
        entry: &tree::Entry<'_>,
        target_dir: BorrowedFd<'_>,
    ) -> Result<(), SnapshotError> {
        let (source, before) = tree::open_file_at(entry.parent, entry.name, entry.meta)
            .map_err(|error| refusal(Some(entry.relative), error))?;
        if before.nlink() > 1 {
            return Err(SnapshotError::Refused(Rejection::UnsafeTreeEntry(format!(
                "{} ({})",
                escape(&entry.relative.to_string_lossy()),
                Rejection::HardLinked(before.nlink())
            ))));
        }
        self.size += before.len();
        if let Some(limit) = self.limit
            && self.size > limit
        {
            return Err(SnapshotError::Refused(Rejection::TooLarge {
                size: self.size,
                limit,
            }));
        }
        let target = create_at(target_dir, entry.name)?;
        if copy_checked(&source, &before, &target, Some(entry.relative))? == SnapshotMethod::Copy {
            self.method = SnapshotMethod::Copy;
        }
        keep_times(&target, &before)?;
        if self.durable {
            fsutil::fsync(&target)?;
        }
        Ok(())
    }
}

impl tree::Visitor<OwnedFd> for FolderCopy {
    fn visit(
        &mut self,
        entry: &tree::Entry<'_>,
        target_dir: &OwnedFd,
    ) -> io::Result<Step<OwnedFd>> {
        self.entries += 1;
        self.modified = self.modified.max(entry.meta.modified()?);
        match entry::check_tree_entry(entry, self.entries) {
            Err(rejection) => self.refuse(rejection),
            Ok(InputKind::Directory) => {
                let source = match tree::open_dir_at(entry.parent, entry.name, entry.meta) {
                    Ok(source) => source,
                    Err(error) => match refusal(Some(entry.relative), error) {
                        SnapshotError::Refused(rejection) => return self.refuse(rejection),
                        SnapshotError::Io(error) => return Err(error),
                    },
                };
                rustix::fs::mkdirat(target_dir, entry.name, Mode::from_raw_mode(0o700))?;
                let made = tree::look_at(target_dir.as_fd(), entry.name)?;
                let target = tree::open_dir_at(target_dir.as_fd(), entry.name, &made)?;
                Ok(Step::Descend(source, target))
            }
            Ok(InputKind::File) => match self.copy_file(entry, target_dir.as_fd()) {
                Ok(()) => Ok(Step::Next),
                Err(SnapshotError::Refused(rejection)) => self.refuse(rejection),
                Err(SnapshotError::Io(error)) => Err(error),
            },
        }
    }

    fn leave(
        &mut self,
        entry: &tree::Entry<'_>,
        folder: BorrowedFd<'_>,
        target: OwnedFd,
    ) -> io::Result<bool> {
        if changed_since(entry.meta, &tree::meta_of(folder)?) {
            self.refused = Some(Rejection::Changed(format!(
                "while it was being copied ({} changed)",
                escape(&entry.relative.to_string_lossy())
            )));
            return Ok(false);
        }
        let target = File::from(target);
        keep_times(&target, entry.meta)?;
        if self.durable {
            fsutil::fsync(&target)?;
        }
        Ok(true)
    }
}
