//! The daemon following the operator's controls (`controls/`, see [`super::controls`]):
//! read at start before the first claim, then every [`POLL`]; a change sets the mode in
//! [`DaemonStatus`], is logged once, and is acknowledged at once in the daemon's record
//! in `daemons/` (its mode and the instruction's time, which `chute pause` waits for).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::controls::{self, Control};
use crate::queue::JobQueue;
use crate::spool::owner::{self, DaemonRecord};
use crate::spool::{Spool, fsutil};
use crate::status::{DaemonStatus, OperatorMode};

/// How often the control files are read.
const POLL: Duration = Duration::from_millis(300);

/// This daemon's record and what goes into it.
#[derive(Clone)]
pub(super) struct Operator {
    pub spool: Spool,
    pub status: Arc<DaemonStatus>,
    pub queue: Arc<JobQueue>,
    /// The record's fixed part (who, since when, which version).
    pub record: DaemonRecord,
    /// When the instruction applied now was given (`None`: no control file).
    pub applied: Arc<std::sync::Mutex<Option<DateTime<Utc>>>>,
    /// The unreadable control files last logged (each change is logged once).
    pub problems: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Operator {
    fn applied(&self) -> Option<DateTime<Utc>> {
        self.applied
            .lock()
            .map(|applied| *applied)
            .unwrap_or_default()
    }

    /// Reads the controls and applies them; whether anything changed (the mode or the
    /// instruction).
    pub fn apply(&self) -> bool {
        let (control, problems) = controls::effective(&self.spool, &self.record.owner.host);
        if let Ok(mut logged) = self.problems.lock()
            && *logged != problems
        {
            for problem in &problems {
                tracing::warn!(%problem, "Ignoring an unreadable control file (rewrite it with chute pause, resume or drain).");
            }
            *logged = problems;
        }
        let mode = control
            .as_ref()
            .map_or(OperatorMode::Running, |control| control.mode);
        let set_at = control.as_ref().map(|control| control.set_at);
        let changed_mode = mode != self.status.mode();
        if changed_mode {
            self.status.set_mode(mode);
            let by = control
                .as_ref()
                .map_or("", |control| control.set_by.as_str());
            match mode {
                OperatorMode::Running => {
                    tracing::info!(by, "Resumed: claiming and starting jobs as usual.")
                }
                OperatorMode::Paused => tracing::info!(
                    by,
                    "Paused: nothing new is claimed; queued and running jobs go on."
                ),
                OperatorMode::Draining { exit } => tracing::info!(
                    by,
                    exit,
                    "Draining: nothing new is claimed or started; running jobs finish{}.",
                    if exit { ", then the daemon stops" } else { "" }
                ),
            }
        }
        let changed = changed_mode || set_at != self.applied();
        if let Ok(mut applied) = self.applied.lock() {
            *applied = set_at;
        }
        changed
    }

    /// The record as it should read now.
    pub fn record_now(&self) -> DaemonRecord {
        let queued = self.queue.queued();
        DaemonRecord {
            mode: self.status.mode_name().to_owned(),
            control_set_at: self.applied(),
            queued,
            running: self.queue.known().saturating_sub(queued),
            ..self.record.clone()
        }
    }

    /// Follows the controls until aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(POLL);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut drained = self.status.is_drained();
            loop {
                ticker.tick().await;
                let this = self.clone();
                let Ok(changed) = tokio::task::spawn_blocking(move || this.apply()).await else {
                    continue;
                };
                let drained_now = self.status.is_drained();
                if changed || drained_now != drained {
                    drained = drained_now;
                    self.write_record().await;
                    super::notify::send(&[sd_notify::NotifyState::Status(
                        &super::notify::current_status(&self.queue, &self.status),
                    )]);
                }
            }
        })
    }

    /// Writes the record now (off the runtime's workers).
    pub async fn write_record(&self) {
        let record = self.record_now();
        let daemons = self.spool.daemons();
        let _ = tokio::task::spawn_blocking(move || owner::write_daemon_record(&daemons, &record))
            .await;
    }

    /// After `drain --exit` finished: the exit part is cleared (this host runs as usual
    /// at its next start), written as the newest instruction for this host.
    pub fn clear_drain_exit(&self) {
        let control = Control::now(
            OperatorMode::Running,
            format!(
                "chute run (pid {}) after drain --exit finished",
                self.record.owner.pid
            ),
        );
        let path = self.spool.host_control(&self.record.owner.host);
        match controls::write(&path, &control) {
            Ok(()) => tracing::info!(
                "Drained; stopping as `chute drain --exit` asked. The next start claims again."
            ),
            Err(error) => tracing::error!(
                path = %path.display(),
                %error,
                "Drained and stopping, but cannot clear the drain: the next start drains again until `chute resume`."
            ),
        }
    }

    /// Refreshes the record (the heartbeat peers on other hosts read) and the key
    /// health beside it, every `interval`, until aborted.
    pub fn spawn_heartbeat(
        self,
        providers: Arc<crate::provider::Providers>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                ticker.tick().await;
                let daemons = self.spool.daemons();
                let health_path = self.spool.key_health(&self.record.owner);
                let record = self.record_now();
                // Key health (by fingerprint) for `chute doctor`, next to the record.
                let health = providers.key_health();
                let _ = tokio::task::spawn_blocking(move || {
                    if !health.is_empty() {
                        let _ = fsutil::write_json_atomic(&health_path, &health, false);
                    }
                    owner::write_daemon_record(&daemons, &record)
                })
                .await;
            }
        })
    }
}
