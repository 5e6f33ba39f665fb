//! Which inbox files a process on this host still holds open for writing, read from
//! `/proc` the way `fuser` does: a file open for writing is not complete, however old
//! its mtime.
//!
//! What it sees: the processes of this daemon's PID namespace whose `/proc/<pid>/fd` it
//! may read — those of its own user, or all of them when it runs as root (or with
//! `CAP_SYS_PTRACE`) — whatever path or mount namespace they write through, because
//! files are compared by device and inode, not by path.
//!
//! What it cannot see: writers on other hosts (a spool on NFS, CephFS, GlusterFS, SMB),
//! processes in another PID namespace (another container), other users' processes when
//! chute runs unprivileged or `/proc` is mounted with `hidepid`, and writers that hold
//! no descriptor (a closed file still mapped). Those are skipped silently; for them the
//! settle rule (size and mtime unchanged for `watch.settle` while this daemon watches)
//! is what keeps a half-written file in the inbox.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::spool::entry::FileId;

/// The access-mode bits of `open(2)` flags, and the two values that allow writing
/// (the same numbers on every Linux architecture).
const ACCESS_MODE: u32 = 0o3;
const WRITE_ONLY: u32 = 0o1;
const READ_WRITE: u32 = 0o2;

/// Which of `files` some process on this host has open for writing: one walk over
/// `/proc/*/fd`. Processes that end during the walk and those whose descriptors cannot
/// be read are skipped; without `/proc` nothing is found.
pub fn open_for_writing(files: &HashSet<FileId>) -> HashSet<FileId> {
    open_for_writing_in(Path::new("/proc"), files)
}

fn open_for_writing_in(proc_root: &Path, files: &HashSet<FileId>) -> HashSet<FileId> {
    let mut open = HashSet::new();
    if files.is_empty() {
        return open;
    }
    let Ok(processes) = fs::read_dir(proc_root) else {
        return open;
    };
    for process in processes.flatten() {
        let name = process.file_name();
        if name.is_empty() || !name.as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let process_dir = process.path();
        let Ok(descriptors) = fs::read_dir(process_dir.join("fd")) else {
            continue;
        };
        for descriptor in descriptors.flatten() {
            let link = descriptor.path();
            // The link's own mode says how the descriptor was opened (`l-wx`, `lrwx`),
            // and reading it never touches the file's filesystem: files only read (a
            // player on a hung network mount) are passed over without a `stat`.
            let Ok(link_meta) = fs::symlink_metadata(&link) else {
                continue;
            };
            if link_meta.permissions().mode() & 0o200 == 0 {
                continue;
            }
            // `metadata` follows the link to the open file itself: its device and inode.
            let Ok(meta) = fs::metadata(&link) else {
                continue;
            };
            let id = FileId::of(&meta);
            if !files.contains(&id) || open.contains(&id) {
                continue;
            }
            if opened_for_writing(&process_dir.join("fdinfo").join(descriptor.file_name())) {
                open.insert(id);
            }
        }
        if open.len() == files.len() {
            break;
        }
    }
    open
}

/// Whether `/proc/<pid>/fdinfo/<fd>` says the descriptor was opened write-only or
/// read-write (its `flags:` line, in octal).
fn opened_for_writing(fdinfo: &Path) -> bool {
    let Ok(text) = fs::read_to_string(fdinfo) else {
        return false;
    };
    text.lines()
        .find_map(|line| line.strip_prefix("flags:"))
        .and_then(|flags| u32::from_str_radix(flags.trim(), 8).ok())
        .is_some_and(|flags| matches!(flags & ACCESS_MODE, WRITE_ONLY | READ_WRITE))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn id(path: &Path) -> FileId {
        FileId::of(&fs::metadata(path).unwrap())
    }

    #[test]
    fn a_file_this_process_writes_is_found_and_one_it_only_reads_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let written = dir.path().join("written");
        let appended = dir.path().join("appended");
        let read = dir.path().join("read");
        let closed = dir.path().join("closed");
        for path in [&written, &appended, &read, &closed] {
            fs::write(path, b"x").unwrap();
        }
        let _writer = fs::File::create(&written).unwrap();
        let _appender = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .open(&appended)
            .unwrap();
        let _reader = fs::File::open(&read).unwrap();
        let wanted: HashSet<_> = [&written, &appended, &read, &closed]
            .into_iter()
            .map(|path| id(path))
            .collect();

        let open = open_for_writing(&wanted);

        assert_eq!(
            open,
            HashSet::from([id(&written), id(&appended)]),
            "written {:?}, appended {:?}, read {:?}, closed {:?}",
            id(&written),
            id(&appended),
            id(&read),
            id(&closed)
        );
    }

    #[test]
    fn nothing_is_found_once_the_writer_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let writer = fs::File::create(&path).unwrap();
        let wanted = HashSet::from([id(&path)]);
        assert_eq!(open_for_writing(&wanted).len(), 1);
        drop(writer);
        assert!(open_for_writing(&wanted).is_empty());
    }

    #[test]
    fn without_proc_nothing_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let _writer = fs::File::create(&path).unwrap();
        let wanted = HashSet::from([id(&path)]);
        assert!(open_for_writing_in(&dir.path().join("no-proc"), &wanted).is_empty());
    }

    #[test]
    fn fdinfo_flags_are_read_as_octal_access_modes() {
        let dir = tempfile::tempdir().unwrap();
        let fdinfo = dir.path().join("fdinfo");
        for (flags, writing) in [
            ("0100000", false),
            ("0100001", true),
            ("02100002", true),
            ("0104000", false),
        ] {
            fs::write(&fdinfo, format!("pos:\t0\nflags:\t{flags}\nmnt_id:\t30\n")).unwrap();
            assert_eq!(opened_for_writing(&fdinfo), writing, "flags {flags}");
        }
        assert!(!opened_for_writing(&dir.path().join("missing")));
    }
}
