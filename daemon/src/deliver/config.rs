//! `[deliver]`: the permissions delivered files get, so the outbox's consumers (another
//! user in the operator's group, a web server) can read them while the spool's
//! internals stay private.

use serde::{Deserialize, Serialize};

/// `[deliver]`: how delivered folders are made readable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverConfig {
    /// Octal mode for delivered files (`"0640"`); folders get the same plus search
    /// permission wherever reading is allowed. `None`: read and write for the owner,
    /// and for the group what the daemon's umask allows (`chute run` adds 027 to its
    /// umask, which gives 0640; a umask of 077 gives 0600).
    pub mode: Option<String>,
}

/// A `[deliver]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverConfigError {
    /// `mode` is not an octal permission the owner can still read and write.
    #[error(
        "deliver.mode {0:?} must be an octal file mode like \"0640\" or \"0664\" that keeps read and write for the owner (no setuid, setgid or sticky bits)"
    )]
    Mode(String),
}

impl DeliverConfigError {
    /// The keys the error is about, for pointing at their line.
    pub fn keys(&self) -> Vec<String> {
        vec!["deliver.mode".to_owned()]
    }
}

impl DeliverConfig {
    /// Checks that `mode` can be used.
    pub fn validate(&self) -> Result<(), DeliverConfigError> {
        self.file_mode_with(0o022).map(|_| ())
    }

    /// The mode delivered files get, given the process's umask.
    pub fn file_mode_with(&self, umask: u32) -> Result<u32, DeliverConfigError> {
        match &self.mode {
            None => Ok(0o600 | (0o060 & !umask)),
            Some(text) => {
                let digits = text.trim().trim_start_matches("0o");
                match u32::from_str_radix(digits, 8) {
                    Ok(mode) if !digits.is_empty() && mode <= 0o777 && mode & 0o600 == 0o600 => {
                        Ok(mode)
                    }
                    _ => Err(DeliverConfigError::Mode(text.clone())),
                }
            }
        }
    }

    /// The mode delivered files get in this process (its umask read from
    /// /proc/self/status; 022 when that cannot be read).
    pub fn file_mode(&self) -> u32 {
        self.file_mode_with(process_umask().unwrap_or(0o022))
            .unwrap_or(0o600)
    }
}

/// The process's umask, as the kernel reports it in /proc/self/status (read once: `chute
/// run` sets it before anything is delivered and never changes it again, and every
/// delivery asks).
pub fn process_umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("Umask:"))?;
        u32::from_str_radix(line.trim_start_matches("Umask:").trim(), 8).ok()
    })
}

/// The mode of a delivered folder for files of `file_mode`: searchable wherever it is
/// readable.
pub fn folder_mode(file_mode: u32) -> u32 {
    file_mode | ((file_mode & 0o444) >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Option<&str>) -> DeliverConfig {
        DeliverConfig {
            mode: mode.map(str::to_owned),
        }
    }

    #[test]
    fn the_default_follows_the_umask_for_the_group() {
        // What the daemon runs with (027 added to the usual 022).
        assert_eq!(config(None).file_mode_with(0o027), Ok(0o640));
        assert_eq!(config(None).file_mode_with(0o022), Ok(0o640));
        assert_eq!(config(None).file_mode_with(0o002), Ok(0o660));
        assert_eq!(config(None).file_mode_with(0o077), Ok(0o600));
    }

    #[test]
    fn a_configured_mode_is_octal_and_keeps_the_owner_able_to_read_and_write() {
        assert_eq!(config(Some("0644")).file_mode_with(0o077), Ok(0o644));
        assert_eq!(config(Some("664")).file_mode_with(0o022), Ok(0o664));
        for bad in ["0400", "4755", "rw-r-----", "", "0899"] {
            assert!(config(Some(bad)).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn folders_are_searchable_where_readable() {
        assert_eq!(folder_mode(0o640), 0o750);
        assert_eq!(folder_mode(0o644), 0o755);
        assert_eq!(folder_mode(0o600), 0o700);
    }
}
