//! `job.json`: what was claimed, when, and by whom.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::spool::entry::InputKind;
use crate::spool::owner::Owner;
use crate::spool::snapshot::Snapshot;

/// The claim record of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRecord {
    /// Job id (UUID v7, so ids sort by claim time).
    pub id: Uuid,
    /// The route (inbox folder) it came from.
    pub route: String,
    /// The pipeline that processes it.
    pub pipeline: String,
    /// The claimed input.
    pub input: InputRecord,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
    /// The daemon that claimed it, or adopted it last.
    pub owner: Owner,
    /// Refreshed by the owner while the job runs.
    pub heartbeat: Option<DateTime<Utc>>,
    /// Set at claim when the input was refused without being opened (symlink, FIFO, too
    /// large, …): the job goes straight to failed/ with this reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejected>,
    /// Set when this record was rebuilt from the input after being lost or torn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuilt_at: Option<DateTime<Utc>>,
}

impl Default for JobRecord {
    fn default() -> Self {
        Self {
            id: Uuid::nil(),
            route: String::new(),
            pipeline: String::new(),
            input: InputRecord::default(),
            claimed_at: DateTime::<Utc>::UNIX_EPOCH,
            owner: Owner::default(),
            heartbeat: None,
            rejection: None,
            rebuilt_at: None,
        }
    }
}

/// The input as claimed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InputRecord {
    /// The original name, as UTF-8 (invalid bytes replaced).
    pub name: String,
    /// The exact name bytes in hex, when the name is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_hex: Option<String>,
    /// File or folder.
    pub kind: InputKind,
    /// Size in bytes (a folder: the total of its files).
    pub size: u64,
    /// Inode number at claim (lets `chute submit --wait` find its job).
    pub inode: u64,
    /// Latest modification time the claim saw (a folder: of anything inside); the
    /// snapshot refuses an input changed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    /// Entries the claim saw in a folder (the folder itself included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
    /// The daemon-owned copy that replaced the dropped input before anything read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    /// blake3 of the content, filled in by the prepare stage.
    pub content_hash: Option<String>,
}

impl InputRecord {
    /// The original name: the exact bytes when the name is not UTF-8.
    pub fn original_name(&self) -> std::ffi::OsString {
        use std::os::unix::ffi::OsStringExt;
        if let Some(hex) = &self.name_hex {
            let bytes: Option<Vec<u8>> = (0..hex.len())
                .step_by(2)
                .map(|i| {
                    hex.get(i..i + 2)
                        .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                })
                .collect();
            if let Some(bytes) = bytes {
                return std::ffi::OsString::from_vec(bytes);
            }
        }
        std::ffi::OsString::from(&self.name)
    }

    /// The inode the stages read: the snapshot's once it was taken, else the claimed
    /// one (0: unknown).
    pub fn readable_inode(&self) -> u64 {
        self.snapshot
            .as_ref()
            .map_or(self.inode, |snapshot| snapshot.inode)
    }
}

impl Default for InputRecord {
    fn default() -> Self {
        Self {
            name: String::new(),
            name_hex: None,
            kind: InputKind::File,
            size: 0,
            inode: 0,
            modified: None,
            entries: None,
            snapshot: None,
            content_hash: None,
        }
    }
}

/// Why an input was refused at claim.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Rejected {
    /// What is wrong with the input.
    pub reason: String,
    /// What the user can do.
    pub hint: String,
}
