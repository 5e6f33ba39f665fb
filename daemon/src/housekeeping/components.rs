//! Retention of compiled plugins (`plugins.compile_cache`): outside the spool, per host
//! and user. Only a folder that `provider/private_fs.rs` trusts (this user's, no link,
//! not writable by others) is looked into, and only regular files of this user in it
//! are removed, by name relative to the opened folder: no link is ever followed. A
//! file counts as used when it was last read or written (the later of atime and mtime).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use super::plan::{Candidate, ItemKind, Target, age_at, short_duration};
use crate::provider::compile_cache::CompileCache;
use crate::provider::config::PluginsConfig;
use crate::provider::private_fs::{self, Distrust, Links};

/// The compiled plugins unused for longer than `max_age`, oldest first; nothing when
/// there is no cache or it is not trusted (that is logged at debug level: the daemon
/// warns about it where it uses the cache).
pub fn expired(plugins: &PluginsConfig, max_age: Duration, now: SystemTime) -> Vec<Candidate> {
    let cache = CompileCache::from_config(plugins);
    let Ok(place) = cache.place() else {
        return Vec::new();
    };
    let dir = match open(&place.dir) {
        Ok(Some(dir)) => dir,
        Ok(None) => return Vec::new(),
        Err(why) => {
            tracing::debug!(dir = %place.dir.display(), "The compile cache is not cleaned: it {why}.");
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&place.dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some((size, last_used)) = own_file(&dir, &name) else {
            continue;
        };
        let age = age_at(last_used, now);
        if age <= max_age {
            continue;
        }
        found.push(Candidate {
            kind: ItemKind::ComponentCache,
            shown: place.dir.join(&name),
            size,
            last_used,
            rule: format!(
                "retention.component_cache = {}: unused for {}",
                short_duration(max_age),
                short_duration(age)
            ),
            target: Target::Component {
                dir: place.dir.clone(),
                name,
            },
        });
    }
    found.sort_by_key(|candidate| candidate.last_used);
    found
}

/// Removes the compiled plugin `name` of `dir` if it is still this user's regular file
/// and still unused since `last_used`; its size when this call removed it, `None` when
/// it was gone (another process removed it) or changed.
pub fn remove(dir: &Path, name: &str, last_used: SystemTime) -> std::io::Result<Option<u64>> {
    let opened = match open(dir) {
        Ok(Some(opened)) => opened,
        Ok(None) => return Ok(None),
        Err(why) => return Err(std::io::Error::other(why.to_string())),
    };
    let Some((size, used)) = own_file(&opened, name) else {
        return Ok(None);
    };
    if used > last_used {
        return Ok(None);
    }
    match rustix::fs::unlinkat(&opened, name, AtFlags::empty()) {
        Ok(()) => Ok(Some(size)),
        Err(Errno::NOENT) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The cache folder opened and checked; `None` when it does not exist.
fn open(dir: &Path) -> Result<Option<OwnedFd>, Distrust> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(None);
    }
    private_fs::open_dir(dir, false, Links::Refuse).map(Some)
}

/// Size and last use of `name` in `dir` when it is a regular file of this user.
fn own_file(dir: &OwnedFd, name: &str) -> Option<(u64, SystemTime)> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile
        || stat.st_uid != rustix::process::geteuid().as_raw()
    {
        return None;
    }
    let accessed = file_time(stat.st_atime, stat.st_atime_nsec);
    let modified = file_time(stat.st_mtime, stat.st_mtime_nsec);
    Some((
        u64::try_from(stat.st_size).unwrap_or(0),
        accessed.max(modified),
    ))
}

/// A `stat` time (its field types differ between architectures); before 1970 counts
/// as 1970.
fn file_time(seconds: impl TryInto<u64>, nanos: impl TryInto<u32>) -> SystemTime {
    SystemTime::UNIX_EPOCH
        + Duration::new(
            seconds.try_into().unwrap_or(0),
            nanos.try_into().unwrap_or(0),
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::provider::config::CompileCacheSetting;

    fn set_times(path: &Path, time: SystemTime) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_times(
            std::fs::FileTimes::new()
                .set_accessed(time)
                .set_modified(time),
        )
        .unwrap();
    }

    fn plugins(dir: &Path) -> PluginsConfig {
        PluginsConfig {
            compile_cache: CompileCacheSetting::Dir(dir.to_owned()),
            compile_cache_key: dir.parent().unwrap().join("key"),
            ..PluginsConfig::default()
        }
    }

    #[test]
    fn only_old_regular_files_of_a_private_folder_are_removed_never_through_links() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("components");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let now = SystemTime::now();
        let month = Duration::from_secs(30 * 86_400);
        std::fs::write(dir.join("old.cwasm"), b"0123456789").unwrap();
        set_times(&dir.join("old.cwasm"), now - 2 * month);
        std::fs::write(dir.join("new.cwasm"), b"x").unwrap();
        let outside = base.path().join("precious");
        std::fs::write(&outside, b"keep").unwrap();
        set_times(&outside, now - 2 * month);
        std::os::unix::fs::symlink(&outside, dir.join("link.cwasm")).unwrap();

        let found = expired(&plugins(&dir), month, now);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].shown, dir.join("old.cwasm"));
        assert_eq!(found[0].size, 10);
        assert!(
            found[0]
                .rule
                .starts_with("retention.component_cache = 30d: unused for 6")
        );
        let Target::Component { dir: at, name } = &found[0].target else {
            panic!("{found:?}")
        };
        assert_eq!(remove(at, name, found[0].last_used).unwrap(), Some(10));
        assert_eq!(remove(at, name, found[0].last_used).unwrap(), None);
        assert!(dir.join("new.cwasm").exists() && outside.exists());

        // A folder others may write is not trusted: nothing in it is touched.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("old2.cwasm"), b"x").unwrap();
        set_times(&dir.join("old2.cwasm"), now - 2 * month);
        assert!(expired(&plugins(&dir), month, now).is_empty());
    }
}
