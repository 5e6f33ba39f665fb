//! Housekeeping: the daemon cleans up after itself, so no operator writes a cron job.
//!
//! - `monitor.rs` — the disk monitor's watermarks (warn, hold claiming, resume) and
//!   what the emergency cleanup may remove, in order.
//! - `plan.rs` — the `[retention]` rules: what would be removed now, and why.
//! - `cache.rs` — the provider result cache's entries as retention sees them.
//! - `components.rs` — compiled plugins outside the spool (`plugins.compile_cache`).
//! - `live.rs` — the results live jobs still point at (dedupe originals).
//! - `sweep.rs` — removing safely beside other daemons: claim by rename, then delete.
//!
//! [`spawn`] runs both inside the daemon: the disk monitor every `disk.interval`, and
//! retention every `retention.interval` (the first time right after the start). `chute
//! gc` plans and sweeps with the very same code ([`plan::retention`], [`apply`]).
//! The ledger of paid calls has its own pruning (`Budget::prune_ledger`) and is left
//! to it.

pub mod cache;
pub mod components;
pub mod live;
pub mod monitor;
pub mod plan;
pub mod sweep;
#[cfg(test)]
mod test_spool;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use self::monitor::{Change, Watermarks};
use self::plan::Candidate;
use self::sweep::{Outcome, Sweeper};
use crate::config::Config;
use crate::spool::Spool;
use crate::spool::disk::{self, DiskUsage};
use crate::status::{DaemonStatus, DiskReading};

/// Applies `plan` (from [`plan::retention`]): removes each candidate, reporting each
/// outcome to `report`, then tidies the dedupe index. Returns how many index entries
/// went.
pub fn apply(
    spool: &Spool,
    config: &Config,
    plan: &[Candidate],
    mut report: impl FnMut(&Candidate, &Outcome),
) -> usize {
    let mut sweeper = Sweeper::new(spool);
    for candidate in plan {
        let outcome = sweeper.remove(candidate);
        report(candidate, &outcome);
    }
    sweeper.finish(Some(config.dedupe.window))
}

/// Starts the disk monitor and the retention schedule on the daemon's runtime, each on
/// its own rhythm (a long retention round never delays a disk reading; removals of
/// both are claimed, so they never collide), until `stop` fires. Each round reads the
/// configuration `config` holds then, so a reload's new ages and watermarks apply from
/// the next round (the two rhythms keep the values they started with).
pub fn spawn(
    spool: Spool,
    config: watch::Receiver<Arc<Config>>,
    status: Arc<DaemonStatus>,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let work = Arc::new(Housework {
        spool,
        config,
        status,
        monitor: Mutex::new(MonitorState::default()),
    });
    let config = work.config();
    vec![
        tokio::spawn(every(
            config.disk.interval,
            work.clone(),
            Housework::disk_round,
            stop.clone(),
        )),
        tokio::spawn(every(
            config.retention.interval,
            work,
            Housework::retention_round,
            stop,
        )),
    ]
}

/// Runs `round` off the runtime's workers now and then every `period`, until `stop`.
async fn every(
    period: std::time::Duration,
    work: Arc<Housework>,
    round: fn(&Housework),
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let work = work.clone();
        if let Err(error) = tokio::task::spawn_blocking(move || round(&work)).await {
            tracing::error!(%error, "A housekeeping round failed; the next one runs on schedule.");
        }
    }
}

#[derive(Debug, Default)]
struct MonitorState {
    marks: Watermarks,
    /// The cleanup ran out of things to remove during this hold (logged once).
    exhausted: bool,
    /// The last reading failed (logged once).
    unreadable: bool,
}

struct Housework {
    spool: Spool,
    config: watch::Receiver<Arc<Config>>,
    status: Arc<DaemonStatus>,
    monitor: Mutex<MonitorState>,
}

impl Housework {
    /// The configuration in force: the one place it is read, so a reload can take its
    /// place here.
    fn config(&self) -> Arc<Config> {
        self.config.borrow().clone()
    }

    fn retention_round(&self) {
        let config = self.config();
        let plan = plan::retention(&self.spool, &config, SystemTime::now());
        let (mut count, mut freed) = (0, 0);
        let index = apply(&self.spool, &config, &plan, |candidate, outcome| {
            if let Outcome::Removed(size) = outcome {
                count += 1;
                freed += size;
            }
            log_outcome(candidate, outcome);
        });
        if count > 0 || index > 0 {
            tracing::info!(
                removed = count,
                freed_bytes = freed,
                index_entries = index,
                "Retention done."
            );
        }
    }

