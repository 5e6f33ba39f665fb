//! `events.jsonl`: append-only progress lines `{ts, stage, percent, message}`.
//!
//! The file keeps a pre-allocated tail of [`TAIL_BYTES`] beyond its end
//! (`fallocate(FALLOC_FL_KEEP_SIZE)`, renewed when less than [`TAIL_LOW`] is left), so
//! the lines that matter on a full disk ("waiting for disk space", "cancelled") land
//! in blocks the file already owns. Where the filesystem cannot pre-allocate, an
//! append that meets a full disk releases the spool's emergency reserve instead
//! (see [`crate::spool::space`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One progress line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened.
    pub ts: DateTime<Utc>,
    /// The stage it belongs to (`claim` and `job` for job-level events).
    pub stage: String,
    /// The stage's progress 0–100.
    pub percent: u8,
    /// A sentence for people.
    pub message: String,
}

/// What the file keeps allocated beyond its end.
pub const TAIL_BYTES: u64 = 64 << 10;
/// Below this much allocated tail, the tail is renewed.
pub const TAIL_LOW: u64 = 16 << 10;

/// Allocates [`TAIL_BYTES`] beyond the end of `file` when less than [`TAIL_LOW`] is
/// left; a filesystem that cannot (or a full disk) leaves it as it is.
fn keep_tail(file: &File) {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = file.metadata() else {
        return;
    };
    let allocated = metadata.blocks().saturating_mul(512);
    if allocated >= metadata.len().saturating_add(TAIL_LOW) {
        return;
    }
    let _ = rustix::fs::fallocate(
        file,
        rustix::fs::FallocateFlags::KEEP_SIZE,
        metadata.len(),
        TAIL_BYTES,
    );
}

/// The event log of one job.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    fence: Option<std::sync::Arc<super::Fence>>,
}

impl EventLog {
    /// The log at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path, fence: None }
    }

    /// This log with its appends refused once `fence` is lost (a stale owner's
    /// progress lines never land in the new owner's log).
    pub fn fenced(mut self, fence: Option<std::sync::Arc<super::Fence>>) -> Self {
        self.fence = fence;
        self
    }

    /// Appends one event as a single write (so concurrent readers never see half a line).
    pub fn append(&self, stage: &str, percent: u8, message: &str) -> io::Result<Event> {
        if let Some(fence) = &self.fence {
            fence.confirm_within(super::fence::EVENT_CONFIRM_AGE)?;
        }
        let event = Event {
            ts: Utc::now(),
            stage: stage.to_owned(),
            percent: percent.min(100),
            message: message.to_owned(),
        };
        let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
        line.push(b'\n');
        crate::spool::space::with_reserve_released(&self.path, || {
            let mut file = File::options().create(true).append(true).open(&self.path)?;
            file.write_all(&line)?;
            keep_tail(&file);
            Ok(())
        })?;
        Ok(event)
    }

    /// Makes sure the file owns at least [`TAIL_LOW`] bytes beyond its end (best
    /// effort), so the next lines need no new space.
    pub fn preallocate(&self) {
        if let Ok(file) = File::options().create(true).append(true).open(&self.path) {
            keep_tail(&file);
        }
    }

    /// All events; lines that do not parse (a torn last line after a crash) are skipped.
    pub fn read_all(&self) -> io::Result<Vec<Event>> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut events = Vec::new();
        for line in BufReader::new(file).lines() {
            if let Ok(event) = serde_json::from_str(&line?) {
                events.push(event);
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn append_then_read_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(dir.path().join("events.jsonl"));
        log.append("prepare", 0, "started (attempt 1)").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("events.jsonl"))
            .unwrap()
            .write_all(b"{\"ts\": \"2026")
            .unwrap();
        let events = log.read_all().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].message, "started (attempt 1)");
    }

    #[test]
    fn the_log_owns_room_for_more_lines_beyond_its_end() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::new(dir.path().join("events.jsonl"));
        log.append("decode", 0, "started (attempt 1)").unwrap();
        let metadata = std::fs::metadata(dir.path().join("events.jsonl")).unwrap();
        if metadata.blocks() * 512 < metadata.len() + TAIL_LOW {
            eprintln!("SKIPPED: this filesystem does not pre-allocate (fallocate KEEP_SIZE)");
            return;
        }
        // The tail is beyond the end: readers see only the lines.
        assert_eq!(log.read_all().unwrap().len(), 1);
        assert!(metadata.len() < 200);
    }
}
