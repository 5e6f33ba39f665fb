//! `chute cancel ID`: cancel a queued or running job.

use super::{Cli, CliError, text};
use crate::control::{self, CancelOutcome, ControlError};

/// Arguments of `chute cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// Job id, unique prefix, or short id.
    pub id: String,
}

/// Cancels the job and says what happened.
pub fn execute(cli: &Cli, args: &CancelArgs) -> Result<(), CliError> {
    let (config, spool) = cli.spool()?;
    match control::cancel(&spool, &args.id, &config) {
        Ok(CancelOutcome::Finished(location)) => println!("cancelled: {}", text::escape(&location)),
        Ok(CancelOutcome::Requested) => {
            println!(
                "cancel requested: the daemon stops the job within a few seconds (`chute show` says `cancelling` until then)"
            )
        }
        Err(error @ ControlError::Find(_)) => return Err(CliError::usage(error)),
        Err(error) => return Err(CliError::failure(error)),
    }
    Ok(())
}
