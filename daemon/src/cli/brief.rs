//! `chute brief schema` and `chute brief check FILE`: the brief contract, printed and
//! applied without running anything.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Cli, CliError, text};
use crate::brief;

/// `chute brief …`.
#[derive(Debug, Subcommand)]
pub enum BriefCommand {
    /// Print the JSON Schema of a brief (every field, its type and meaning).
    Schema,
    /// Validate a brief (a file, or a folder with brief.json/.toml/.yaml and its
    /// files) without running it; errors name the field.
    Check {
        /// The brief file or folder.
        file: PathBuf,
    },
}

/// Runs a `brief` subcommand.
pub fn execute(cli: &Cli, command: &BriefCommand) -> Result<(), CliError> {
    match command {
        BriefCommand::Schema => {
            print!("{}", brief::SCHEMA);
            Ok(())
        }
        BriefCommand::Check { file } => {
            let config = cli.load_config()?;
            let settings = &config.sales_video;
            let loaded = brief::load(file, &settings.styles).map_err(|error| {
                CliError::failure(format!(
                    "{}: {}\n  hint: {}",
                    text::path(file),
                    text::escape(&error.to_string()),
                    error.hint
                ))
            })?;
            let brief = &loaded.brief;
            let (width, height) = brief.aspect.size();
            println!(
                "{}: ok — {:?}, {} s in {} scenes of {} s, style {}, language {}, {width}x{height}, {} file(s)",
                text::path(&loaded.file),
                text::escape(&brief.product.name),
                brief.duration_sec,
                brief.scene_count(settings.seconds_per_scene),
                settings.seconds_per_scene,
                text::escape(&brief.style),
                text::escape(&brief.language),
                loaded.assets.len()
            );
            Ok(())
        }
    }
}
