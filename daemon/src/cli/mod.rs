//! The command line: one file per subcommand; this module parses and dispatches.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.

mod brief;
mod cancel;
mod config_check;
mod confine;
mod controls;
mod decode;
mod doctor;
mod estimate;
mod gc;
mod jobs;
mod lookup;
mod models;
mod plugins;
mod render;
mod retry;
mod run;
mod scaffold;
mod show;
mod submit;
mod submit_wait;
mod text;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{CONFIG_ENV, Config, ConfigError, SPOOL_ENV};
use crate::spool::Spool;
use crate::status::OperatorMode;

/// The environment, signals and exit codes, under every `--help`.
const ENVIRONMENT_HELP: &str = "\
Environment:
  CHUTE_SPOOL, CHUTE_CONFIG  like --spool and --config
  CHUTE_LOG                  log filter (default info; e.g. warn, chute=debug)
  CHUTE_LOG_FORMAT           text (default) or json log lines
  CHUTE_MODELS_DIR           the models folder (like models.dir)

Signals (chute run): SIGTERM or SIGINT stop claiming, let running stages reach a
checkpoint within limits.shutdown_grace, and exit 0; stopped jobs resume later.
SIGHUP re-reads the configuration (an invalid file is logged and the old one stays).

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.";

/// Exit code for runtime failures.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// chute: drop files into watched folders, get finished media.
#[derive(Debug, Parser)]
#[command(
    name = "chute",
    version,
    about,
    propagate_version = true,
    after_help = ENVIRONMENT_HELP
)]
pub struct Cli {
    /// Configuration file (TOML). Without one, built-in defaults apply.
    #[arg(
        long,
        global = true,
        env = CONFIG_ENV,
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Spool root (overrides spool.root from the configuration).
    #[arg(
        long,
        global = true,
        env = SPOOL_ENV,
        hide_env_values = true,
        value_name = "DIR"
    )]
    pub spool: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground (sd_notify under systemd).
    #[command(after_help = ENVIRONMENT_HELP)]
    Run,
    /// Put files into an inbox safely (temporary name, then rename).
    Submit(submit::SubmitArgs),
    /// List jobs.
    Jobs(jobs::JobsArgs),
    /// Show one job with its events.
    Show(show::ShowArgs),
    /// Live progress of the jobs: stage, percent, elapsed time, ETA, how each ended.
    Watch(watch::WatchArgs),
    /// Run a failed or cancelled job again.
    Retry(retry::RetryArgs),
    /// Cancel a queued or running job.
    Cancel(cancel::CancelArgs),
    /// Apply the [retention] rules now: list (--dry-run) or remove expired results,
    /// trash and caches, with the rule that matched and the space freed.
    Gc(gc::GcArgs),
    /// Stop claiming new inputs (they wait in the inbox); queued and running jobs go
    /// on. Survives a restart until `chute resume`.
    Pause(controls::ControlArgs),
    /// Claim and start jobs again after `chute pause` or `chute drain`.
    Resume(controls::ControlArgs),
    /// Claim nothing, start nothing new, let running jobs finish, then idle (or stop,
    /// with --exit). Survives a restart until `chute resume` (--exit: until it stops).
    Drain(controls::DrainArgs),
    /// The calls per provider, the expected time and the price a brief would take.
    Estimate(estimate::EstimateArgs),
    /// Brief commands: the schema, and checking a brief without running it.
    #[command(subcommand)]
    Brief(brief::BriefCommand),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check GStreamer elements, models, the spool's disk and inotify limits.
    Doctor,
    /// Model commands.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Provider plugin commands.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Decode one media file to 16 kHz mono f32le on stdout (the daemon's decoder child).
    #[command(hide = true)]
    Decode(decode::DecodeArgs),
    /// Render a video, scene card or thumbnail from a plan (the daemon's render child).
    #[command(hide = true)]
    Render(render::RenderArgs),
    /// Confine this process, then run a program in its place (how the daemon starts
    /// every child that reads untrusted bytes).
    #[command(hide = true)]
    Confine(confine::ConfineArgs),
}

/// `chute config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file; errors point at the line.
    Check(config_check::CheckArgs),
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    /// What to print.
    pub message: String,
    /// 1 or 2.
    pub code: u8,
}

