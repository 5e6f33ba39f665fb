//! `chute render KIND --plan FILE` (hidden): the render child process. Renders one
//! video, scene card or thumbnail from a JSON plan and reports on stderr in JSON lines;
//! the daemon starts it so that a decoder crashing on a hostile file fails one job, not
//! the daemon.

use std::path::PathBuf;

use super::{Cli, CliError};
use crate::video::render::child::RenderKind;

/// Arguments of `chute render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// What the plan describes.
    #[arg(value_enum)]
    pub kind: RenderKind,
    /// The plan (JSON).
    #[arg(long)]
    pub plan: PathBuf,
    /// Address-space limit for this process, in bytes.
    #[arg(long, default_value_t = 4 << 30)]
    pub max_memory: u64,
}

/// Runs the render; the outcome is on stderr, the exit code says success (0) or not (1).
pub fn execute(_cli: &Cli, args: &RenderArgs) -> Result<(), CliError> {
    match crate::video::render::entry::run_child(args.kind, &args.plan, args.max_memory) {
        0 => Ok(()),
        _ => Err(CliError::failure("")),
    }
}
