//! `chute config check [FILE]`: like `nginx -t`, validates a configuration file (exit 2
//! when it does not parse, with the line) and checks what its routes need on this
//! machine — model files, a language whisper knows, the `chute-llm` worker — without
//! loading a model (exit 1 when something is missing, one line per problem).

use std::path::PathBuf;

use super::{Cli, CliError};
use crate::config::Config;
use crate::pipeline::needs::{self, Status};

/// Arguments of `chute config check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The file to check (default: --config / CHUTE_CONFIG).
    pub file: Option<PathBuf>,
}

/// Parses and validates the file, prints the effective routes, then checks what they
/// need: "configuration ok" (exit 0), or one line per problem (exit 1).
pub fn execute(cli: &Cli, args: &CheckArgs) -> Result<(), CliError> {
    let Some(path) = args.file.as_ref().or(cli.config.as_ref()) else {
        return Err(CliError::usage("name a file: chute config check FILE"));
    };
    let config = Config::load(path)?;
    println!("{}: syntax ok", path.display());
    for route in config.effective_routes() {
        println!("  route {:<16} -> {}", route.name, route.pipeline.name());
    }
    let needs = needs::check(&config);
    if needs.is_empty() {
        println!("  no transcribe route: no models needed");
    }
    for need in &needs {
        match &need.status {
            Status::Ok(_) => println!("  ok    {need}"),
            Status::Later(_) => println!("  note  {need}"),
            Status::Problem { .. } => {}
        }
    }
    let problems: Vec<_> = needs.iter().filter(|need| need.is_problem()).collect();
    if problems.is_empty() {
        println!("configuration ok");
        return Ok(());
    }
    for problem in &problems {
        eprintln!("chute: {problem}");
    }
    Err(CliError::failure(format!(
        "{}: {} problem(s): the daemon starts, but jobs that need them fail",
        path.display(),
        problems.len()
    )))
}
