//! Small real filesystems for tests: a tmpfs mounted under a temporary folder, and a
//! ballast that fills it.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// A tmpfs of `size` under `dir`, or `None` (with the reason printed) where mounting
/// is refused.
pub fn small_tmpfs(dir: &Path, size: &str) -> Option<PathBuf> {
    let mount = dir.join("fs");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "chute-test",
        ])
        .arg(&mount)
        .output();
    match mounted {
        Ok(output) if output.status.success() => Some(mount),
        Ok(output) => {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs ({}); needs root or CAP_SYS_ADMIN",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
        Err(error) => {
            eprintln!("SKIPPED: cannot run mount ({error})");
            None
        }
    }
}

/// Unmounts a filesystem from [`small_tmpfs`] when dropped.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the filesystem holding `dir` with a new `dir/ballast-N` until a write fails;
/// returns it.
pub fn fill(dir: &Path) -> PathBuf {
    let (ballast, mut file) = (0..)
        .find_map(|n| {
            let path = dir.join(format!("ballast-{n}"));
            let file = std::fs::File::options()
                .write(true)
                .create_new(true)
                .open(&path)
                .ok()?;
            Some((path, file))
        })
        .unwrap();
    let free = super::room(dir).unwrap().free;
    let _ = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, free);
    let end = std::fs::metadata(&ballast).unwrap().len();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(end)).unwrap();
    let block = [1u8; 4096];
    while file.write_all(&block).is_ok() {}
    ballast
}
