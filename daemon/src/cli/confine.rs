//! `chute confine [LIMITS] -- PROGRAM ARGS…` (hidden): the trampoline every child that
//! touches untrusted bytes starts through (see [`crate::confine`]). It confines itself
//! — resource limits, no_new_privs, Landlock, seccomp — and then becomes PROGRAM.
//! `--probe` prints what the kernel granted (JSON) instead; `--prepare-gstreamer`
//! brings the GStreamer registry up to date.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use super::{Cli, CliError};
use crate::confine::{self, Limits};

/// Arguments of `chute confine`.
#[derive(Debug, clap::Args)]
pub struct ConfineArgs {
    /// CPU seconds (RLIMIT_CPU).
    #[arg(long)]
    pub cpu_seconds: u64,
    /// Largest file the program may write, in bytes (RLIMIT_FSIZE).
    #[arg(long)]
    pub file_size: u64,
    /// Open files (RLIMIT_NOFILE).
    #[arg(long, default_value_t = confine::OPEN_FILES)]
    pub open_files: u64,
    /// Address-space limit in bytes (RLIMIT_AS).
    #[arg(long)]
    pub memory: Option<u64>,
    /// A folder (or file) the program may write beneath; nothing else is writable.
    #[arg(long = "write", value_name = "PATH")]
    pub writable: Vec<PathBuf>,
    /// Print what confinement the kernel granted (JSON) and exit.
    #[arg(long, conflicts_with_all = ["prepare_gstreamer", "command"])]
    pub probe: bool,
    /// Bring the GStreamer plugin registry ($GST_REGISTRY) up to date and exit.
    #[arg(long, conflicts_with = "command")]
    pub prepare_gstreamer: bool,
    /// The program and its arguments.
    #[arg(last = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

/// Confines this process, then runs the program in its place.
pub fn execute(_cli: &Cli, args: &ConfineArgs) -> Result<(), CliError> {
    let limits = Limits {
        cpu_seconds: args.cpu_seconds,
        file_size: args.file_size,
        open_files: args.open_files,
        memory: args.memory,
        writable: args.writable.clone(),
    };
    let achieved = confine::enforce(&limits).map_err(|error| CliError {
        message: format!("confine: {error}"),
        code: confine::EXIT_NOT_CONFINED,
    })?;
    if args.probe {
        let text = serde_json::to_string(&achieved).map_err(CliError::failure)?;
        println!("{text}");
        return Ok(());
    }
    if args.prepare_gstreamer {
        return gstreamer::init().map_err(|error| CliError::failure(format!("GStreamer: {error}")));
    }
    let Some((program, arguments)) = args.command.split_first() else {
        return Err(CliError::usage(
            "confine: name the program to run after `--`",
        ));
    };
    let error = std::process::Command::new(program).args(arguments).exec();
    Err(CliError {
        message: format!("confine: cannot run {}: {error}", program.to_string_lossy()),
        code: if error.kind() == std::io::ErrorKind::NotFound {
            confine::EXIT_NOT_FOUND
        } else {
            confine::EXIT_CANNOT_RUN
        },
    })
}
