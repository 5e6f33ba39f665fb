//! `chute show ID [--json]`: one job with its stages and events.

use super::{Cli, CliError, text};
use crate::catalog;

/// Arguments of `chute show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Job id, unique prefix, or short id.
    pub id: String,
    /// Print one JSON object (stable format, see README.md).
    #[arg(long)]
    pub json: bool,
}

/// Prints the job.
pub fn execute(cli: &Cli, args: &ShowArgs) -> Result<(), CliError> {
    let (_, spool) = cli.spool()?;
    let details = catalog::find(&spool, &args.id).map_err(CliError::usage)?;
    if args.json {
        let text = text::json_pretty(&details).map_err(CliError::failure)?;
        println!("{text}");
        return Ok(());
    }
    let summary = &details.summary;
    println!("job       {}", summary.id);
    println!(
        "route     {} ({})",
        text::escape(&summary.route),
        text::escape(&summary.pipeline)
    );
    println!(
        "input     {} ({} bytes)",
        text::escape(&summary.input),
        details.job.input.size
    );
    match &summary.duplicate_of {
        Some(original) => println!("state     {}", text::duplicate_of(original)),
        None => println!("state     {} {}%", summary.state.name(), summary.percent),
    }
    println!("claimed   {}", summary.claimed_at.to_rfc3339());
    println!("location  {}", text::escape(&summary.location));
    if let Some(result) = &details.result {
        if let Some(reason) = result.get("reason").and_then(|v| v.as_str()) {
            println!("reason    {}", text::escape(reason));
        }
        if let Some(hint) = result.get("hint").and_then(|v| v.as_str()) {
            println!("hint      {}", text::escape(hint));
        }
    }
    if let Some(result) = &details.result {
        if let Some(files) = result.get("files").and_then(|v| v.as_array()) {
            println!("files");
            for file in files.iter().filter_map(|file| file.as_str()) {
                println!("  {}", text::escape(file));
            }
        }
        for warning in details.warnings() {
            println!(
                "warning   {}: {} ({})",
                text::escape(&warning.stage),
                text::escape(&warning.reason),
                text::escape(&warning.hint)
            );
        }
    }
    println!("stages");
    for stage in &details.stages {
        let took = match (stage.started_at, stage.finished_at) {
            (Some(started), Some(finished)) => {
                let seconds = (finished - started).num_milliseconds() as f64 / 1000.0;
                format!("{seconds:.1} s")
            }
            (Some(_), None) => "running".to_owned(),
            _ => String::new(),
        };
        println!(
            "  {:<14} {:<8} attempts {:<3} {took}",
            text::escape(&stage.name),
            format!("{:?}", stage.status).to_lowercase(),
            stage.attempts
        );
    }
    println!("events");
    for event in &details.events {
        println!(
            "  {}  {:<12} {:>3}%  {}",
            event.ts.format("%H:%M:%S%.3f"),
            text::escape(&event.stage),
            event.percent,
            text::escape(&event.message)
        );
    }
    Ok(())
}
