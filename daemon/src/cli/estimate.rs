//! `chute estimate FILE`: the calls per provider, the expected time and the price a
//! brief would take, before anything runs.

use std::path::PathBuf;

use clap::Args;

use super::{Cli, CliError, text};
use crate::brief;
use crate::video::estimate;

/// `chute estimate`.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// The brief file or folder.
    pub file: PathBuf,
    /// Print the estimate as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints the estimate of a brief under the current configuration.
pub fn execute(cli: &Cli, args: &EstimateArgs) -> Result<(), CliError> {
    let config = cli.load_config()?;
    let loaded = brief::load(&args.file, &config.sales_video.styles).map_err(|error| {
        CliError::failure(format!(
            "{}: {}\n  hint: {}",
            text::path(&args.file),
            text::escape(&error.to_string()),
            error.hint
        ))
    })?;
    let estimate = estimate::estimate(&config, &loaded.brief);
    if args.json {
        let json =
            text::json_pretty(&estimate).map_err(|error| CliError::failure(error.to_string()))?;
        println!("{json}");
        return Ok(());
    }
    println!(
        "{}: {} scenes, about {} and {:.2} {}",
        text::path(&loaded.file),
        estimate.scenes,
        duration(estimate.seconds),
        estimate.cost,
        estimate.currency
    );
    println!(
        "{:<8} {:<12} {:>6} {:>9} {:>10}",
        "stage", "by", "calls", "time", "cost"
    );
    for stage in &estimate.stages {
        println!(
            "{:<8} {:<12} {:>6} {:>9} {:>10.3}",
            stage.stage,
            text::escape(&stage.provider),
            stage.calls,
            duration(stage.seconds),
            stage.cost
        );
        if !stage.not_configured.is_empty() {
            println!(
                "         skipped (no [providers.NAME] table): {}",
                text::escape(&stage.not_configured.join(", "))
            );
        }
    }
    Ok(())
}

fn duration(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    if whole >= 60 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{whole}s")
    }
}
