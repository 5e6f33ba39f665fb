//! Dropped entries reached through open folder descriptors, never through joined paths.
//!
//! A dropper may keep descriptors into what it dropped and go on changing it after the
//! claim: a path checked a moment ago can name another file, a link, or a FIFO by the
//! time it is used. So nothing here builds a path to reach an entry. Every entry is
//! looked at relative to its open parent folder with `O_PATH | O_NOFOLLOW` (no link is
//! followed, no FIFO blocks, no device driver runs), and a folder or regular file is
//! opened relative to that same parent with `O_NOFOLLOW` and checked, with `fstat` on
//! the new descriptor, to be the very inode that was looked at.
//!
//! Walks hold one descriptor per level (two while a level is being listed), so the depth
//! of a dropped folder is bounded by [`MAX_TREE_DEPTH`].

use std::ffi::{CStr, CString, OsStr};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Deepest a dropped folder may nest (the folder itself is level 0).
pub const MAX_TREE_DEPTH: usize = 64;

/// Longest relative path inside a dropped folder, in bytes: what the system allows for a
/// whole path (`PATH_MAX`, 4,096 with its terminating zero), so every later step that
/// names a file inside the job folder can still reach it.
pub const MAX_RELATIVE_PATH_BYTES: usize = 4095;

/// What a not-regular, not-folder entry is, as error.json and reasons name it.
pub fn kind_name(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_dir() {
        "folder"
    } else if file_type.is_file() {
        "file"
    } else if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "unknown"
    }
}

/// A name as a C string (names read from a folder never hold a NUL byte).
pub fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a file name holds a NUL byte"))
}

/// Looks at `name` inside `parent` without following it and without opening it for
/// reading: what `lstat` would say, but relative to an open folder.
pub fn look_at(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<Metadata> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    File::from(fd).metadata()
}

/// Whether two looks saw the same inode.
pub fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn replaced(name: &CStr) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{:?} was replaced by another entry while it was being read",
            OsStr::from_bytes(name.to_bytes())
        ),
    )
}

/// Opens the folder `name` inside `parent` (never through a link) and checks that it is
/// the inode `seen` describes.
pub fn open_dir_at(parent: BorrowedFd<'_>, name: &CStr, seen: &Metadata) -> io::Result<OwnedFd> {
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let opened = meta_of(fd.as_fd())?;
    if !opened.is_dir() || !same_inode(&opened, seen) {
        return Err(replaced(name));
    }
    Ok(fd)
}

/// Opens the regular file `name` inside `parent` for reading (never through a link,
/// without blocking, never as a controlling terminal) and checks that it is the inode
/// `seen` describes. Returns the file and what `fstat` says about it now.
pub fn open_file_at(
    parent: BorrowedFd<'_>,
    name: &CStr,
    seen: &Metadata,
) -> io::Result<(File, Metadata)> {
    if !seen.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{:?} is a {}, not a regular file",
                OsStr::from_bytes(name.to_bytes()),
                kind_name(seen)
            ),
        ));
    }
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    let opened = file.metadata()?;
    if !opened.is_file() || !same_inode(&opened, seen) {
        return Err(replaced(name));
    }
    Ok((file, opened))
}

/// Opens a folder by path (its last component never followed) as a walk's root, and
/// checks that it is the inode `seen` describes.
pub fn open_root(path: &Path, seen: &Metadata) -> io::Result<OwnedFd> {
    let fd = rustix::fs::openat(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let opened = meta_of(fd.as_fd())?;
    if !opened.is_dir() || !same_inode(&opened, seen) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} was replaced while it was being read", path.display()),
        ));
    }
    Ok(fd)
}

/// `fstat` of a descriptor, as std's portable [`Metadata`].
pub fn meta_of(fd: BorrowedFd<'_>) -> io::Result<Metadata> {
    File::from(fd.try_clone_to_owned()?).metadata()
}

/// Most entries a dropped folder may contain (deeper or larger trees are refused).
pub const MAX_TREE_ENTRIES: usize = 10_000;

