//! `[spool]`, `[retention]` and `[disk]`: where the spool lives, how it is scanned and
//! made durable, how long ended folders stay, and how full its disk may get
//! (`housekeeping/` acts on the last two).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[spool]`: the spool root and its scanning rhythm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// The spool root; `--spool` and `CHUTE_SPOOL` override it.
    pub root: PathBuf,
    /// This daemon's node name, unique among the hosts sharing the spool (shown in
    /// `chute doctor` and `chute jobs`); empty: the host name (the machine id where
    /// the host name is `localhost`).
    pub node: String,
    /// Whether other hosts may use this spool: mounts whose locks stay on one host are
    /// then refused at start. `false` for a spool only this host uses.
    pub shared: bool,
    /// Full rescan of inboxes and jobs/ (inotify misses files written by other hosts).
    #[serde(with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// How often a running job's heartbeat (job.json) and this daemon's record are refreshed.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How long a daemon on another host may stay silent before its jobs are adopted.
    /// Must exceed the shared filesystem's lock-release time (NFSv4 ~90–180 s, CephFS ~300 s).
    #[serde(with = "humantime_serde")]
    pub owner_lease: Duration,
    /// fsync job records and checkpoints before they are relied on (turn off only on scratch disks).
    pub fsync: bool,
    /// How claims are made durable: `auto` skips the per-batch sync where the filesystem
    /// keeps extended attributes (a lost job.json is then rebuilt from the input and the
    /// route attribute of its folder); `batch` always syncs once per claim batch.
    pub claim_commit: ClaimCommit,
}

/// How a batch of claims is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimCommit {
    /// `batch` unless the spool keeps extended attributes, then no sync.
    #[default]
    Auto,
    /// One filesystem sync per claim batch, before the inputs move in.
    Batch,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/var/lib/chute"),
            node: String::new(),
            shared: true,
            rescan_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            owner_lease: Duration::from_secs(300),
            fsync: true,
            claim_commit: ClaimCommit::Auto,
        }
    }
}

impl SpoolConfig {
    /// Checks what serde cannot: the rhythms must tick.
    pub fn validate(&self) -> Result<(), SpoolConfigError> {
        if self.rescan_interval.is_zero() {
            return Err(SpoolConfigError::ZeroInterval("rescan_interval"));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(SpoolConfigError::ZeroInterval("heartbeat_interval"));
        }
        Ok(())
    }
}

/// `[retention]`: ages after which ended material is removed, and how often the daemon
/// looks (`chute gc` applies the same rules at once).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Age of delivered results (outbox) before removal.
    #[serde(with = "humantime_serde")]
    pub done: Duration,
    /// Age of failed results before removal.
    #[serde(with = "humantime_serde")]
    pub failed: Duration,
    /// Age of folders left in trash/ (a retired job whose deletion was interrupted).
    #[serde(with = "humantime_serde")]
    pub trash: Duration,
    /// Provider results in cache/results/ unused for this long are removed (the
    /// cache's size bound is `plugins.cache_size`).
    #[serde(with = "humantime_serde")]
    pub cache: Duration,
    /// Compiled plugins (`plugins.compile_cache`, outside the spool) unused for this long
    /// are removed; a plugin whose artifact is gone is compiled again at the next start.
    #[serde(with = "humantime_serde")]
    pub component_cache: Duration,
    /// How often the daemon applies these rules (the first time just after it starts).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done: Duration::from_secs(7 * 86400),
            failed: Duration::from_secs(14 * 86400),
            trash: Duration::from_secs(3600),
            cache: Duration::from_secs(30 * 86400),
            component_cache: Duration::from_secs(30 * 86400),
            interval: Duration::from_secs(3600),
        }
    }
}

impl RetentionConfig {
    /// Checks what serde cannot: the schedule must tick, and results must be kept for
    /// some time (a zero age would delete every result as it is delivered).
    pub fn validate(&self) -> Result<(), SpoolConfigError> {
        for (key, value) in [
            ("retention.interval", self.interval),
            ("retention.done", self.done),
            ("retention.failed", self.failed),
        ] {
            if value.is_zero() {
                return Err(SpoolConfigError::ZeroDuration(key));
            }
        }
        Ok(())
    }
}

/// `[disk]`: spool filesystem usage thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Above this usage the daemon logs a warning.
    pub warn_percent: u8,
    /// Above this usage the daemon stops claiming new inputs.
    pub pause_percent: u8,
    /// Claiming resumes below this usage.
    pub resume_percent: u8,
    /// Remove the oldest finished material when above `pause_percent`: trash, then the
    /// provider result cache, then delivered and failed results older than
    /// `cleanup_min_age`; never a queued or running job.
    pub emergency_cleanup: bool,
    /// How often the spool's filesystem is measured (space and inodes).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Results younger than this are never removed by the emergency cleanup.
    #[serde(with = "humantime_serde")]
    pub cleanup_min_age: Duration,
    /// Free space no space-hungry stage may take (see `spool/space.rs`): `"auto"`
    /// (5 % of the filesystem, at most 256 MiB) or a size such as `"512MiB"`.
    pub reserve: SpaceReserve,
}

/// `disk.reserve`: the free space stages leave alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpaceReserve {
    /// 5 % of the filesystem, at most 256 MiB (3.2 MiB of a 64 MiB filesystem).
    #[default]
    Auto,
    /// This many bytes.
    Bytes(u64),
}

