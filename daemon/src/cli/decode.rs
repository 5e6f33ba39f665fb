//! `chute decode FILE` (hidden): the decoder child process. Writes 16 kHz mono f32le
//! samples to stdout and JSON report lines to stderr; the daemon starts it (confined,
//! with the input open as stdin: `chute decode -`) for each audio input so that a
//! crashing demuxer fails one job, not the daemon.

use std::path::PathBuf;

use super::{Cli, CliError};

/// Arguments of `chute decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Longest accepted input in seconds.
    #[arg(long, default_value_t = 4 * 3600)]
    pub max_seconds: u64,
    /// Address-space limit for this process, in bytes.
    #[arg(long, default_value_t = 4 << 30)]
    pub max_memory: u64,
    /// Read only up to the first decoded buffer and report the duration the header
    /// declares, writing nothing (the daemon sizes the decode's output with it).
    #[arg(long)]
    pub probe: bool,
    /// The file to decode; `-` decodes the file open as stdin.
    pub input: PathBuf,
}

/// Runs the decoder; the outcome is on stderr, the exit code says success (0) or not (1).
pub fn execute(_cli: &Cli, args: &DecodeArgs) -> Result<(), CliError> {
    match crate::media::child::run_child(&args.input, args.max_seconds, args.max_memory, args.probe)
    {
        0 => Ok(()),
        _ => Err(CliError::failure("")),
    }
}
