//! Files only this user can have written: folders and files opened without following
//! links (`O_NOFOLLOW`) and trusted by what `fstat` says of the opened descriptor —
//! owned by the effective user, not writable by group or others, of the expected type.
//!
//! The compile cache and its key live on this (see `compile_cache.rs`): what is read
//! through these functions is what was checked, never a path opened a second time.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Why a folder or file is not trusted (the sentence reads after its path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Distrust {
    /// The name is a symbolic link.
    #[error("is a symbolic link")]
    Symlink,
    /// Another user owns it.
    #[error("is owned by uid {owner}, not by this user (uid {ours})")]
    NotOwned {
        /// Its owner.
        owner: u32,
        /// The effective user.
        ours: u32,
    },
    /// Its group or others may write it.
    #[error("is writable by its group or others (mode {mode:04o})")]
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// Its group or others may read it (for a secret).
    #[error("is readable by its group or others (mode {mode:04o})")]
    Readable {
        /// Its permission bits.
        mode: u32,
    },
    /// Not the type expected (a folder where a file belongs, a device…).
    #[error("is not a {0}")]
    Kind(&'static str),
    /// Larger than anything chute writes there.
    #[error("is larger than {0} bytes")]
    TooLarge(u64),
    /// It cannot be opened or read.
    #[error("cannot be read: {0}")]
    Io(String),
}

impl Distrust {
    /// What to do about it, for `path`.
    pub fn remedy(&self, path: &Path) -> String {
        let path = path.display();
        match self {
            Distrust::Symlink => format!("replace the link {path} with a real folder or file"),
            Distrust::NotOwned { .. } => format!(
                "remove {path} or `chown` it to this user, or point the setting at a folder of this user"
            ),
            Distrust::Writable { .. } => format!("run `chmod go-w {path}`"),
            Distrust::Readable { .. } => format!("run `chmod 600 {path}`"),
            Distrust::Kind(_) | Distrust::TooLarge(_) => format!("remove {path}"),
            Distrust::Io(_) => format!("check {path} and its permissions"),
        }
    }
}

/// How strict a file check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrecy {
    /// Others may read it (a compiled plugin).
    Public,
    /// Only its owner may read it (a key).
    Secret,
}

fn errno(error: Errno) -> Distrust {
    if error == Errno::LOOP {
        Distrust::Symlink
    } else {
        Distrust::Io(std::io::Error::from(error).to_string())
    }
}

/// Checks what `fstat` says of an opened descriptor.
fn check(fd: impl AsFd, kind: FileType, secrecy: Secrecy) -> Result<u64, Distrust> {
    let stat = rustix::fs::fstat(fd).map_err(errno)?;
    if FileType::from_raw_mode(stat.st_mode) != kind {
        return Err(Distrust::Kind(if kind == FileType::Directory {
            "folder"
        } else {
            "regular file"
        }));
    }
    let ours = rustix::process::geteuid().as_raw();
    if stat.st_uid != ours {
        return Err(Distrust::NotOwned {
            owner: stat.st_uid,
            ours,
        });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Distrust::Writable { mode });
    }
    if secrecy == Secrecy::Secret && mode & 0o077 != 0 {
        return Err(Distrust::Readable { mode });
    }
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}

/// Whether the last component of a folder's path may be a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// A link is refused (`O_NOFOLLOW`).
    Refuse,
    /// A link is followed and the folder it leads to checked (systemd's `DynamicUser=`
    /// makes `$STATE_DIRECTORY` a link into `/var/lib/private`).
    Follow,
}

/// Opens the folder `path` and checks it; with `create`, makes it first (and its
/// missing parents) private to this user.
pub fn open_dir(path: &Path, create: bool, links: Links) -> Result<OwnedFd, Distrust> {
    if create {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(|error| Distrust::Io(error.to_string()))?;
    }
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|error| {
        // O_DIRECTORY on a link can say ENOTDIR rather than ELOOP: ask lstat.
        if links == Links::Refuse
            && std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
        {
            Distrust::Symlink
        } else if error == Errno::NOTDIR {
            Distrust::Kind("folder")
        } else {
            errno(error)
        }
    })?;
    check(&fd, FileType::Directory, Secrecy::Public)?;
    Ok(fd)
}

