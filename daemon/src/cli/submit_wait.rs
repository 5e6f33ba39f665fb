//! `chute submit --wait`: follows every submitted input to its end, together.
//!
//! The job that claimed an input is found ([`super::lookup`]) in jobs/ while it runs
//! (then followed by its id) or in outbox/ / failed/ once it ended. Each input is
//! reported on stdout as it ends, in the order they end; its live state (waiting to be
//! claimed, queued, running a stage) goes to stderr as it changes.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::lookup::{self, Claim, Submitted};
use super::{CliError, text};
use crate::catalog;
use crate::job::{JobDir, JobStatus};
use crate::spool::Spool;

/// How often the spool is looked at.
const POLL: Duration = Duration::from_millis(200);
/// The same percent is not repeated on stderr more often than this.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Where a followed input stands.
enum Seen {
    /// Not claimed yet (or between two folders while it is being delivered).
    Waiting,
    /// Claimed, running or queued: a one-line description.
    Live(Uuid, String),
    /// Ended, with what its result.json or error.json says.
    Ended(Box<catalog::JobDetails>),
}

/// One input being followed.
struct Follow {
    input: Submitted,
    job: Option<Uuid>,
    reported: String,
    reported_at: Instant,
}

impl Follow {
    fn display_name(&self) -> String {
        self.input.display_name()
    }

    /// Prints the live state on stderr when it changed (a new percent of the same
    /// stage at most every few seconds).
    fn report(&mut self, now: String) {
        let same_step = now.split(" (").next() == self.reported.split(" (").next();
        if now == self.reported || (same_step && self.reported_at.elapsed() < PROGRESS_EVERY) {
            return;
        }
        eprintln!("chute: {}: {now}", text::escape(&self.display_name()));
        self.reported = now;
        self.reported_at = Instant::now();
    }
}

/// Follows `submitted` until each has ended, printing `<job-id> <state> <location>`
/// per input as it ends. Fails (exit 1) when any job did not end delivered (done or a
/// duplicate), or when `timeout` passes first (the inputs still being processed are
/// named on stderr).
pub fn follow(
    spool: &Spool,
    submitted: Vec<Submitted>,
    timeout: Option<Duration>,
) -> Result<(), CliError> {
    let started = Instant::now();
    let mut pending: Vec<Follow> = submitted
        .into_iter()
        .map(|input| Follow {
            input,
            job: None,
            reported: String::new(),
            reported_at: Instant::now(),
        })
        .collect();
    let mut not_done = 0usize;
    loop {
        let mut still = Vec::with_capacity(pending.len());
        for mut follow in pending {
            match look(spool, &mut follow) {
                Seen::Ended(details) => {
                    let summary = &details.summary;
                    println!(
                        "{} {} {}",
                        summary.id,
                        text::state(summary),
                        text::escape(&summary.location)
                    );
                    if let Some(original) = &summary.duplicate_of {
                        eprintln!(
                            "chute: {}: {}; not processed again",
                            text::escape(&follow.display_name()),
                            text::duplicate_of(original)
                        );
                    }
                    warn_about_skipped_stages(&details);
                    not_done += usize::from(summary.state != JobStatus::Done);
                }
                Seen::Live(id, now) => {
                    follow.job = Some(id);
                    follow.report(now);
                    still.push(follow);
                }
                Seen::Waiting => {
                    if follow.job.is_none() {
                        follow.report("waiting to be claimed".into());
                    }
                    still.push(follow);
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if let Some(timeout) = timeout
            && started.elapsed() >= timeout
        {
            for follow in &pending {
                eprintln!(
                    "chute: {}: still {} after {}",
                    text::escape(&follow.display_name()),
                    follow.reported,
                    humantime::format_duration(timeout)
                );
            }
            return Err(CliError::failure(format!(
                "timed out: {} of the submitted inputs did not end in time (`chute jobs` follows them)",
                pending.len()
            )));
        }
        std::thread::sleep(POLL);
    }
    if not_done > 0 {
        Err(CliError::failure(""))
    } else {
        Ok(())
    }
}

/// Where `follow` stands now.
fn look(spool: &Spool, follow: &mut Follow) -> Seen {
    let claim = match follow.job {
        Some(id) => {
            let dir = JobDir::new(id, spool.job_dir(id));
            match catalog::live_details(spool, &dir) {
                Some(details) => return live(&details),
                None => lookup::ended_job(spool, &follow.input.route, id)
                    .map(|details| Claim::Ended(Box::new(details))),
            }
        }
        // Only job.json is read to find the claim; the details come for that one job.
        None => lookup::first_claim(spool, &follow.input),
    };
    match claim {
        Some(Claim::Live(dir, _)) => {
            catalog::live_details(spool, &dir).map_or(Seen::Waiting, |details| live(&details))
        }
        Some(Claim::Ended(details)) => Seen::Ended(details),
        None => Seen::Waiting,
    }
}

/// A live job as `submit --wait` shows it.
fn live(details: &catalog::JobDetails) -> Seen {
    let summary = &details.summary;
    let now = match (summary.state, &summary.stage) {
        (JobStatus::Running, Some(stage)) => {
            format!(
                "running {} ({} % of the job)",
                text::escape(stage),
                summary.percent
            )
        }
        (state, _) => state.name().to_owned(),
    };
    Seen::Live(summary.id, now)
}

/// Tells the user on stderr which optional stages of a delivered job failed, and what
/// finished stages noted about their output (a warning with a cause).
fn warn_about_skipped_stages(details: &catalog::JobDetails) {
    for warning in details.warnings() {
        let (stage, reason, hint) = (
            text::escape(&warning.stage),
            text::escape(&warning.reason),
            text::escape(&warning.hint),
        );
        if warning.cause.is_empty() {
            eprintln!(
                "chute: warning: {stage} failed, so it was delivered without it: {reason} ({hint})"
            );
        } else {
            eprintln!("chute: warning: {stage}: {reason} ({hint})");
        }
    }
}
