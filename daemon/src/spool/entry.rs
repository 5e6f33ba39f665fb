//! Inbox entries: which names wait, what kind of thing an entry is, and names we derive.
//!
//! Never trust a file name or a file type: entries are inspected with `lstat` (symlinks
//! are never followed), opened with `O_NOFOLLOW | O_NONBLOCK` and checked again with
//! `fstat` after opening, so a swap between the two cannot smuggle in another file. A
//! dropped folder is walked through open folder descriptors (`tree.rs`), never by
//! joining paths.

use std::ffi::{OsStr, OsString};
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::SystemTime;

use super::tree::{self, MAX_TREE_DEPTH};

mod folders;
pub use folders::{check_tree_entry, folder_file_ids};

pub use super::tree::MAX_TREE_ENTRIES;

/// Whether an inbox name is still being written by convention and must wait:
/// hidden files and `*.part`, `*.tmp`, `*.crdownload`.
pub fn is_waiting_name(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    if bytes.first() == Some(&b'.') {
        return true;
    }
    let lower = bytes.to_ascii_lowercase();
    [&b".part"[..], b".tmp", b".crdownload"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}

/// What an acceptable input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A regular file with one link.
    File,
    /// A folder of regular files and folders.
    Directory,
}

/// Why an inbox entry is refused without being opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A symbolic link (never followed).
    #[error("the input is a symbolic link; chute never follows links out of the spool")]
    Symlink,
    /// A named pipe.
    #[error("the input is a FIFO (named pipe), not a regular file")]
    Fifo,
    /// A Unix socket.
    #[error("the input is a socket, not a regular file")]
    Socket,
    /// A block or character device.
    #[error("the input is a device node, not a regular file")]
    Device,
    /// A regular file with more than one hard link.
    #[error("the input has {0} hard links; another name could change it while it is processed")]
    HardLinked(u64),
    /// Larger than the route allows.
    #[error("the input is {size} bytes, over this route's max_size of {limit} bytes")]
    TooLarge {
        /// Input size in bytes.
        size: u64,
        /// The route's limit.
        limit: u64,
    },
    /// The extension is not on the route's allow-list.
    #[error("the input's extension is not accepted by this route (allowed: {0})")]
    Extension(String),
    /// A folder dropped on a route that takes only files.
    #[error("this route does not accept folders")]
    DirectoryNotAllowed,
    /// Something inside a dropped folder is not a regular file or folder.
    #[error("the folder contains {0}, which is not a regular file or folder")]
    UnsafeTreeEntry(String),
    /// The dropped folder is too large a tree.
    #[error("the folder has more than {MAX_TREE_ENTRIES} entries")]
    TreeTooLarge,
    /// The dropped folder nests too deep.
    #[error("the folder nests more than {MAX_TREE_DEPTH} levels deep")]
    TreeTooDeep,
    /// The input changed after it was claimed (written again, grown, replaced).
    #[error("the input changed {0}; chute takes an input only as it was when claimed")]
    Changed(String),
    /// Part of a dropped folder cannot be read, and never will be as it is (no
    /// permission, a path longer than the system allows, a loop).
    #[error("part of the folder cannot be read: {0}")]
    Unreadable(String),
}

impl Rejection {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Rejection::Symlink | Rejection::UnsafeTreeEntry(_) => {
                "copy the real file into the inbox instead of linking to it"
            }
            Rejection::HardLinked(_) => {
                "copy the file into the inbox (cp), or move it so that it has a single name"
            }
            Rejection::Fifo | Rejection::Socket | Rejection::Device => {
                "drop regular files or folders only"
            }
            Rejection::TooLarge { .. } => "raise max_size for this route or split the input",
            Rejection::Extension(_) => "drop the input into a route that accepts its type",
            Rejection::DirectoryNotAllowed => {
                "drop a single file, or use a route that takes folders"
            }
            Rejection::TreeTooLarge => "split the folder into several inputs",
            Rejection::TreeTooDeep => "flatten the folder and drop it again",
            Rejection::Changed(_) => {
                "write the input elsewhere and rename it into the inbox once complete (or use `chute submit`), and leave it alone once dropped"
            }
            Rejection::Unreadable(_) => {
                "give the chute user read access to every file and folder inside, keep paths under 4,096 bytes, and drop it again"
            }
        }
    }
}

/// What `lstat` (and, for folders, a walk) says about an inbox entry.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// Accepted kind, or why the entry is refused.
    pub verdict: Result<InputKind, Rejection>,
    /// Size in bytes (a folder: the total of its files).
    pub size: u64,
    /// Latest modification time (a folder: of anything inside).
    pub mtime: SystemTime,
    /// Number of entries (1 for a file).
    pub entries: usize,
    /// Inode number of the entry itself.
    pub inode: u64,
    /// Device number of the filesystem holding the entry.
    pub device: u64,
}

