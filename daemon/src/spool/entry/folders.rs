//! Dropped folders as inbox entries: what every entry of a folder must be (and how
//! many, how deep, how long a path), walked through open folder descriptors.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::{FileId, InputKind, Inspection, MAX_TREE_ENTRIES, Rejection, classify, is_permanent};
use crate::logging::escape;
use crate::spool::tree::{self, MAX_TREE_DEPTH, Order, Step};

/// The checks a dropped folder's entries pass (or the reason one of them fails), shared
/// by the inspection here and the snapshot at claim: the number of entries, the depth,
/// the length of every relative path, and that each entry is a folder or a regular file
/// with one link. `entries` counts the folder itself too.
pub fn check_tree_entry(entry: &tree::Entry<'_>, entries: usize) -> Result<InputKind, Rejection> {
    if entries > MAX_TREE_ENTRIES + 1 {
        return Err(Rejection::TreeTooLarge);
    }
    let relative = entry.relative.as_os_str();
    if relative.len() > tree::MAX_RELATIVE_PATH_BYTES {
        let shown: String = relative.to_string_lossy().chars().take(80).collect();
        return Err(Rejection::Unreadable(format!(
            "the path {}… inside it is too long (over {} bytes)",
            escape(&shown),
            tree::MAX_RELATIVE_PATH_BYTES
        )));
    }
    match classify(entry.meta) {
        Ok(InputKind::Directory) if entry.depth >= MAX_TREE_DEPTH => Err(Rejection::TreeTooDeep),
        Ok(kind) => Ok(kind),
        Err(rejection) => Err(Rejection::UnsafeTreeEntry(format!(
            "{} ({rejection})",
            escape(&entry.relative.to_string_lossy())
        ))),
    }
}

pub(super) fn walk(root: BorrowedFd<'_>, inspection: &mut Inspection) -> io::Result<()> {
    let mut refused = None;
    tree::walk(
        root,
        Order::Sorted,
        &(),
        &mut |entry: &tree::Entry<'_>, _: &()| {
            inspection.entries += 1;
            inspection.mtime = inspection.mtime.max(entry.meta.modified()?);
            match check_tree_entry(entry, inspection.entries) {
                Ok(InputKind::Directory) => {
                    match tree::open_dir_at(entry.parent, entry.name, entry.meta) {
                        Ok(child) => Ok(Step::Descend(child, ())),
                        Err(error) if is_permanent(&error) => {
                            refused = Some(Rejection::Unreadable(format!(
                                "{}: {error}",
                                escape(&entry.relative.to_string_lossy())
                            )));
                            Ok(Step::Stop)
                        }
                        Err(error) => Err(error),
                    }
                }
                Ok(InputKind::File) => {
                    inspection.size += entry.meta.len();
                    Ok(Step::Next)
                }
                Err(rejection) => {
                    refused = Some(rejection);
                    Ok(Step::Stop)
                }
            }
        },
    )?;
    if let Some(rejection) = refused {
        inspection.verdict = Err(rejection);
    }
    Ok(())
}

/// The identities of the regular files inside a folder, walked through descriptors
/// without following links; like `inspect`, it stops after [`MAX_TREE_ENTRIES`]
/// entries and [`MAX_TREE_DEPTH`] levels (a larger tree is refused anyway).
pub fn folder_file_ids(root: &Path) -> io::Result<Vec<FileId>> {
    let meta = std::fs::symlink_metadata(root)?;
    let root = tree::open_root(root, &meta)?;
    let mut ids = Vec::new();
    let mut seen = 0;
    tree::walk(
        root.as_fd(),
        Order::Sorted,
        &(),
        &mut |entry: &tree::Entry<'_>, _: &()| {
            seen += 1;
            if seen > MAX_TREE_ENTRIES {
                return Ok(Step::Stop);
            }
            if entry.meta.is_dir() && entry.depth < MAX_TREE_DEPTH {
                let child = tree::open_dir_at(entry.parent, entry.name, entry.meta)?;
                return Ok(Step::Descend(child, ()));
            }
            if entry.meta.is_file() {
                ids.push(FileId::of(entry.meta));
            }
            Ok(Step::Next)
        },
    )?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::{EntryLimits, inspect};
    use super::*;

    #[test]
    fn a_folder_nested_past_the_path_limit_is_refused_with_a_reason() {
        use rustix::fs::{CWD, Mode, OFlags, mkdirat, openat};
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("deep");
        std::fs::create_dir(&folder).unwrap();
        // 20 levels of 250-byte names: a path of over 5,000 bytes, made relative to
        // open folders (no single call sees the whole path).
        let name = "d".repeat(250);
        let mut current = openat(
            CWD,
            &folder,
            OFlags::DIRECTORY | OFlags::RDONLY,
            Mode::empty(),
        )
        .unwrap();
        for _ in 0..20 {
            mkdirat(&current, name.as_str(), Mode::from_raw_mode(0o755)).unwrap();
            current = openat(
                &current,
                name.as_str(),
                OFlags::DIRECTORY | OFlags::RDONLY,
                Mode::empty(),
            )
            .unwrap();
        }
        let limits = EntryLimits {
            allow_directories: true,
            ..EntryLimits::default()
        };
        let verdict = inspect(&folder, &limits).unwrap().verdict;
        assert!(
            matches!(&verdict, Err(Rejection::Unreadable(why)) if why.contains("too long")),
            "{verdict:?}"
        );
        std::fs::remove_dir_all(&folder).unwrap();
    }

    #[test]
    fn a_folder_of_exactly_the_most_entries_is_accepted_and_one_more_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("tree");
        std::fs::create_dir(&folder).unwrap();
        for index in 0..MAX_TREE_ENTRIES {
            std::fs::write(folder.join(index.to_string()), b"").unwrap();
        }
        let limits = EntryLimits {
            allow_directories: true,
            ..EntryLimits::default()
        };
        assert_eq!(
            inspect(&folder, &limits).unwrap().verdict,
            Ok(InputKind::Directory)
        );
        std::fs::write(folder.join("one-more"), b"").unwrap();
        assert_eq!(
            inspect(&folder, &limits).unwrap().verdict,
            Err(Rejection::TreeTooLarge)
        );
    }

    #[test]
    fn a_folder_names_the_files_inside_it_and_not_its_folders_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("album");
        std::fs::create_dir_all(folder.join("sub/deeper")).unwrap();
        let files = [folder.join("a.txt"), folder.join("sub/deeper/b.bin")];
        for file in &files {
            std::fs::write(file, b"x").unwrap();
        }
        std::os::unix::fs::symlink(&files[0], folder.join("sub/link")).unwrap();
        let mut ids = folder_file_ids(&folder).unwrap();
        ids.sort_by_key(|id| id.inode);
        let mut expected: Vec<_> = files
            .iter()
            .map(|file| FileId::of(&std::fs::metadata(file).unwrap()))
            .collect();
        expected.sort_by_key(|id| id.inode);
        assert_eq!(ids, expected);
        let inspection = inspect(&files[0], &EntryLimits::default()).unwrap();
        assert_eq!(
            inspection.id(),
            expected
                .iter()
                .find(|id| id.inode == inspection.inode)
                .copied()
                .unwrap()
        );
    }
}