impl SpaceReserve {
    /// The most `Auto` keeps free.
    pub const AUTO_MAX: u64 = 256 << 20;
    /// The share of the filesystem `Auto` keeps free, in percent.
    pub const AUTO_PERCENT: u64 = 5;

    /// The bytes kept free on a filesystem of `total` bytes.
    pub fn bytes(self, total: u64) -> u64 {
        match self {
            SpaceReserve::Auto => (total / 100 * Self::AUTO_PERCENT).min(Self::AUTO_MAX),
            SpaceReserve::Bytes(bytes) => bytes,
        }
    }
}

impl Serialize for SpaceReserve {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            SpaceReserve::Auto => serializer.serialize_str("auto"),
            SpaceReserve::Bytes(bytes) => {
                serializer.serialize_str(&bytesize::ByteSize::b(*bytes).display().iec().to_string())
            }
        }
    }
}

impl<'de> Deserialize<'de> for SpaceReserve {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "auto" {
            return Ok(SpaceReserve::Auto);
        }
        text.trim()
            .parse::<bytesize::ByteSize>()
            .map(|size| SpaceReserve::Bytes(size.as_u64()))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "disk.reserve must be \"auto\" or a size such as \"256MiB\", not {text:?}"
                ))
            })
    }
}

impl Default for DiskConfig {
    fn default() -> Self {
        Self {
            warn_percent: 80,
            pause_percent: 90,
            resume_percent: 85,
            emergency_cleanup: true,
            interval: Duration::from_secs(10),
            cleanup_min_age: Duration::from_secs(3600),
            reserve: SpaceReserve::Auto,
        }
    }
}

impl DiskConfig {
    /// Checks what serde cannot: the watermarks must be in order, the monitor must tick.
    pub fn validate(&self) -> Result<(), SpoolConfigError> {
        if self.interval.is_zero() {
            return Err(SpoolConfigError::ZeroDuration("disk.interval"));
        }
        if self.warn_percent > 100 {
            return Err(SpoolConfigError::WarnPercent(self.warn_percent));
        }
        if !(self.resume_percent <= self.pause_percent && self.pause_percent <= 100) {
            return Err(SpoolConfigError::Watermarks {
                resume_percent: self.resume_percent,
                pause_percent: self.pause_percent,
            });
        }
        Ok(())
    }
}

/// A `[spool]` or `[disk]` value the daemon cannot work with; the message says what to
/// write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpoolConfigError {
    /// A rescan or heartbeat every 0 s would never end (the key that is 0).
    #[error("spool.rescan_interval and spool.heartbeat_interval must be longer than 0s")]
    ZeroInterval(&'static str),
    /// A `[retention]` or `[disk]` duration that must be longer than 0 s (the key).
    #[error("{0} must be longer than 0s")]
    ZeroDuration(&'static str),
    /// A warning level above 100 % would never be reached.
    #[error("disk.warn_percent ({0}) must not exceed 100")]
    WarnPercent(u8),
    /// Claiming would resume above the level where it pauses.
    #[error(
        "disk.resume_percent ({resume_percent}) must not exceed disk.pause_percent ({pause_percent}), which must not exceed 100"
    )]
    Watermarks {
        /// The configured `disk.resume_percent`.
        resume_percent: u8,
        /// The configured `disk.pause_percent`.
        pause_percent: u8,
    },
}

impl SpoolConfigError {
    /// The keys the error is about, the likeliest culprit first (for pointing at a line).
    pub fn keys(&self) -> Vec<String> {
        match self {
            SpoolConfigError::ZeroInterval(key) => vec![format!("spool.{key}")],
            SpoolConfigError::ZeroDuration(key) => vec![(*key).to_owned()],
            SpoolConfigError::WarnPercent(_) => vec!["disk.warn_percent".into()],
            SpoolConfigError::Watermarks {
                resume_percent,
                pause_percent,
            } if resume_percent > pause_percent => {
                vec!["disk.resume_percent".into(), "disk.pause_percent".into()]
            }
            SpoolConfigError::Watermarks { .. } => vec!["disk.pause_percent".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zero_intervals_ages_and_impossible_levels_are_refused_naming_the_key() {
        for (key, retention) in [
            (
                "retention.interval",
                RetentionConfig {
                    interval: Duration::ZERO,
                    ..RetentionConfig::default()
                },
            ),
            (
                "retention.done",
                RetentionConfig {
                    done: Duration::ZERO,
                    ..RetentionConfig::default()
                },
            ),
        ] {
            let error = retention.validate().unwrap_err();
            assert_eq!(error.to_string(), format!("{key} must be longer than 0s"));
            assert_eq!(error.keys(), [key]);
        }
        let trash_at_once = RetentionConfig {
            trash: Duration::ZERO,
            ..RetentionConfig::default()
        };
        assert!(trash_at_once.validate().is_ok());

        let error = DiskConfig {
            interval: Duration::ZERO,
            ..DiskConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(error.to_string(), "disk.interval must be longer than 0s");
        let error = DiskConfig {
            warn_percent: 120,
            ..DiskConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "disk.warn_percent (120) must not exceed 100"
        );
        assert_eq!(error.keys(), ["disk.warn_percent"]);
        assert!(DiskConfig::default().validate().is_ok());
    }
}
