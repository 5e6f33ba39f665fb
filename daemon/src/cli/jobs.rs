//! `chute jobs [--state S] [--json]`: list jobs.

use super::{Cli, CliError, text};
use crate::catalog;
use crate::job::JobStatus;

/// Arguments of `chute jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    /// Only jobs in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// Print a JSON array (stable format, see README.md).
    #[arg(long)]
    pub json: bool,
}

/// Job states as the command line spells them.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StateFilter {
    /// Claimed, waiting for a slot.
    Queued,
    /// Being processed.
    Running,
    /// Running, with a cancel requested.
    Cancelling,
    /// Delivered.
    Done,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

impl StateFilter {
    fn status(self) -> JobStatus {
        match self {
            StateFilter::Queued => JobStatus::Queued,
            StateFilter::Running => JobStatus::Running,
            StateFilter::Cancelling => JobStatus::Cancelling,
            StateFilter::Done => JobStatus::Done,
            StateFilter::Failed => JobStatus::Failed,
            StateFilter::Cancelled => JobStatus::Cancelled,
        }
    }
}

/// Prints the jobs as a table or JSON.
pub fn execute(cli: &Cli, args: &JobsArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    super::warn_if_no_daemon(&config, &spool);
    let (mode, daemons) = super::controls::spool_mode(&config, &spool);
    let mut jobs: Vec<_> = catalog::list(&spool)
        .map_err(CliError::failure)?
        .into_iter()
        .map(|details| details.summary)
        .collect();
    if let Some(filter) = args.state {
        jobs.retain(|job| job.state == filter.status());
    }
    if args.json {
        // Each job carries the spool's daemon mode (`running`, `paused`, `draining`,
        // `drained`, `mixed`, `stopped`): whether queued jobs can start.
        let jobs: Vec<serde_json::Value> = jobs
            .iter()
            .map(|job| {
                let mut value = serde_json::to_value(job).unwrap_or_default();
                if let Some(fields) = value.as_object_mut() {
                    fields.insert("daemon_mode".into(), mode.clone().into());
                }
                value
            })
            .collect();
        let text = text::json_pretty(&jobs).map_err(CliError::failure)?;
        println!("{text}");
        return Ok(());
    }
    if !matches!(mode.as_str(), "running" | "stopped") {
        for daemon in &daemons {
            println!(
                "daemon {} pid {}: {}",
                text::escape(&daemon.owner.host),
                daemon.owner.pid,
                super::controls::describe(daemon)
            );
        }
    }
    if jobs.is_empty() {
        println!("no jobs");
        return Ok(());
    }
    println!(
        "{:<8}  {:<9}  {:<12}  {:<12}  {:>4}  {:<12}  INPUT",
        "ID", "STATE", "ROUTE", "STAGE", "PCT", "NODE"
    );
    for job in jobs {
        let original = job
            .duplicate_of
            .as_ref()
            .map(|original| format!(" — {}", text::duplicate_of(original)))
            .unwrap_or_default();
        let waiting = job
            .waiting
            .as_ref()
            .map(|waiting| format!("  ({})", text::escape(waiting)))
            .unwrap_or_default();
        println!(
            "{:<8}  {:<9}  {:<12}  {:<12}  {:>3}%  {:<12}  {}{original}{waiting}",
            job.short_id,
            text::state(&job),
            text::escape(&job.route),
            text::escape(job.stage.as_deref().unwrap_or("-")),
            job.percent,
            text::escape(&job.node),
            text::escape(&job.input)
        );
    }
    Ok(())
}
