//! `chute retry ID [--from STAGE]`: run a failed or cancelled job again, or submit a
//! done job's kept input again (processed anew, not deduplicated).

use std::path::PathBuf;

use super::{Cli, CliError, text};
use crate::catalog::{self, Found, JobDetails};
use crate::control::{self, ControlError};
use crate::job::JobStatus;
use crate::pipeline::passthrough::KEPT_INPUT_DIR;
use crate::spool::{Spool, entry};

/// Arguments of `chute retry`.
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Job id, unique prefix, or short id.
    pub id: String,
    /// Run again from this stage (default: the first stage that is not done); `chute
    /// show ID` lists the job's stages, and a wrong name is answered with them.
    #[arg(long, value_name = "STAGE")]
    pub from: Option<String>,
}

/// Requeues the job.
pub fn execute(cli: &Cli, args: &RetryArgs) -> Result<(), CliError> {
    let (_, spool) = cli.spool()?;
    if let Ok(details) = catalog::find(&spool, &args.id)
        && details.summary.state == JobStatus::Done
    {
        return submit_again(&spool, &details, args.from.is_some());
    }
    match control::retry(&spool, &args.id, args.from.as_deref()) {
        Ok(location) => {
            println!(
                "queued again: {} (a daemon on this host takes it at once; daemons on other hosts at their next rescan)",
                text::escape(&location)
            )
        }
        Err(error @ (ControlError::Find(_) | ControlError::UnknownStage { .. })) => {
            return Err(CliError::usage(error));
        }
        Err(error) => return Err(CliError::failure(error)),
    }
    Ok(())
}

/// A done job runs again as a new job: its kept input goes back into its route's inbox,
/// marked to be processed again (the earlier result stays where it is).
fn submit_again(spool: &Spool, details: &JobDetails, from: bool) -> Result<(), CliError> {
    if from {
        return Err(CliError::usage(
            "a done job runs again from its start; retry it without --from",
        ));
    }
    let Found::Ended(folder) = catalog::locate(spool, details) else {
        return Err(CliError::failure(
            "the job is no longer where it was delivered",
        ));
    };
    let input = kept_input(&folder, details).ok_or_else(|| {
        CliError::failure(format!(
            "the input of job {} was not kept in {} (its route has keep_input = false); submit the file again with `chute submit --force`",
            details.summary.short_id,
            text::path(&folder)
        ))
    })?;
    let route = &details.summary.route;
    let name = super::submit::put_into_inbox(spool, route, &input, true)
        .map(|input| input.name)
        .map_err(|error| CliError::failure(format!("cannot submit it again: {error}")))?;
    println!(
        "submitted again: {} (processed anew, not as a duplicate; the earlier result stays in {})",
        text::path(&spool.relative(&spool.inbox(route).join(name))),
        text::escape(&details.summary.location)
    );
    Ok(())
}

/// Where a delivered folder keeps its input: `input/` (the route's `keep_input`), or
/// the folder itself for a passthrough result or a duplicate.
fn kept_input(folder: &std::path::Path, details: &JobDetails) -> Option<PathBuf> {
    let kept = folder.join(KEPT_INPUT_DIR);
    if let Ok(mut entries) = std::fs::read_dir(&kept)
        && let Some(Ok(entry)) = entries.next()
    {
        return Some(entry.path());
    }
    let delivered = folder.join(entry::delivered_name(std::ffi::OsStr::new(
        &details.summary.input,
    )));
    std::fs::symlink_metadata(&delivered)
        .is_ok()
        .then_some(delivered)
}
