//! `[watch]`: when an inbox entry counts as complete and may be claimed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[watch]`: when an inbox entry counts as complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// An entry seen without a close or rename event is taken once its size and mtime have
    /// not changed for this long.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// A file seen being written (create/modify events) but never closed is taken after it
    /// has been quiet this long (a writer that died without closing).
    #[serde(with = "humantime_serde")]
    pub open_file_timeout: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(3),
            open_file_timeout: Duration::from_secs(60),
        }
    }
}
