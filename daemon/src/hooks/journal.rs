//! A hook's outcome, recorded with the job's events in its delivered folder:
//! `<result>/.job/events.jsonl` (a failed/ folder already keeps the job's events
//! there; an outbox folder gets the file with its first hook line). `.job/` stays
//! private like the rest of the job's records.
//!
//! The consumer owns the delivered folder once it appears: it may have moved it or
//! put a link in the way. So the folder is never re-created, and no link is followed:
//! the folder, `.job/` and the file are each opened with `O_NOFOLLOW`, relative to the
//! one before.

use std::io::{self, Write};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use crate::job::Event;

/// The stage name of hook lines in the events file.
pub const HOOK_STAGE: &str = "hook";

/// Appends `message` as a `hook` event to `result_dir`'s `.job/events.jsonl`, in one
/// write. A folder that is gone (moved away by its consumer) is not an error worth more
/// than a debug line; the caller logs the outcome anyway.
pub fn record(result_dir: &Path, message: &str) -> io::Result<()> {
    let event = Event {
        ts: chrono::Utc::now(),
        stage: HOOK_STAGE.to_owned(),
        percent: 100,
        message: message.to_owned(),
    };
    let mut line = serde_json::to_vec(&event).map_err(io::Error::other)?;
    line.push(b'\n');
    let folder_flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    let folder = rustix::fs::open(result_dir, folder_flags, Mode::empty())?;
    match rustix::fs::mkdirat(&folder, ".job", Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(error) => return Err(error.into()),
    }
    let records = rustix::fs::openat(&folder, ".job", folder_flags, Mode::empty())?;
    let file = rustix::fs::openat(
        &records,
        "events.jsonl",
        OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    std::fs::File::from(file).write_all(&line)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::job::EventLog;

    #[test]
    fn lines_join_the_events_and_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let result = dir.path().join("report--0a1b2c3d");
        std::fs::create_dir(&result).unwrap();
        record(&result, "on_done ok: exit code 0").unwrap();
        record(&result, "webhook delivered").unwrap();
        let events = EventLog::new(result.join(".job/events.jsonl"))
            .read_all()
            .unwrap();
        let messages: Vec<_> = events.iter().map(|event| event.message.as_str()).collect();
        assert_eq!(messages, ["on_done ok: exit code 0", "webhook delivered"]);
        assert!(events.iter().all(|event| event.stage == HOOK_STAGE));

        // A consumer put a link where .job was: nothing is written through it.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let linked = dir.path().join("linked--0a1b2c3d");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(&elsewhere, linked.join(".job")).unwrap();
        assert!(record(&linked, "x").is_err());
        assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
        // The folder itself moved away: it is not made again.
        let gone = dir.path().join("gone--0a1b2c3d");
        assert!(record(&gone, "x").is_err());
        assert!(!gone.exists());
    }
}
