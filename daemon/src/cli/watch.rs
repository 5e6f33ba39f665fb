//! `chute watch [ID]`: the live jobs, their progress, elapsed time and ETA, and how
//! each one ends, from the jobs' records and events. Piped, it prints a line per
//! change; on a terminal, a view redrawn in place ([`screen`]).

mod screen;
mod track;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use chrono::Utc;
use uuid::Uuid;

use self::screen::{Lines, Screen, Terminal};
use self::track::{JobView, Tracker};
use super::{Cli, CliError, lookup};
use crate::catalog::{self, Found};
use crate::job;
use crate::spool::Spool;

/// How often the spool is looked at.
const POLL: Duration = Duration::from_millis(250);
/// How long a followed job may be missing from jobs/ with no result folder found before
/// it is reported gone (a result folder appears before the job folder leaves).
const GONE_AFTER: Duration = Duration::from_secs(5);

/// Arguments of `chute watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Follow only this job (id, prefix, or short id) and exit when it ends.
    pub id: Option<String>,
}

/// Shows the live jobs until interrupted (or until the one job followed ends: exit 0
/// when it was delivered, 1 otherwise).
pub fn execute(cli: &Cli, args: &WatchArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    super::warn_if_no_daemon(&config, &spool);
    let only = match &args.id {
        Some(query) => Some(catalog::find(&spool, query).map_err(CliError::usage)?),
        None => None,
    };
    let stdout = std::io::stdout();
    let say_idle = only.is_none();
    let mut screen: Box<dyn Screen> = if stdout.is_terminal() {
        Box::new(Terminal::new(stdout.lock(), say_idle, terminal_size))
    } else {
        Box::new(Lines::new(stdout.lock(), say_idle))
    };
    let mut tracker = Tracker::default();
    if let Some(details) = &only {
        if let Found::Ended(_) = catalog::locate(&spool, details) {
            let view = tracker.ended(details);
            screen
                .show(std::slice::from_ref(&view), &[])
                .map_err(CliError::failure)?;
            return outcome(&view);
        }
        tracker.follow(details);
    }
    let only = only.map(|details| details.summary.id);
    let mut missing_since: HashMap<Uuid, Instant> = HashMap::new();
    loop {
        let now = Utc::now();
        let live: Vec<_> = job::list_job_dirs(&spool.jobs())
            .map_err(CliError::failure)?
            .into_iter()
            .filter(|dir| only.is_none_or(|id| id == dir.id))
            .filter_map(|dir| catalog::live_details(&spool, &dir))
            .collect();
        let live_ids: Vec<Uuid> = live.iter().map(|details| details.summary.id).collect();
        let mut ended = Vec::new();
        for (id, route) in tracker.missing(&live_ids) {
            if let Some(view) = ended_view(&spool, &mut tracker, &mut missing_since, id, &route) {
                ended.push(view);
            }
        }
        let live: Vec<JobView> = live
            .iter()
            .map(|details| tracker.live(details, now))
            .collect();
        screen.show(&ended, &live).map_err(CliError::failure)?;
        if let Some(view) = ended.iter().find(|view| Some(view.id) == only) {
            return outcome(view);
        }
        std::thread::sleep(POLL);
    }
}

/// The view of a followed job that is no longer live in jobs/: from its result folder,
/// or gone once it has been missing for [`GONE_AFTER`]; `None` while neither.
fn ended_view(
    spool: &Spool,
    tracker: &mut Tracker,
    missing_since: &mut HashMap<Uuid, Instant>,
    id: Uuid,
    route: &str,
) -> Option<JobView> {
    if let Some(details) = lookup::ended_job(spool, route, id) {
        missing_since.remove(&id);
        return Some(tracker.ended(&details));
    }
    if spool.job_dir(id).exists() {
        // Still there, its records unreadable for a moment (being rewritten, retired).
        missing_since.remove(&id);
        return None;
    }
    let since = *missing_since.entry(id).or_insert_with(Instant::now);
    if since.elapsed() < GONE_AFTER {
        return None;
    }
    missing_since.remove(&id);
    tracker.gone(id)
}

/// The exit of `chute watch ID`: 0 when the job was delivered, 1 otherwise.
fn outcome(view: &JobView) -> Result<(), CliError> {
    if view.delivered() {
        Ok(())
    } else {
        Err(CliError::failure(""))
    }
}

/// The terminal's rows and columns (24 × 80 when it cannot be told).
fn terminal_size() -> (u16, u16) {
    console::Term::stdout().size_checked().unwrap_or((24, 80))
}