impl Inspection {
    /// A fingerprint that changes when the entry is still being written.
    pub fn fingerprint(&self) -> (u64, SystemTime, usize) {
        (self.size, self.mtime, self.entries)
    }

    /// The identity of the entry itself (a folder's, not its files').
    pub fn id(&self) -> FileId {
        FileId {
            device: self.device,
            inode: self.inode,
        }
    }
}

/// A file's identity on this host: its device and inode numbers, as `stat` reports them
/// whatever path or mount namespace the file is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// `st_dev`.
    pub device: u64,
    /// `st_ino`.
    pub inode: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        FileId {
            device: meta.dev(),
            inode: meta.ino(),
        }
    }
}

/// What a route accepts into its inbox (from `[[routes]]`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EntryLimits<'a> {
    /// Inputs larger than this many bytes (a folder: its total) are refused.
    pub max_size: Option<u64>,
    /// Allowed file extensions (case-insensitive, without the dot); empty means any.
    pub extensions: &'a [String],
    /// Whether folders are accepted.
    pub allow_directories: bool,
}

/// Inspects an inbox entry without following links; applies the route's limits.
pub fn inspect(path: &Path, route: &EntryLimits<'_>) -> io::Result<Inspection> {
    let meta = std::fs::symlink_metadata(path)?;
    let mut inspection = Inspection {
        verdict: classify(&meta),
        size: meta.len(),
        mtime: meta.modified()?,
        entries: 1,
        inode: meta.ino(),
        device: meta.dev(),
    };
    if inspection.verdict == Ok(InputKind::Directory) {
        // A folder's size is the total of its files (not its own listing's size).
        inspection.size = 0;
        if !route.allow_directories {
            inspection.verdict = Err(Rejection::DirectoryNotAllowed);
            return Ok(inspection);
        }
        match tree::open_root(path, &meta) {
            Ok(root) => folders::walk(root.as_fd(), &mut inspection)?,
            Err(error) if is_permanent(&error) => {
                // Retrying would fail the same way at every rescan: refuse it with a reason.
                inspection.verdict = Err(Rejection::Unreadable(error.to_string()));
            }
            Err(error) => return Err(error),
        }
    }
    if inspection.verdict.is_ok() {
        inspection.verdict = check_route_limits(path, &inspection, route);
    }
    Ok(inspection)
}

/// What an entry is: an acceptable kind, or why it is refused.
pub fn classify(meta: &Metadata) -> Result<InputKind, Rejection> {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        Err(Rejection::Symlink)
    } else if file_type.is_dir() {
        Ok(InputKind::Directory)
    } else if file_type.is_fifo() {
        Err(Rejection::Fifo)
    } else if file_type.is_socket() {
        Err(Rejection::Socket)
    } else if file_type.is_block_device() || file_type.is_char_device() {
        Err(Rejection::Device)
    } else if meta.nlink() > 1 {
        Err(Rejection::HardLinked(meta.nlink()))
    } else {
        Ok(InputKind::File)
    }
}

/// Errors that reading an entry again will meet again: no permission, a name or path
/// too long for the system, a symlink loop.
pub fn is_permanent(error: &io::Error) -> bool {
    use rustix::io::Errno;
    error.kind() == io::ErrorKind::PermissionDenied
        || [Errno::NAMETOOLONG, Errno::LOOP, Errno::ACCESS, Errno::PERM]
            .iter()
            .any(|errno| error.raw_os_error() == Some(errno.raw_os_error()))
}

fn check_route_limits(
    path: &Path,
    inspection: &Inspection,
    route: &EntryLimits<'_>,
) -> Result<InputKind, Rejection> {
    let kind = inspection.verdict.clone()?;
    if let Some(limit) = route.max_size
        && inspection.size > limit
    {
        return Err(Rejection::TooLarge {
            size: inspection.size,
            limit,
        });
    }
    if kind == InputKind::File && !route.extensions.is_empty() {
        let extension = lowercase_extension(path);
        let allowed = route
            .extensions
            .iter()
            .any(|allowed| Some(allowed.trim_start_matches('.').to_ascii_lowercase()) == extension);
        if !allowed {
            return Err(Rejection::Extension(route.extensions.join(", ")));
        }
    }
    Ok(kind)
}

/// Opens a regular file for reading without following links or blocking on FIFOs, and
/// checks with `fstat` that it is still a regular file with the expected inode.
pub fn open_regular(path: &Path, expected_inode: Option<u64>) -> io::Result<File> {
    let file = File::options()
        .read(true)
        .custom_flags(
            rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NONBLOCK.bits() as i32,
        )
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    if expected_inode.is_some_and(|inode| inode != meta.ino()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} was replaced by another file", path.display()),
        ));
    }
    Ok(file)
}

