//! The operator's controls, persisted in the spool so they survive a restart:
//! `controls/host-<host>.json` (`chute pause`, `resume`, `drain` for the daemons of one
//! host) and `controls/all-hosts.json` (`--all-hosts`). Each holds the mode, when it
//! was set and by whom; for a daemon the latest of its host's file and the all-hosts
//! file wins, so `chute resume` on one host lifts an earlier `pause --all-hosts` there,
//! and a later `--all-hosts` instruction overrides every host's own.
//!
//! The files are read without following links and only up to a few KiB: they are in a
//! shared folder, and a file that does not parse counts as absent (logged).

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spool::{Spool, fsutil};
use crate::status::OperatorMode;

/// The largest control file read; anything longer is not one chute wrote.
const MAX_CONTROL_BYTES: u64 = 4096;

/// One control file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// What the daemons should do.
    pub mode: OperatorMode,
    /// When the instruction was given (the latest instruction wins).
    pub set_at: DateTime<Utc>,
    /// Who gave it, for people reading the file (`chute pause` on host H, pid P).
    #[serde(default)]
    pub set_by: String,
}

impl Control {
    /// An instruction given now.
    pub fn now(mode: OperatorMode, set_by: impl Into<String>) -> Self {
        Self {
            mode,
            set_at: Utc::now(),
            set_by: set_by.into(),
        }
    }
}

/// Reads one control file: `Ok(None)` when there is none. A link, a non-file or an
/// oversized file is refused.
pub fn read(path: &Path) -> io::Result<Option<Control>> {
    let file = match std::fs::File::options()
        .read(true)
        .custom_flags(i32::try_from(rustix::fs::OFlags::NOFOLLOW.bits()).unwrap_or(0))
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > MAX_CONTROL_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a control file (not a regular file, or too large)",
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONTROL_BYTES).read_to_end(&mut bytes)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// Writes one control file (temp file + fsync + rename; `controls/` is created).
pub fn write(path: &Path, control: &Control) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    fsutil::write_json_atomic(path, control, true)
}

/// The instruction that applies to the daemons of `host`: the latest of the host's
/// file and the all-hosts file; `None` when neither exists (run as usual). Files that
/// cannot be read are skipped and described in the second half.
pub fn effective(spool: &Spool, host: &str) -> (Option<Control>, Vec<String>) {
    let mut problems = Vec::new();
    let control = [spool.host_control(host), spool.all_hosts_control()]
        .iter()
        .filter_map(|path| match read(path) {
            Ok(control) => control,
            Err(error) => {
                problems.push(format!("{}: {error}", path.display()));
                None
            }
        })
        .max_by_key(|control| control.set_at);
    (control, problems)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_latest_instruction_wins_between_host_and_all_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        assert_eq!(effective(&spool, "h1").0, None);
        let pause_all = Control::now(OperatorMode::Paused, "test");
        write(&spool.all_hosts_control(), &pause_all).unwrap();
        assert_eq!(effective(&spool, "h1").0, Some(pause_all.clone()));
        let mut resume_here = Control::now(OperatorMode::Running, "test");
        resume_here.set_at = pause_all.set_at + chrono::Duration::seconds(1);
        write(&spool.host_control("h1"), &resume_here).unwrap();
        assert_eq!(effective(&spool, "h1").0, Some(resume_here));
        assert_eq!(effective(&spool, "h2").0, Some(pause_all.clone()));
        let mut drain_all = Control::now(OperatorMode::Draining { exit: true }, "test");
        drain_all.set_at = pause_all.set_at + chrono::Duration::seconds(2);
        write(&spool.all_hosts_control(), &drain_all).unwrap();
        assert_eq!(effective(&spool, "h1").0, Some(drain_all));
    }

    #[test]
    fn links_and_garbage_are_not_controls() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(dir.path());
        std::fs::create_dir_all(spool.controls()).unwrap();
        let elsewhere = dir.path().join("elsewhere.json");
        write(&elsewhere, &Control::now(OperatorMode::Paused, "x")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, spool.host_control("h1")).unwrap();
        assert!(read(&spool.host_control("h1")).is_err());
        std::fs::write(spool.all_hosts_control(), b"{not json").unwrap();
        assert!(read(&spool.all_hosts_control()).is_err());
        let (control, problems) = effective(&spool, "h1");
        assert_eq!(control, None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            spool.host_control("a/../b"),
            spool.controls().join("host-a_.._b.json")
        );
    }
}