impl CliError {
    /// A runtime failure (exit 1).
    pub fn failure(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: EXIT_FAILURE,
        }
    }

    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            code: EXIT_USAGE,
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(error: ConfigError) -> Self {
        CliError::usage(error)
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A command whose reader went away (`chute models list | head -1`) ends quietly,
    // as Unix tools do, instead of panicking on the failed write. Not the daemon: a
    // write to a worker that died must be an error it handles, not its death.
    if !matches!(cli.command, Command::Run) {
        sigpipe::reset();
    }
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if !error.message.is_empty() {
                eprintln!("chute: {}", error.message);
            }
            ExitCode::from(error.code)
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Brief(command) => brief::execute(&cli, command),
        Command::Estimate(args) => estimate::execute(&cli, args),
        Command::Config(ConfigCommand::Check(args)) => config_check::execute(&cli, args),
        Command::Run => run::execute(&cli),
        Command::Submit(args) => submit::execute(&cli, args),
        Command::Jobs(args) => jobs::execute(&cli, args),
        Command::Show(args) => show::execute(&cli, args),
        Command::Watch(args) => watch::execute(&cli, args),
        Command::Retry(args) => retry::execute(&cli, args),
        Command::Cancel(args) => cancel::execute(&cli, args),
        Command::Gc(args) => gc::execute(&cli, args),
        Command::Pause(target) => controls::execute(&cli, OperatorMode::Paused, target),
        Command::Resume(target) => controls::execute(&cli, OperatorMode::Running, target),
        Command::Drain(args) => controls::execute(
            &cli,
            OperatorMode::Draining { exit: args.exit },
            &args.target,
        ),
        Command::Decode(args) => decode::execute(&cli, args),
        Command::Render(args) => render::execute(&cli, args),
        Command::Confine(args) => confine::execute(&cli, args),
        Command::Doctor => doctor::execute(&cli),
        Command::Models(command) => models::execute(&cli, command),
        Command::Plugins(command) => plugins::execute(&cli, command),
    }
}

impl Cli {
    /// The configuration: the file if given, else defaults; `--spool` applied.
    pub fn load_config(&self) -> Result<Config, CliError> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(spool) = &self.spool {
            config.spool.root = spool.clone();
        }
        crate::spool::owner::set_node(&config.spool.node);
        Ok(config)
    }

    /// The spool the command works on; it must exist (a daemon creates it).
    pub fn spool(&self) -> Result<(Config, Spool), CliError> {
        let config = self.load_config()?;
        let spool = Spool::new(config.spool.root.clone());
        if !spool.jobs().is_dir() {
            return Err(CliError::usage(format!(
                "{} is not a chute spool (no jobs/ folder); start `chute run --spool {}` first or pass --spool",
                spool.root().display(),
                spool.root().display()
            )));
        }
        Ok((config, spool))
    }
}

/// Whether a daemon runs on `spool` (its record in daemons/ is fresh).
pub fn daemon_running(config: &Config, spool: &Spool) -> bool {
    !crate::spool::owner::live_daemons(&spool.daemons(), config.spool.owner_lease).is_empty()
}

/// Tells the user on stderr when no daemon runs on `spool` (queued and running jobs
/// then do not move, and a listing that shows them `running` would mislead), or when
/// several run on this host (they share its one GPU and memory).
pub fn warn_if_no_daemon(config: &Config, spool: &Spool) {
    if let Some(problem) = daemon_problem(config, spool) {
        eprintln!("chute: {}", problem.message());
    }
}

/// What is wrong with the daemons on a spool, said for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonProblem {
    /// None runs.
    NoneRunning(String),
    /// Several run on this host.
    SeveralHere(String),
}

impl DaemonProblem {
    /// The sentence.
    pub fn message(&self) -> &str {
        match self {
            DaemonProblem::NoneRunning(message) | DaemonProblem::SeveralHere(message) => message,
        }
    }
}

/// What is wrong with the daemons on `spool`: none runs, or several run on this host.
pub fn daemon_problem(config: &Config, spool: &Spool) -> Option<DaemonProblem> {
    let live = crate::spool::owner::live_daemons(&spool.daemons(), config.spool.owner_lease);
    if live.is_empty() {
        return Some(DaemonProblem::NoneRunning(format!(
            "no daemon is running on {}: nothing is claimed or processed until `chute run` (or the chute service) starts",
            spool.root().display()
        )));
    }
    let here = crate::spool::owner::Owner::current().host;
    let pids: Vec<String> = live
        .iter()
        .filter(|daemon| daemon.owner.host == here)
        .map(|daemon| daemon.owner.pid.to_string())
        .collect();
    (pids.len() > 1).then(|| {
        DaemonProblem::SeveralHere(format!(
            "{} daemons run on this host on {} (pids {}): they compete for one GPU and its memory; stop all but one (`systemctl stop chute` or kill the extra `chute run`)",
            pids.len(),
            spool.root().display(),
            pids.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn help_names_the_environment_and_shows_no_empty_env_values() {
        let mut command = Cli::command();
        let top = command.render_long_help().to_string();
        let run = command
            .find_subcommand_mut("run")
            .map(|run| run.render_long_help().to_string())
            .unwrap_or_default();
        for help in [&top, &run] {
            assert!(help.contains("[env: CHUTE_SPOOL]"), "{help}");
            assert!(!help.contains("CHUTE_SPOOL="), "{help}");
            assert!(help.contains("CHUTE_LOG_FORMAT"), "{help}");
        }
        assert!(run.contains("SIGTERM"), "{run}");
    }
}