/// The order a walk meets the entries of a folder in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Byte order of the names, at most [`MAX_TREE_ENTRIES`] + 1 per folder (a larger
    /// folder is refused anyway, and is never held in memory whole).
    Sorted,
    /// As the folder lists them, every one, read while the walk goes on.
    AsListed,
}

/// The names in a folder (without `.` and `..`) in byte order; at most `max`.
pub fn sorted_names(dir: BorrowedFd<'_>, max: usize) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            if names.len() == max {
                break;
            }
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// One entry met by [`walk`].
#[derive(Debug)]
pub struct Entry<'a> {
    /// Its folder, open.
    pub parent: BorrowedFd<'a>,
    /// Its name in that folder.
    pub name: &'a CStr,
    /// Its path relative to the walk's root (for messages and records only: never
    /// opened).
    pub relative: &'a Path,
    /// What it is, looked at without following it.
    pub meta: &'a Metadata,
    /// How deep it is: 1 for the root's own entries.
    pub depth: usize,
}

/// What a walk does after a visit.
pub enum Step<T> {
    /// Walk into this folder (opened with [`open_dir_at`]), carrying `T` for its
    /// entries.
    Descend(OwnedFd, T),
    /// Go on with the next entry.
    Next,
    /// End the walk.
    Stop,
}

/// Whether a walk went through everything or was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walked {
    /// Every entry was visited (that the visits chose to walk into).
    Completed,
    /// A visit stopped it.
    Stopped,
}

