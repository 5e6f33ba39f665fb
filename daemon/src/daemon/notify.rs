//! What the daemon tells systemd (sd_notify): READY=1 once the first inbox scan and the
//! plugin load are done, STATUS= with the queue counts and the daemon's mode, WATCHDOG=1
//! only while the loops that would stop if the daemon hung still turn, RELOADING=1 (with
//! MONOTONIC_USEC) and READY=1 around a reload, STOPPING=1 at shutdown.
//!
//! Without `NOTIFY_SOCKET` every call here does nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use crate::queue::JobQueue;
use crate::status::{DaemonStatus, OperatorMode};

/// A loop's "last alive" instant: the loop stamps it every turn, the watchdog reads it.
#[derive(Debug)]
pub struct AliveStamp {
    base: Instant,
    /// Milliseconds since `base` at the last stamp.
    last: AtomicU64,
}

impl Default for AliveStamp {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            last: AtomicU64::new(0),
        }
    }
}

impl AliveStamp {
    /// Records that the loop is turning now.
    pub fn stamp(&self) {
        let now = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(now, Ordering::Relaxed);
    }

    /// How long ago the loop last turned.
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.base.elapsed().saturating_sub(last)
    }
}

/// The loops whose stamps the watchdog asks for: the intake thread and the dispatcher.
#[derive(Debug, Default)]
pub struct Liveness {
    /// Stamped by the intake thread every turn of its loop.
    pub intake: Arc<AliveStamp>,
    /// Stamped by the dispatcher loop every turn (it wakes at least every tick).
    pub dispatcher: Arc<AliveStamp>,
}

impl Liveness {
    /// The loops that have not turned within `fresh` (empty: all alive).
    pub fn stale(&self, fresh: Duration) -> Vec<&'static str> {
        [("intake", &*self.intake), ("dispatcher", &*self.dispatcher)]
            .into_iter()
            .filter(|(_, stamp)| stamp.age() > fresh)
            .map(|(name, _)| name)
            .collect()
    }
}

/// Whether systemd listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Sends `states` to systemd when it listens; a failure is logged, never fatal.
pub fn send(states: &[NotifyState<'_>]) {
    if enabled()
        && let Err(error) = sd_notify::notify(false, states)
    {
        tracing::warn!(%error, "Could not notify systemd.");
    }
}

/// READY=1 with the first STATUS line.
pub fn ready(status_line: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status_line)]);
}

/// RELOADING=1 with MONOTONIC_USEC (systemd ≥ 253 requires it with Type=notify-reload,
/// older versions ignore it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// STOPPING=1.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// The watchdog period systemd asked for (`WATCHDOG_USEC`), when it is meant for this
/// process (`WATCHDOG_PID` unset or ours, as `sd_watchdog_enabled` reads it).
pub fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// The STATUS= line: "3 queued, 2 running", then the mode when it is not the usual one
/// and the disk use when the monitor has read it ("…, paused, disk 91%").
pub fn status_line(queued: usize, running: usize, status: &DaemonStatus) -> String {
    let mut line = format!("{queued} queued, {running} running");
    match (status.mode(), status.is_drained()) {
        (OperatorMode::Running, _) => {}
        (OperatorMode::Paused, _) => line.push_str(", paused"),
        (OperatorMode::Draining { .. }, true) => line.push_str(", drained"),
        (OperatorMode::Draining { exit: true }, false) => line.push_str(", draining (exit)"),
        (OperatorMode::Draining { exit: false }, false) => line.push_str(", draining"),
    }
    if let Some(disk) = status.disk() {
        line.push_str(&format!(", disk {}%", disk.used_percent));
        if disk.holding {
            line.push_str(" (claiming held)");
        }
    }
    line
}

/// The STATUS= line for this daemon now.
pub fn current_status(queue: &JobQueue, status: &DaemonStatus) -> String {
    let queued = queue.queued();
    let running = queue.known().saturating_sub(queued);
    status_line(queued, running, status)
}

/// Sends STATUS= every `interval`, and WATCHDOG=1 at half the watchdog period while
/// both loops are alive. Runs until aborted.
pub fn spawn(
    queue: Arc<JobQueue>,
    status: Arc<DaemonStatus>,
    liveness: Arc<Liveness>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    let watchdog = watchdog_period();
    let ping_every = watchdog.map_or(interval, |period| (period / 2).min(interval));
    // A loop is alive when it turned within the watchdog period (and never less than
    // 2 s: the intake's loop turns at least every 500 ms, longer during a big scan).
    let fresh = watchdog.map_or(Duration::MAX, |period| period.max(Duration::from_secs(2)));
    tokio::spawn(async move {
        if !enabled() {
            return;
        }
        let mut ticker = tokio::time::interval(ping_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_status = String::new();
        let mut stale_logged = false;
        loop {
            ticker.tick().await;
            let line = current_status(&queue, &status);
            if line != last_status {
                send(&[NotifyState::Status(&line)]);
                last_status = line;
            }
            if watchdog.is_none() {
                continue;
            }
            let stale = liveness.stale(fresh);
            if stale.is_empty() {
                send(&[NotifyState::Watchdog]);
                stale_logged = false;
            } else if !stale_logged {
                tracing::error!(
                    loops = %stale.join(", "),
                    "A daemon loop has stopped turning; no longer pinging the systemd watchdog."
                );
                stale_logged = true;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::DiskReading;

    #[test]
    fn status_line_names_the_mode_and_the_disk() {
        let status = DaemonStatus::default();
        assert_eq!(status_line(3, 2, &status), "3 queued, 2 running");
        status.set_mode(OperatorMode::Paused);
        status.set_disk(DiskReading {
            used_percent: 91,
            inodes_used_percent: 4,
            holding: false,
        });
        assert_eq!(
            status_line(3, 2, &status),
            "3 queued, 2 running, paused, disk 91%"
        );
        status.set_mode(OperatorMode::Draining { exit: true });
        assert_eq!(
            status_line(0, 1, &status),
            "0 queued, 1 running, draining (exit), disk 91%"
        );
        status.set_drained(true);
        assert_eq!(
            status_line(0, 0, &status),
            "0 queued, 0 running, drained, disk 91%"
        );
    }

    #[test]
    fn a_loop_that_stops_stamping_goes_stale() {
        let liveness = Liveness::default();
        liveness.intake.stamp();
        liveness.dispatcher.stamp();
        assert!(liveness.stale(Duration::from_secs(5)).is_empty());
        std::thread::sleep(Duration::from_millis(300));
        liveness.intake.stamp();
        assert_eq!(
            liveness.stale(Duration::from_millis(150)),
            vec!["dispatcher"]
        );
    }
}