    fn disk_round(&self) {
        let config = self.config();
        let mut state = self
            .monitor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(usage) = self.measure(&mut state) else {
            return;
        };
        self.observe(&config, &mut state, &usage);
        if state.marks.needs_cleanup(&config.disk, &usage) {
            let after = self.emergency_cleanup(&config, &mut state, usage);
            self.observe(&config, &mut state, &after);
        }
    }

    fn measure(&self, state: &mut MonitorState) -> Option<DiskUsage> {
        match disk::usage(self.spool.root()) {
            Ok(usage) => {
                state.unreadable = false;
                Some(usage)
            }
            Err(error) => {
                if !state.unreadable {
                    tracing::warn!(spool = %self.spool.root().display(), %error, "Cannot measure the spool's filesystem; the disk watermarks wait for a reading.");
                }
                state.unreadable = true;
                None
            }
        }
    }

    /// Takes in a reading: logs what changed and publishes it.
    fn observe(&self, config: &Config, state: &mut MonitorState, usage: &DiskUsage) {
        let disk = &config.disk;
        for change in state.marks.observe(disk, usage) {
            let (space, inodes) = (usage.used_percent, usage.inodes_used_percent);
            match change {
                Change::WarnRaised => tracing::warn!(
                    space_percent = space,
                    inodes_percent = inodes,
                    "The spool's filesystem reached disk.warn_percent = {}.",
                    disk.warn_percent
                ),
                Change::WarnCleared => tracing::info!(
                    space_percent = space,
                    inodes_percent = inodes,
                    "The spool's filesystem is back below disk.warn_percent = {}.",
                    disk.warn_percent
                ),
                Change::HoldStarted => tracing::warn!(
                    space_percent = space,
                    inodes_percent = inodes,
                    emergency_cleanup = disk.emergency_cleanup,
                    "The spool's filesystem reached disk.pause_percent = {}: claiming is held until it is below disk.resume_percent = {}; new inputs wait in the inbox.",
                    disk.pause_percent,
                    disk.resume_percent
                ),
                Change::HoldEnded => {
                    state.exhausted = false;
                    tracing::info!(
                        space_percent = space,
                        inodes_percent = inodes,
                        "The spool's filesystem is below disk.resume_percent = {}: claiming resumes.",
                        disk.resume_percent
                    );
                }
            }
        }
        self.status.set_disk(DiskReading {
            used_percent: usage.used_percent,
            inodes_used_percent: usage.inodes_used_percent,
            holding: state.marks.holding,
        });
    }

    /// Removes the oldest finished material until the level is below
    /// `disk.resume_percent` or nothing more may go; returns the last reading.
    fn emergency_cleanup(
        &self,
        config: &Config,
        state: &mut MonitorState,
        mut usage: DiskUsage,
    ) -> DiskUsage {
        let resume = u64::from(config.disk.resume_percent);
        let plan = monitor::emergency_candidates(
            &self.spool,
            &config.disk,
            usage.level(),
            SystemTime::now(),
        );
        let mut sweeper = Sweeper::new(&self.spool);
        for candidate in &plan {
            if usage.level() < resume {
                break;
            }
            let outcome = sweeper.remove(candidate);
            log_outcome(candidate, &outcome);
            if let Some(now) = self.measure(state) {
                usage = now;
            }
        }
        sweeper.finish(None);
        if usage.level() >= resume && !state.exhausted {
            state.exhausted = true;
            tracing::warn!(
                space_percent = usage.used_percent,
                inodes_percent = usage.inodes_used_percent,
                "The emergency cleanup found nothing more it may remove (results younger than disk.cleanup_min_age = {} and jobs stay); claiming stays held until space is freed.",
                plan::short_duration(config.disk.cleanup_min_age)
            );
        }
        usage
    }
}

/// Logs what became of one candidate.
fn log_outcome(candidate: &Candidate, outcome: &Outcome) {
    let path = candidate.shown.display();
    let kind = candidate.kind.name();
    match outcome {
        Outcome::Removed(size) => tracing::info!(
            kind,
            %path,
            size,
            rule = %candidate.rule,
            "Housekeeping removed {kind} {path}."
        ),
        Outcome::Gone => tracing::debug!(kind, %path, "Already removed by another process."),
        Outcome::InUse => tracing::info!(
            kind,
            %path,
            "Kept: a live job is a duplicate of this result."
        ),
        Outcome::Failed(error) => {
            tracing::warn!(kind, %path, %error, "Housekeeping could not remove it.")
        }
    }
}
