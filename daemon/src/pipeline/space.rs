//! A stage's side of disk space: reserving its expected output before it writes
//! (waiting, checkpointed and cancellable, with its running slot given back, while the
//! disk cannot hold it), and keeping finished results in memory until they can be
//! written. The table and the rules are in [`crate::spool::space`].

use std::path::Path;
use std::time::Duration;

use super::{StageContext, StageError, WAITING_FOR};
use crate::spool::space::{Reservation, Shortfall, WAITING_FOR_SPACE, show_bytes};

/// The longest pause between two tries of a write that met a full disk.
const WRITE_RETRY_MAX: Duration = Duration::from_secs(10);

impl StageContext {
    /// Reserves `bytes` for the file `output` this stage is about to write. While the
    /// disk cannot hold them beside other reservations and `disk.reserve`, the job says
    /// "waiting for disk space" in its events, gives its running slot back and waits
    /// (a cancel or a stop ends the wait); a filesystem too small even when empty
    /// fails the job.
    pub async fn reserve_space(
        &self,
        bytes: u64,
        output: &Path,
    ) -> Result<Reservation, StageError> {
        let signals = self.signals();
        let mut waited = false;
        loop {
            signals.check()?;
            match self
                .space
                .try_reserve(&self.holder(), bytes, Some(output))?
            {
                Ok(reservation) => {
                    if waited {
                        self.progress(0, &format!("reserved {} of disk space", show_bytes(bytes)));
                        self.slot.reacquire().await;
                    }
                    return Ok(reservation);
                }
                Err(shortfall) if shortfall.never_fits() => return Err(too_large(&shortfall)),
                Err(shortfall) => {
                    if !waited {
                        waited = true;
                        self.progress(0, &waiting_message(&shortfall));
                        tracing::info!(needed = shortfall.needed, available = shortfall.available, holders = ?self.space.holders(), "Waiting for disk space before writing.");
                        self.slot.release();
                    }
                    self.space.changed(&signals).await?;
                }
            }
        }
    }

    /// Runs `write` (which saves results already computed) until it succeeds: a full
    /// disk does not throw the results away, the job says "waiting for disk space" and
    /// the write is tried again with backoff (up to every ten seconds) until space
    /// returns; a cancel or a stop ends it. Other errors are returned at once.
    pub async fn write_when_space(
        &self,
        what: &str,
        mut write: impl FnMut() -> std::io::Result<()>,
    ) -> Result<(), StageError> {
        let signals = self.signals();
        let mut delay = Duration::from_millis(200);
        let mut waited = false;
        loop {
            match write() {
                Ok(()) => {
                    if waited {
                        self.progress(0, &format!("saved {what}"));
                    }
                    return Ok(());
                }
                Err(error) if crate::spool::space::is_out_of_space(&error) => {
                    if !waited {
                        waited = true;
                        self.progress(
                            0,
                            &format!("{WAITING_FOR_SPACE} to save {what} (kept in memory)"),
                        );
                        tracing::warn!(%error, what, "The disk is full; keeping the results in memory until they can be saved.");
                    }
                    signals.sleep(delay).await?;
                    delay = (delay * 2).min(WRITE_RETRY_MAX);
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// The event of a stage waiting for room.
pub fn waiting_message(shortfall: &Shortfall) -> String {
    debug_assert!(WAITING_FOR_SPACE.starts_with(WAITING_FOR));
    format!("{WAITING_FOR_SPACE}: {}", shortfall.describe())
}

fn too_large(shortfall: &Shortfall) -> StageError {
    StageError::job(
        format!(
            "the output needs {}, but the spool's filesystem holds at most {} beyond disk.reserve",
            show_bytes(shortfall.needed),
            show_bytes(shortfall.capacity)
        ),
        "move the spool to a larger filesystem or lower disk.reserve, then run `chute retry ID`",
    )
}
