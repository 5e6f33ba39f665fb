//! The inventory of ended folders: delivered results in `outbox/<route>/`, failed inputs
//! in `failed/<route>/`, and retired job folders still in `trash/`.
//!
//! This is the one list of what has ended and still takes space: `chute jobs` and
//! `chute show` read it, and retention (`housekeeping/`) decides from the same list what
//! to remove (`abandoned_removals` adds what an interrupted removal left). A listing is
//! a snapshot of a spool that other daemons change meanwhile, so a
//! folder that vanishes or cannot be read is skipped, never an error.
//!
//! Hidden names (`.…`) are skipped: they are folders still being moved into place.
//! Only real folders are listed; a symbolic link is never followed out of the spool.

use std::ffi::OsStr;
use std::fs::DirEntry;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Spool;

/// What an ended folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedKind {
    /// `outbox/<route>/<stem>--<short-id>/`: delivered results with `result.json`.
    Delivered,
    /// `failed/<route>/<stem>--<short-id>/`: the input with `error.json`.
    Failed,
    /// `trash/<job-id>/`: a retired job folder whose deletion did not finish.
    Trash,
}

impl EndedKind {
    /// Every kind, in the order [`ended_folders`] lists them.
    pub const ALL: [EndedKind; 3] = [EndedKind::Delivered, EndedKind::Failed, EndedKind::Trash];
}

/// One ended folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedFolder {
    /// Delivered, failed or trash.
    pub kind: EndedKind,
    /// The route it was delivered under; `None` for trash (job folders carry no route
    /// in their path).
    pub route: Option<String>,
    /// The folder.
    pub path: PathBuf,
    /// The folder's modification time (for a result folder: when its last file was
    /// written, just before it was moved into place); `None` when the filesystem has none.
    pub modified: Option<SystemTime>,
}

impl EndedFolder {
    /// Bytes taken by the files below this folder (links are counted, not followed).
    /// Walks the whole tree, so it is computed only when asked for.
    pub fn size(&self) -> u64 {
        tree_size(&self.path)
    }
}

/// Every ended folder of these kinds, outbox first, then failed, then trash; within a
/// kind, in directory order.
pub fn ended_folders(spool: &Spool, kinds: &[EndedKind]) -> Vec<EndedFolder> {
    let mut folders = Vec::new();
    for kind in kinds {
        match kind {
            EndedKind::Delivered => result_folders(&spool.outbox_root(), *kind, &mut folders),
            EndedKind::Failed => result_folders(&spool.failed_root(), *kind, &mut folders),
            EndedKind::Trash => {
                for entry in visible_folders(&spool.trash()) {
                    folders.push(ended(*kind, None, &entry));
                }
            }
        }
    }
    folders
}

/// Removals taken aside in trash/ (`.gc-<id>`, see [`Spool::removal_claim`]) by a
/// process that may have died before it finished; `modified` is when the entry last
/// changed (its ctime: the claim's rename, or the last file removed from it).
pub fn abandoned_removals(spool: &Spool) -> Vec<EndedFolder> {
    let prefix = super::REMOVAL_CLAIM_PREFIX.as_bytes();
    std::fs::read_dir(spool.trash())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().as_bytes().starts_with(prefix))
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            let changed = std::time::UNIX_EPOCH
                + std::time::Duration::new(
                    u64::try_from(meta.ctime()).unwrap_or(0),
                    u32::try_from(meta.ctime_nsec()).unwrap_or(0),
                );
            Some(EndedFolder {
                kind: EndedKind::Trash,
                route: None,
                path: entry.path(),
                modified: Some(changed),
            })
        })
        .collect()
}

/// The result folders under `top/<route>/`.
fn result_folders(top: &Path, kind: EndedKind, out: &mut Vec<EndedFolder>) {
    for route in visible_folders(top) {
        let name = route.file_name().to_string_lossy().into_owned();
        for entry in visible_folders(&route.path()) {
            out.push(ended(kind, Some(name.clone()), &entry));
        }
    }
}

fn ended(kind: EndedKind, route: Option<String>, entry: &DirEntry) -> EndedFolder {
    EndedFolder {
        kind,
        route,
        path: entry.path(),
        modified: entry.metadata().and_then(|meta| meta.modified()).ok(),
    }
}

/// The folders (not links, not files) in `dir` whose names are not hidden; nothing when
/// `dir` cannot be read.
fn visible_folders(dir: &Path) -> impl Iterator<Item = DirEntry> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| !is_hidden(&entry.file_name()))
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_bytes().first() == Some(&b'.')
}

/// Bytes of the regular files (and links themselves) under `path`; unreadable parts
/// count as nothing.
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| tree_size(&entry.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lists_result_folders_and_trash_but_not_hidden_files_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        spool.create_layout(["audio"]).unwrap();
        let delivered = spool.outbox("audio").join("talk--0123abcd");
        std::fs::create_dir(&delivered).unwrap();
        std::fs::write(delivered.join("result.json"), b"{}").unwrap();
        std::fs::write(delivered.join("talk.txt"), b"hello").unwrap();
        let failed = spool.failed("audio").join("noise--89abcdef");
        std::fs::create_dir(&failed).unwrap();
        std::fs::create_dir(spool.outbox("audio").join(".delivering")).unwrap();
        std::fs::write(spool.outbox("audio").join("stray.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path(), spool.failed("audio").join("link")).unwrap();
        let trash = spool.trash().join("0193a1b2-0000-7000-8000-000000000000");
        std::fs::create_dir(&trash).unwrap();

        let all = ended_folders(&spool, &EndedKind::ALL);
        let found: Vec<_> = all
            .iter()
            .map(|folder| (folder.kind, folder.route.as_deref(), folder.path.clone()))
            .collect();
        assert_eq!(
            found,
            [
                (EndedKind::Delivered, Some("audio"), delivered),
                (EndedKind::Failed, Some("audio"), failed),
                (EndedKind::Trash, None, trash),
            ]
        );
        assert!(all.iter().all(|folder| folder.modified.is_some()));
        assert_eq!(all[0].size(), 2 + 5);

        let results = ended_folders(&spool, &[EndedKind::Delivered, EndedKind::Failed]);
        assert_eq!(results.len(), 2);
    }

    #[test]
    fn a_spool_without_its_folders_lists_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path().join("missing"));
        assert!(ended_folders(&spool, &EndedKind::ALL).is_empty());
    }
}
