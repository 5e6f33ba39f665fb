//! The reservation table: one per daemon and spool. A stage about to write a large
//! file reserves its expected size; the table grants it only when the filesystem's free
//! bytes, minus `disk.reserve`, minus what earlier reservations still have to write,
//! cover it.
//!
//! A reservation names the file it fills, so what it still has to write shrinks as the
//! file grows: bytes already on disk are counted once (in the filesystem's free bytes),
//! never again as outstanding. Dropping the [`Reservation`] gives its room back and
//! wakes the stages waiting for room.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{EmergencyReserve, Room};
use crate::spool::Spool;
use crate::spool::config::SpaceReserve;
use crate::stop::{StopSignals, Stopped};

/// How often a waiting stage looks at the filesystem again (files removed by others
/// wake nobody).
const POLL: Duration = Duration::from_secs(1);

/// Reservations of one spool's filesystem.
#[derive(Debug)]
pub struct SpaceTable {
    root: PathBuf,
    reserve: SpaceReserve,
    entries: Mutex<Entries>,
    changed: tokio::sync::Notify,
    emergency: EmergencyReserve,
}

#[derive(Debug, Default)]
struct Entries {
    next: u64,
    held: BTreeMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    holder: String,
    bytes: u64,
    file: Option<PathBuf>,
}

impl Entry {
    /// What it still has to write: its size less what its file holds already.
    fn outstanding(&self) -> u64 {
        let written = self
            .file
            .as_deref()
            .and_then(|file| std::fs::symlink_metadata(file).ok())
            .map_or(0, |metadata| metadata.len());
        self.bytes.saturating_sub(written)
    }
}

/// Room a reservation (or a wait) asked for and did not get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortfall {
    /// Bytes asked for.
    pub needed: u64,
    /// Bytes that may be granted now (free, less `disk.reserve` and other reservations).
    pub available: u64,
    /// The most that could ever be granted: the filesystem's size less `disk.reserve`.
    pub capacity: u64,
}

impl Shortfall {
    /// Whether waiting cannot help: the filesystem is too small for it even when empty.
    pub fn never_fits(&self) -> bool {
        self.needed > self.capacity
    }

    /// "needs 30 MiB, 12 MiB free beyond disk.reserve".
    pub fn describe(&self) -> String {
        format!(
            "needs {}, {} free beyond disk.reserve",
            super::show_bytes(self.needed),
            super::show_bytes(self.available)
        )
    }
}

/// Room held for one stage's output until dropped.
#[derive(Debug)]
pub struct Reservation {
    table: Arc<SpaceTable>,
    id: u64,
    /// The bytes reserved.
    pub bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.table.entries().held.remove(&self.id);
        self.table.changed.notify_waiters();
    }
}

impl SpaceTable {
    /// The table of `spool`, keeping `reserve` free. Installs the spool's emergency
    /// reserve for this process (see [`super::emergency`]).
    pub fn new(spool: &Spool, reserve: SpaceReserve) -> Arc<Self> {
        let emergency = EmergencyReserve::for_spool(spool);
        emergency.install();
        Arc::new(Self {
            root: spool.root().to_owned(),
            reserve,
            entries: Mutex::new(Entries::default()),
            changed: tokio::sync::Notify::new(),
            emergency,
        })
    }

    fn entries(&self) -> MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The spool's emergency reserve.
    pub fn emergency(&self) -> &EmergencyReserve {
        &self.emergency
    }

    /// The bytes kept free on a filesystem of `room.total` bytes.
    pub fn reserve_bytes(&self, room: Room) -> u64 {
        self.reserve.bytes(room.total)
    }

    /// The room now (one `statvfs`).
    pub fn room(&self) -> io::Result<Room> {
        super::room(&self.root)
    }

    /// What the held reservations still have to write, in all.
    pub fn outstanding(&self) -> u64 {
        self.entries()
            .held
            .values()
            .map(Entry::outstanding)
            .fold(0, u64::saturating_add)
    }

    /// Who holds reservations, and how much each still has to write (for logs).
    pub fn holders(&self) -> Vec<(String, u64)> {
        self.entries()
            .held
            .values()
            .map(|entry| (entry.holder.clone(), entry.outstanding()))
            .collect()
    }

    /// Whether `bytes` more fit in `room` beside the held reservations.
    pub fn check(&self, room: Room, bytes: u64) -> Result<(), Shortfall> {
        let reserve = self.reserve_bytes(room);
        let available = room
            .free
            .saturating_sub(reserve)
            .saturating_sub(self.outstanding());
        if bytes <= available {
            Ok(())
        } else {
            Err(Shortfall {
                needed: bytes,
                available,
                capacity: room.total.saturating_sub(reserve),
            })
        }
    }

    /// Reserves `bytes` for `holder`, who fills `file` with them, when `room` has them.
    pub fn try_reserve_in(
        self: &Arc<Self>,
        room: Room,
        holder: &str,
        bytes: u64,
        file: Option<&Path>,
    ) -> Result<Reservation, Shortfall> {
        // One lock from the check to the insert: two stages never both take the
        // last room.
        let mut entries = self.entries();
        let reserve = self.reserve_bytes(room);
        let outstanding = entries
            .held
            .values()
            .map(Entry::outstanding)
            .fold(0, u64::saturating_add);
        let available = room
            .free
            .saturating_sub(reserve)
            .saturating_sub(outstanding);
        if bytes > available {
            return Err(Shortfall {
                needed: bytes,
                available,
                capacity: room.total.saturating_sub(reserve),
            });
        }
        entries.next += 1;
        let id = entries.next;
        entries.held.insert(
            id,
            Entry {
                holder: holder.to_owned(),
                bytes,
                file: file.map(Path::to_owned),
            },
        );
        Ok(Reservation {
            table: self.clone(),
            id,
            bytes,
        })
    }

    /// Reserves `bytes` for `holder` if the filesystem has them now.
    pub fn try_reserve(
        self: &Arc<Self>,
        holder: &str,
        bytes: u64,
        file: Option<&Path>,
    ) -> io::Result<Result<Reservation, Shortfall>> {
        let room = self.room()?;
        Ok(self.try_reserve_in(room, holder, bytes, file))
    }

    /// Waits until a reservation is given back, or a second has passed (space freed by
    /// anyone else wakes nobody); ends early when `signals` say stop.
    pub async fn changed(&self, signals: &StopSignals) -> Result<(), Stopped> {
        let notified = self.changed.notified();
        signals
            .run(async {
                tokio::select! {
                    () = notified => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            })
            .await
    }

    /// Waits until `bytes` fit beside the held reservations (and puts the emergency
    /// reserve back first, when it was used); ends early when `signals` say stop.
    /// `waiting` is called once, with the first shortfall, if it has to wait.
    pub async fn wait_for_room(
        &self,
        bytes: u64,
        signals: &StopSignals,
        waiting: impl FnOnce(&Shortfall),
    ) -> Result<(), Stopped> {
        let mut waiting = Some(waiting);
        loop {
            if let Ok(room) = self.room() {
                if let Err(error) = self.emergency.ensure(self.reserve_bytes(room)) {
                    tracing::debug!(%error, "Cannot put the emergency reserve back yet.");
                }
                match self.room().map(|room| self.check(room, bytes)) {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(shortfall)) => {
                        if let Some(waiting) = waiting.take() {
                            waiting(&shortfall);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "Cannot read the spool's free space."),
                }
            }
            self.changed(signals).await?;
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
