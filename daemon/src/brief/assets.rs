//! Files a brief names inside its folder (product images, character photos, music):
//! relative paths that stay inside the folder, through no link, to a regular file of
//! the right kind. Inbox files are hostile: nothing here follows a link.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Largest product image or photo accepted.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// Largest music file accepted.
pub const MAX_MUSIC_BYTES: u64 = 100 * 1024 * 1024;

/// What a named file must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    /// PNG, JPEG or WebP.
    Image,
    /// Any audio file (the render decodes it in a child process).
    Music,
}

/// The file `relative` names inside `folder`, or why it cannot be used.
pub fn resolve(folder: &Path, relative: &str, kind: AssetKind) -> Result<PathBuf, String> {
    let path = Path::new(relative);
    if relative.is_empty() {
        return Err("is empty".to_owned());
    }
    let mut resolved = folder.to_path_buf();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                resolved.push(part);
                let meta = std::fs::symlink_metadata(&resolved)
                    .map_err(|error| format!("{relative:?} cannot be read: {error}"))?;
                if meta.file_type().is_symlink() {
                    return Err(format!(
                        "{relative:?} goes through a link; put the file itself in the brief folder"
                    ));
                }
            }
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "{relative:?} is not a path inside the brief folder (no leading /, no ..)"
                ));
            }
        }
    }
    let meta = std::fs::symlink_metadata(&resolved)
        .map_err(|error| format!("{relative:?} cannot be read: {error}"))?;
    if !meta.is_file() {
        return Err(format!("{relative:?} is not a regular file"));
    }
    let limit = match kind {
        AssetKind::Image => MAX_IMAGE_BYTES,
        AssetKind::Music => MAX_MUSIC_BYTES,
    };
    // Size and type are read through the one descriptor that was checked.
    let file = crate::spool::entry::open_regular(&resolved, None)
        .map_err(|error| format!("{relative:?} cannot be read: {error}"))?;
    let size = file
        .metadata()
        .map_err(|error| format!("{relative:?} cannot be read: {error}"))?
        .len();
    if size > limit {
        return Err(format!(
            "{relative:?} is {size} bytes; at most {limit} are accepted"
        ));
    }
    if kind == AssetKind::Image && image_type_of(file).is_none() {
        return Err(format!("{relative:?} is not a PNG, JPEG or WebP image"));
    }
    Ok(resolved)
}

/// The image type by the file's first bytes (never by its name).
pub fn image_type(path: &Path) -> Option<&'static str> {
    image_type_of(crate::spool::entry::open_regular(path, None).ok()?)
}

/// The image type of what `file` starts with.
fn image_type_of(file: impl Read) -> Option<&'static str> {
    let mut head = [0u8; 12];
    let read = file.take(12).read(&mut head).ok()?;
    let head = &head[..read];
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.len() == 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn paths_stay_inside_the_folder_through_no_link_to_a_real_image() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("brief");
        std::fs::create_dir_all(folder.join("img")).unwrap();
        std::fs::write(folder.join("img/bag.png"), PNG).unwrap();
        std::fs::write(folder.join("notes.png"), b"not an image").unwrap();
        std::fs::write(dir.path().join("secret.png"), PNG).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.png"), folder.join("link.png")).unwrap();
        std::os::unix::fs::symlink(dir.path(), folder.join("up")).unwrap();
        assert_eq!(
            resolve(&folder, "img/bag.png", AssetKind::Image).unwrap(),
            folder.join("img/bag.png")
        );
        for (path, problem) in [
            ("../secret.png", "not a path inside"),
            ("/etc/passwd", "not a path inside"),
            ("link.png", "through a link"),
            ("up/secret.png", "through a link"),
            ("notes.png", "not a PNG"),
            ("missing.png", "cannot be read"),
            ("img", "not a regular file"),
        ] {
            let error = resolve(&folder, path, AssetKind::Image).unwrap_err();
            assert!(error.contains(problem), "{path}: {error}");
        }
    }
}