/// Reads the file `name` of the checked folder `dir` once, checking the opened
/// descriptor first; `None` when there is no such file.
pub fn read_file(
    dir: &OwnedFd,
    name: &str,
    secrecy: Secrecy,
    max: u64,
) -> Result<Option<Vec<u8>>, Distrust> {
    // NONBLOCK: a FIFO planted under the name must not hang the open.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(error) => return Err(errno(error)),
    };
    let size = check(&fd, FileType::RegularFile, secrecy)?;
    if size > max {
        return Err(Distrust::TooLarge(max));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    std::fs::File::from(fd)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| Distrust::Io(error.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(Distrust::TooLarge(max));
    }
    Ok(Some(bytes))
}

/// Whether `dir` has an entry `name` (of any kind, links included).
pub fn exists(dir: &OwnedFd, name: &str) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// Removes the entry `name` of `dir` (a link itself, never what it points to).
pub fn remove(dir: &OwnedFd, name: &str) -> std::io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Writes a hidden file in `dir` with mode 0600, synced, and returns its name.
fn write_temporary(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<String> {
    use std::io::Write;
    let nonce = getrandom::u64().map_err(std::io::Error::other)?;
    let temporary = format!(".{name}.{nonce:016x}.tmp");
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, &temporary, flags, Mode::from_raw_mode(0o600))?;
    let mut file = std::fs::File::from(fd);
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(error) = written {
        let _ = remove(dir, &temporary);
        return Err(error);
    }
    Ok(temporary)
}

/// Replaces (or creates) the file `name` of `dir` with `bytes`, atomically: readers
/// see the old file or the whole new one, never a part.
pub fn replace_file(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = write_temporary(dir, name, bytes)?;
    if let Err(error) = rustix::fs::renameat(dir, &temporary, dir, name) {
        let _ = remove(dir, &temporary);
        return Err(error.into());
    }
    Ok(())
}

/// Creates the file `name` of `dir` with `bytes` unless it exists (then `false`): two
/// processes racing to create it agree on one (a hard link never replaces a name).
pub fn create_file(dir: &OwnedFd, name: &str, bytes: &[u8]) -> std::io::Result<bool> {
    let temporary = write_temporary(dir, name, bytes)?;
    let linked = rustix::fs::linkat(dir, &temporary, dir, name, AtFlags::empty());
    remove(dir, &temporary)?;
    match linked {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_folder_is_trusted_and_a_shared_or_linked_one_is_not() {
        let base = tempfile::tempdir().unwrap();
        let private = base.path().join("a/b");
        let dir = open_dir(&private, true, Links::Refuse).unwrap();
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o700
        );
        replace_file(&dir, "x", b"one").unwrap();
        replace_file(&dir, "x", b"two").unwrap();
        assert_eq!(
            read_file(&dir, "x", Secrecy::Public, 16).unwrap().unwrap(),
            b"two"
        );
        assert_eq!(read_file(&dir, "y", Secrecy::Public, 16).unwrap(), None);
        assert_eq!(
            read_file(&dir, "x", Secrecy::Public, 2),
            Err(Distrust::TooLarge(2))
        );
        assert!(!create_file(&dir, "x", b"three").unwrap());
        assert!(create_file(&dir, "z", b"three").unwrap());
        // Only the two files: no temporary left behind.
        assert_eq!(std::fs::read_dir(&private).unwrap().count(), 2);

        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert_eq!(
            open_dir(&private, false, Links::Refuse).err(),
            Some(Distrust::Writable { mode: 0o770 })
        );
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();

        let link = base.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert_eq!(
            open_dir(&link, false, Links::Refuse).err(),
            Some(Distrust::Symlink)
        );
        assert!(open_dir(&link, false, Links::Follow).is_ok());
        std::os::unix::fs::symlink(private.join("x"), private.join("x-link")).unwrap();
        assert_eq!(
            read_file(&dir, "x-link", Secrecy::Public, 16),
            Err(Distrust::Symlink)
        );
        std::fs::set_permissions(private.join("z"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        assert_eq!(
            read_file(&dir, "z", Secrecy::Secret, 16),
            Err(Distrust::Readable { mode: 0o640 })
        );
        assert!(read_file(&dir, "z", Secrecy::Public, 16).is_ok());
    }
}
