//! `events.jsonl`: append-only progress lines `{ts, stage, percent, message}`.

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

/// The event log of one job.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    /// The log at `path`.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Appends one event as a single write (so concurrent readers never see half a line).
    pub fn append(&self, stage: &str, percent: u8, message: &str) -> io::Result<Event> {
        let event = Event {
            ts: Utc::now(),
            stage: stage.to_owned(),
            percent: percent.min(100),
            message: message.to_owned(),
        };
        let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut file = File::options().create(true).append(true).open(&self.path)?;
        file.write_all(&line)?;
        Ok(event)
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
}
