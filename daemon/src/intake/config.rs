//! `[watch]`: when an inbox entry counts as complete and may be claimed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[watch]`: when an inbox entry counts as complete.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// An entry seen without a close or rename event is taken once this daemon has watched
    /// its size and mtime stay unchanged for this long (an old mtime alone is not enough)
    /// and no process on this host holds one of its files open for writing.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// A file seen being written (create/modify events) but never closed is taken after it
    /// has been quiet this long (a writer that died without closing), once no process on
    /// this host holds it open for writing.
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
