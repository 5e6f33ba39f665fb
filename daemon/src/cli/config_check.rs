//! `chute config check [FILE]`: validate a configuration file.

use std::path::PathBuf;

use super::{Cli, CliError};
use crate::config::Config;

/// Arguments of `chute config check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The file to check (default: --config / CHUTE_CONFIG).
    pub file: Option<PathBuf>,
}

/// Parses and validates the file; prints the effective routes on success.
pub fn execute(cli: &Cli, args: &CheckArgs) -> Result<(), CliError> {
    let Some(path) = args.file.as_ref().or(cli.config.as_ref()) else {
        return Err(CliError::usage("name a file: chute config check FILE"));
    };
    let config = Config::load(path)?;
    println!("{}: ok", path.display());
    for route in config.effective_routes() {
        println!("  route {:<16} -> {}", route.name, route.pipeline.name());
    }
    Ok(())
}