/// A path's extension in lower case (`WAV` → `wav`), for choosing by type; `None`
/// without one.
pub fn lowercase_extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase())
}

/// The input's name without its last extension (a folder keeps its whole name).
pub fn stem(name: &OsStr, kind: InputKind) -> OsString {
    let bytes = name.as_bytes();
    if kind == InputKind::Directory {
        return name.to_owned();
    }
    match bytes.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => OsString::from_vec(bytes[..dot].to_vec()),
        _ => name.to_owned(),
    }
}

/// Most bytes of a stem kept in a result folder name (names are limited to 255 bytes).
const MAX_STEM_BYTES: usize = 200;

/// The result folder name `<stem>--<short-id>`, with the stem shortened (on a character
/// boundary when it is UTF-8) so the name always fits.
pub fn result_folder_name(stem: &OsStr, short_id: &str) -> OsString {
    let mut bytes = stem.as_bytes().to_vec();
    if bytes.len() > MAX_STEM_BYTES {
        let mut cut = MAX_STEM_BYTES;
        if let Ok(text) = std::str::from_utf8(&bytes) {
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
        }
        bytes.truncate(cut);
    }
    bytes.extend_from_slice(b"--");
    bytes.extend_from_slice(short_id.as_bytes());
    OsString::from_vec(bytes)
}

/// A file name as JSON shows it: UTF-8 text (invalid bytes replaced) and, when the name
/// is not valid UTF-8, its exact bytes in hex.
pub fn display_name(name: &OsStr) -> (String, Option<String>) {
    match name.to_str() {
        Some(text) => (text.to_owned(), None),
        None => {
            let hex = name.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
            (name.to_string_lossy().into_owned(), Some(hex))
        }
    }
}

/// Names chute itself writes into result folders; an input with one of these names is
/// delivered as `input-<name>` instead.
pub const RESERVED_RESULT_NAMES: [&str; 3] = ["result.json", "error.json", ".job"];

/// The name an input gets inside a result folder.
pub fn delivered_name(name: &OsStr) -> OsString {
    if RESERVED_RESULT_NAMES
        .iter()
        .any(|reserved| name == OsStr::new(reserved))
    {
        let mut renamed = OsString::from("input-");
        renamed.push(name);
        renamed
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn waiting_names() {
        for name in [".hidden", "a.part", "B.TMP", "x.crdownload"] {
            assert!(is_waiting_name(OsStr::new(name)), "{name}");
        }
        for name in ["a.txt", "-x", "part", "a.partial"] {
            assert!(!is_waiting_name(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn stems_and_folder_names() {
        assert_eq!(stem(OsStr::new("a.b.mp3"), InputKind::File), "a.b");
        assert_eq!(stem(OsStr::new("noext"), InputKind::File), "noext");
        assert_eq!(stem(OsStr::new("dir.x"), InputKind::Directory), "dir.x");
        let long = "é".repeat(150);
        let name = result_folder_name(OsStr::new(&long), "0123abcd");
        assert!(name.len() <= 255);
        assert!(name.to_str().unwrap().ends_with("--0123abcd"));
    }

    #[test]
    fn non_utf8_names_keep_their_bytes() {
        let name = OsStr::from_bytes(b"a\xffb");
        let (text, hex) = display_name(name);
        assert_eq!(text, "a\u{fffd}b");
        assert_eq!(hex.as_deref(), Some("61ff62"));
    }

    #[test]
    fn inspect_rejects_links_and_checks_limits() {
        let dir = tempfile::tempdir().unwrap();
        let mut route = EntryLimits {
            allow_directories: true,
            ..EntryLimits::default()
        };
        let file = dir.path().join("a.txt");
        std::fs::write(&file, b"hello").unwrap();
        assert_eq!(inspect(&file, &route).unwrap().verdict, Ok(InputKind::File));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(
            inspect(&link, &route).unwrap().verdict,
            Err(Rejection::Symlink)
        );
        std::fs::hard_link(&file, dir.path().join("second")).unwrap();
        assert_eq!(
            inspect(&file, &route).unwrap().verdict,
            Err(Rejection::HardLinked(2))
        );
        let wav = ["wav".to_owned()];
        route.extensions = &wav;
        let other = dir.path().join("b.txt");
        std::fs::write(&other, b"x").unwrap();
        assert!(matches!(
            inspect(&other, &route).unwrap().verdict,
            Err(Rejection::Extension(_))
        ));
    }
}
