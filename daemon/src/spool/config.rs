//! `[spool]`, `[retention]` and `[disk]`: where the spool lives, how it is scanned and
//! made durable, how long ended folders stay, and how full its disk may get.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[spool]`: the spool root and its scanning rhythm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// The spool root; `--spool` and `CHUTE_SPOOL` override it.
    pub root: PathBuf,
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

/// `[retention]`: ages after which results are removed by garbage collection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Age of delivered results (outbox) before removal.
    #[serde(with = "humantime_serde")]
    pub done: Duration,
    /// Age of failed results before removal.
    #[serde(with = "humantime_serde")]
    pub failed: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            done: Duration::from_secs(7 * 86400),
            failed: Duration::from_secs(14 * 86400),
        }
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
    /// Remove the oldest finished job folders when above `pause_percent`.
    pub emergency_cleanup: bool,
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
            reserve: SpaceReserve::Auto,
        }
    }
}

impl DiskConfig {
    /// Checks what serde cannot: the watermarks must be in order.
    pub fn validate(&self) -> Result<(), SpoolConfigError> {
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