/// What a walk calls: once per entry, and once when it is done with a folder it
/// walked into. A closure `FnMut(&Entry, &T) -> io::Result<Step<T>>` is a visitor that
/// does nothing on leaving.
pub trait Visitor<T> {
    /// Visits one entry; `context` is its folder's.
    fn visit(&mut self, entry: &Entry<'_>, context: &T) -> io::Result<Step<T>>;

    /// Called after the entries of `entry`, a folder walked into (`folder`, still
    /// open), were visited, with the context the visit gave it. Returns whether the
    /// walk goes on.
    fn leave(&mut self, entry: &Entry<'_>, folder: BorrowedFd<'_>, context: T) -> io::Result<bool> {
        let _ = (entry, folder, context);
        Ok(true)
    }
}

impl<T, F> Visitor<T> for F
where
    F: FnMut(&Entry<'_>, &T) -> io::Result<Step<T>>,
{
    fn visit(&mut self, entry: &Entry<'_>, context: &T) -> io::Result<Step<T>> {
        self(entry, context)
    }
}

/// Visits every entry under the open folder `root`, depth first, in `order`. The
/// visitor decides whether to walk into a folder (it opens it, usually with
/// [`open_dir_at`]) and carries a value of its own per folder (`context` for the
/// root's entries). An entry removed between the listing and the look is skipped.
pub fn walk<T>(
    root: BorrowedFd<'_>,
    order: Order,
    context: &T,
    visitor: &mut impl Visitor<T>,
) -> io::Result<Walked> {
    let mut relative = PathBuf::new();
    walk_level(root, order, &mut relative, 1, context, visitor)
}

fn walk_level<T>(
    dir: BorrowedFd<'_>,
    order: Order,
    relative: &mut PathBuf,
    depth: usize,
    context: &T,
    visitor: &mut impl Visitor<T>,
) -> io::Result<Walked> {
    let mut listed;
    let mut sorted;
    let names: &mut dyn Iterator<Item = io::Result<CString>> = match order {
        Order::Sorted => {
            sorted = sorted_names(dir, MAX_TREE_ENTRIES + 1)?.into_iter().map(Ok);
            &mut sorted
        }
        Order::AsListed => {
            listed = rustix::fs::Dir::read_from(dir)?.filter_map(|entry| match entry {
                Ok(entry) => {
                    let name = entry.file_name();
                    (name != c"." && name != c"..").then(|| Ok(name.to_owned()))
                }
                Err(errno) => Some(Err(errno.into())),
            });
            &mut listed
        }
    };
    for name in names {
        let name = name?;
        let meta = match look_at(dir, &name) {
            Ok(meta) => meta,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        relative.push(OsStr::from_bytes(name.to_bytes()));
        let walked = visit_one(dir, order, relative, depth, &name, &meta, context, visitor);
        relative.pop();
        if walked? == Walked::Stopped {
            return Ok(Walked::Stopped);
        }
    }
    Ok(Walked::Completed)
}

#[allow(clippy::too_many_arguments)]
fn visit_one<T>(
    dir: BorrowedFd<'_>,
    order: Order,
    relative: &mut PathBuf,
    depth: usize,
    name: &CStr,
    meta: &Metadata,
    context: &T,
    visitor: &mut impl Visitor<T>,
) -> io::Result<Walked> {
    let entry = Entry {
        parent: dir,
        name,
        relative,
        meta,
        depth,
    };
    let (child, child_context) = match visitor.visit(&entry, context)? {
        Step::Descend(child, child_context) => (child, child_context),
        Step::Next => return Ok(Walked::Completed),
        Step::Stop => return Ok(Walked::Stopped),
    };
    if walk_level(
        child.as_fd(),
        order,
        relative,
        depth + 1,
        &child_context,
        visitor,
    )? == Walked::Stopped
    {
        return Ok(Walked::Stopped);
    }
    let entry = Entry {
        parent: dir,
        name,
        relative,
        meta,
        depth,
    };
    Ok(if visitor.leave(&entry, child.as_fd(), child_context)? {
        Walked::Completed
    } else {
        Walked::Stopped
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_walk_sees_every_entry_in_order_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("a.txt"), b"x").unwrap();
        std::fs::write(root.join("b/c/d.txt"), b"y").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("b/link")).unwrap();
        let seen = std::fs::symlink_metadata(&root).unwrap();
        let fd = open_root(&root, &seen).unwrap();
        let mut met = Vec::new();
        walk(
            fd.as_fd(),
            Order::Sorted,
            &(),
            &mut |entry: &Entry<'_>, _: &()| {
                met.push((
                    entry.relative.to_owned(),
                    kind_name(entry.meta),
                    entry.depth,
                ));
                if entry.meta.is_dir() {
                    let child = open_dir_at(entry.parent, entry.name, entry.meta)?;
                    return Ok(Step::Descend(child, ()));
                }
                Ok(Step::Next)
            },
        )
        .unwrap();
        let expected: Vec<(PathBuf, &str, usize)> = vec![
            ("a.txt".into(), "file", 1),
            ("b".into(), "folder", 1),
            ("b/c".into(), "folder", 2),
            ("b/c/d.txt".into(), "file", 3),
            ("b/link".into(), "symlink", 2),
        ];
        assert_eq!(met, expected);
    }

    #[test]
    fn opening_checks_the_inode_that_was_looked_at() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"a").unwrap();
        std::fs::write(dir.path().join("b"), b"b").unwrap();
        let parent = open_root(dir.path(), &std::fs::metadata(dir.path()).unwrap()).unwrap();
        let seen_a = look_at(parent.as_fd(), c"a").unwrap();
        assert!(open_file_at(parent.as_fd(), c"a", &seen_a).is_ok());
        // `a` replaced by another file after it was looked at.
        std::fs::rename(dir.path().join("b"), dir.path().join("a")).unwrap();
        let error = open_file_at(parent.as_fd(), c"a", &seen_a).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData, "{error}");
        // A FIFO is looked at without blocking and never opened.
        rustix::fs::mkfifoat(parent.as_fd(), c"fifo", Mode::from_raw_mode(0o600)).unwrap();
        let fifo = look_at(parent.as_fd(), c"fifo").unwrap();
        assert_eq!(kind_name(&fifo), "fifo");
        assert!(open_file_at(parent.as_fd(), c"fifo", &fifo).is_err());
    }
}
