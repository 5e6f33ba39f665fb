//! `chute retry ID [--from STAGE]`: run a failed or cancelled job again.

use super::{Cli, CliError};
use crate::control::{self, ControlError};

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
    match control::retry(&spool, &args.id, args.from.as_deref()) {
        Ok(location) => {
            println!(
                "queued again: {location} (a daemon on this host takes it at once; daemons on other hosts at their next rescan)"
            )
        }
        Err(error @ (ControlError::Find(_) | ControlError::UnknownStage { .. })) => {
            return Err(CliError::usage(error));
        }
        Err(error) => return Err(CliError::failure(error)),
    }
    Ok(())
}
