//! Per-item checkpoints of a stage that fans out (scenes, clips, chunks): one small
//! file per finished item, `work/items/<stage>/<item>.json`.
//!
//! One file per item, so concurrent items never wait for each other behind one lock or
//! rewrite each other's records, and a crash or a retry redoes only the items without
//! a file. The files live under `work/`, which travels with the job into
//! `failed/…/.job/` and back on `chute retry`, so a retried job keeps them too.
//! Writes are temp file + rename ([`fsutil::write_json_atomic`]), fsynced when the
//! spool is durable (`spool.fsync`, the default); the async variant runs them on
//! tokio's blocking pool, never on a runtime worker.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::spool::fsutil;

/// The finished items of one stage of one job.
#[derive(Debug, Clone)]
pub struct ItemCheckpoints {
    dir: PathBuf,
    durable: bool,
    /// The running job's fence: a stale owner records no item.
    fence: Option<std::sync::Arc<super::Fence>>,
}

/// An item name that could escape its folder or hide as a temp file.
#[derive(Debug, thiserror::Error)]
#[error("item name {0:?} must be 1–64 characters of A–Z, a–z, 0–9, '-' or '_'")]
pub struct BadItemName(pub String);

impl From<BadItemName> for io::Error {
    fn from(error: BadItemName) -> Self {
        io::Error::new(io::ErrorKind::InvalidInput, error)
    }
}

impl ItemCheckpoints {
    /// The checkpoints of `stage` in the job folder `job_path`; `durable` fsyncs each.
    pub fn new(job_path: &std::path::Path, stage: &str, durable: bool) -> Self {
        Self {
            dir: job_path.join("work").join("items").join(stage),
            durable,
            fence: None,
        }
    }

    /// These checkpoints with every record confirmed against `fence` first.
    pub fn fenced(mut self, fence: Option<std::sync::Arc<super::Fence>>) -> Self {
        self.fence = fence;
        self
    }

    /// The folder holding this stage's item files.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The name of the `index`-th item (`00007`), sorted as numbers sort.
    pub fn indexed(index: usize) -> String {
        format!("{index:05}")
    }

    fn path(&self, item: &str) -> Result<PathBuf, BadItemName> {
        let plain = !item.is_empty()
            && item.len() <= 64
            && item
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if plain {
            Ok(self.dir.join(format!("{item}.json")))
        } else {
            Err(BadItemName(item.to_owned()))
        }
    }

    /// Every finished item, by name. Files that do not parse as `T` (torn by a power
    /// cut before their rename, or from an older format) count as not finished.
    pub fn load<T: DeserializeOwned>(&self) -> io::Result<BTreeMap<String, T>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(error) => return Err(error),
        };
        let mut items = BTreeMap::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(item) = name
                .to_str()
                .and_then(|name| name.strip_suffix(".json"))
                .filter(|item| self.path(item).is_ok())
            else {
                continue;
            };
            let path = self.dir.join(&name);
            match fsutil::read_json::<T>(&path) {
                Ok(Some(value)) => {
                    items.insert(item.to_owned(), value);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "An item checkpoint is unreadable; the item runs again.");
                }
            }
        }
        Ok(items)
    }

    /// One finished item, if its checkpoint exists and parses.
    pub fn get<T: DeserializeOwned>(&self, item: &str) -> io::Result<Option<T>> {
        match fsutil::read_json::<T>(&self.path(item)?) {
            Ok(value) => Ok(value),
            Err(error) if error.kind() == io::ErrorKind::InvalidData => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Records `item` as finished with `value` (blocking: call from a blocking
    /// thread, or use [`record_async`](Self::record_async)).
    pub fn record<T: Serialize>(&self, item: &str, value: &T) -> io::Result<()> {
        let path = self.path(item)?;
        if let Some(fence) = &self.fence {
            fence.confirm()?;
        }
        std::fs::create_dir_all(&self.dir)?;
        fsutil::write_json_atomic(&path, value, self.durable)
    }

    /// [`record`](Self::record) on tokio's blocking pool, so an async stage never
    /// blocks a runtime worker on an fsync.
    pub async fn record_async<T: Serialize>(&self, item: &str, value: &T) -> io::Result<()> {
        let checkpoints = self.clone();
        let item = item.to_owned();
        let json = serde_json::to_value(value).map_err(io::Error::other)?;
        tokio::task::spawn_blocking(move || checkpoints.record(&item, &json))
            .await
            .map_err(io::Error::other)?
    }

    /// Forgets every item (the stage runs again from scratch: `chute retry --from`).
    pub fn clear(&self) -> io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finished_items_load_back_and_torn_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let items = ItemCheckpoints::new(dir.path(), "clips", false);
        assert!(items.load::<u32>().unwrap().is_empty());
        items.record(&ItemCheckpoints::indexed(0), &10u32).unwrap();
        items.record(&ItemCheckpoints::indexed(2), &12u32).unwrap();
        std::fs::write(items.dir().join("00001.json"), b"{torn").unwrap();
        std::fs::write(items.dir().join(".tmp-00003.json"), b"3").unwrap();
        let loaded = items.load::<u32>().unwrap();
        assert_eq!(
            loaded.into_iter().collect::<Vec<_>>(),
            vec![("00000".to_owned(), 10), ("00002".to_owned(), 12)]
        );
        assert_eq!(items.get::<u32>("00002").unwrap(), Some(12));
        assert_eq!(items.get::<u32>("00001").unwrap(), None);
        items.clear().unwrap();
        assert!(items.load::<u32>().unwrap().is_empty());
    }

    #[test]
    fn item_names_cannot_leave_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let items = ItemCheckpoints::new(dir.path(), "scenes", false);
        for bad in ["", "../x", "a/b", ".hidden", "x y", &"z".repeat(65)] {
            assert!(items.record(bad, &1u8).is_err(), "{bad:?} was accepted");
        }
    }

    #[tokio::test]
    async fn concurrent_items_are_recorded_without_a_shared_lock() {
        let dir = tempfile::tempdir().unwrap();
        let items = ItemCheckpoints::new(dir.path(), "scenes", true);
        let writers = (0..16).map(|index| {
            let items = items.clone();
            tokio::spawn(async move {
                items
                    .record_async(&ItemCheckpoints::indexed(index), &index)
                    .await
            })
        });
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let loaded = items.load::<usize>().unwrap();
        assert_eq!(loaded.len(), 16);
        assert!(loaded.values().copied().eq(0..16));
    }
}
