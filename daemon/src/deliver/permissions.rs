//! Making a result folder readable by the outbox's consumers: every file gets the
//! configured mode (`deliver.mode`) and every folder the same plus search permission,
//! before the folder becomes visible. Links are never followed; the job's own records
//! (`.job/` in failed/) stay private.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::config::folder_mode;

/// Entries of a result folder that keep their private mode.
const PRIVATE: &[&str] = &[".job"];

/// Gives `folder` and everything in it (but [`PRIVATE`] entries) `file_mode` for files
/// and the matching folder mode for folders.
pub fn open_up(folder: &Path, file_mode: u32) -> io::Result<()> {
    set_mode(folder, folder_mode(file_mode))?;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if PRIVATE.iter().any(|name| entry.file_name() == *name) {
            continue;
        }
        open_up_entry(&entry.path(), file_mode)?;
    }
    Ok(())
}

fn open_up_entry(path: &Path, file_mode: u32) -> io::Result<()> {
    let kind = std::fs::symlink_metadata(path)?.file_type();
    if kind.is_dir() {
        set_mode(path, folder_mode(file_mode))?;
        for entry in std::fs::read_dir(path)? {
            open_up_entry(&entry?.path(), file_mode)?;
        }
    } else if kind.is_file() {
        set_mode(path, file_mode)?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn files_and_folders_open_up_but_private_records_and_link_targets_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("result");
        std::fs::create_dir_all(folder.join("scenes")).unwrap();
        std::fs::create_dir_all(folder.join(".job")).unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, b"x").unwrap();
        set_mode(&outside, 0o600).unwrap();
        for file in ["result.json", "scenes/1.png", ".job/state.json"] {
            std::fs::write(folder.join(file), b"x").unwrap();
            set_mode(&folder.join(file), 0o600).unwrap();
        }
        std::os::unix::fs::symlink(&outside, folder.join("link")).unwrap();
        open_up(&folder, 0o640).unwrap();
        assert_eq!(mode(&folder), 0o750);
        assert_eq!(mode(&folder.join("scenes")), 0o750);
        assert_eq!(mode(&folder.join("result.json")), 0o640);
        assert_eq!(mode(&folder.join("scenes/1.png")), 0o640);
        assert_eq!(mode(&folder.join(".job/state.json")), 0o600);
        assert_eq!(mode(&outside), 0o600, "a link's target is not touched");
    }
}
