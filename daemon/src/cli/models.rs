//! `chute models list` and `chute models pull`: the models chute knows, whether they are
//! in the models folder, and verified downloads.

use std::path::PathBuf;

use super::{Cli, CliError};
use crate::models::catalog::{self, HUGGING_FACE, Role};
use crate::models::pull::{self, Pulled};

/// `chute models …`.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// List known models with their status and location.
    List,
    /// Download a model and check its sha256 (a known NAME, or --url/--sha256/--to).
    Pull {
        /// A model name from `chute models list`.
        #[arg(required_unless_present = "url")]
        name: Option<String>,
        /// Download this URL instead of a known model.
        #[arg(long, requires_all = ["sha256", "to"], conflicts_with = "name")]
        url: Option<String>,
        /// The file's expected SHA-256 (hex).
        #[arg(long)]
        sha256: Option<String>,
        /// Where to put it, relative to the models folder (or absolute).
        #[arg(long)]
        to: Option<PathBuf>,
    },
}

/// Runs a models subcommand.
pub fn execute(cli: &Cli, command: &ModelsCommand) -> Result<(), CliError> {
    match command {
        ModelsCommand::List => list(cli),
        ModelsCommand::Pull {
            name,
            url,
            sha256,
            to,
        } => pull_model(
            cli,
            name.as_deref(),
            url.as_deref(),
            sha256.as_deref(),
            to.as_deref(),
        ),
    }
}

fn list(cli: &Cli) -> Result<(), CliError> {
    let config = cli.load_config()?;
    let dir = config.models.dir();
    println!("models folder: {}", dir.display());
    println!("{:<24} {:<9} {:>9}  DESCRIPTION", "NAME", "STATUS", "SIZE");
    let mut rows: Vec<(String, String, PathBuf)> = catalog::MODELS
        .iter()
        .map(|model| {
            let role = match model.role {
                Role::Speech => "speech",
                Role::Language => "language",
                Role::VoiceActivity => "vad",
            };
            (
                model.name.to_owned(),
                format!("{role}: {}", model.description),
                dir.join(model.path),
            )
        })
        .collect();
    rows.push((
        "whisper-tiny.en-ct2".into(),
        "speech: faster-whisper tiny.en from PyPI, converted on first use".into(),
        dir.join("ct2/whisper-tiny.en/model.bin"),
    ));
    for (key, path) in [
        (
            "transcribe.model",
            config.models.resolve(&config.transcribe.model),
        ),
        (
            "summarize.model",
            config.models.resolve(&config.summarize.model),
        ),
    ] {
        if !rows.iter().any(|(_, _, known)| *known == path) {
            rows.push((key.into(), "configured".into(), path));
        }
    }
    for (name, description, path) in rows {
        let (status, size) = match std::fs::metadata(&path) {
            Ok(meta) => ("present", bytesize::ByteSize(meta.len()).to_string()),
            Err(_) => ("missing", "-".to_owned()),
        };
        println!("{name:<24} {status:<9} {size:>9}  {description}");
    }
    println!(
        "(`chute models pull NAME` downloads one; scripts/fetch-test-models.sh fetches the offline defaults from PyPI)"
    );
    Ok(())
}

fn pull_model(
    cli: &Cli,
    name: Option<&str>,
    url: Option<&str>,
    sha256: Option<&str>,
    to: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let config = cli.load_config()?;
    let dir = config.models.dir();
    let mut member = None;
    let (url, sha256, destination) = match (name, url, sha256, to) {
        (_, Some(url), Some(sha256), Some(to)) => {
            if !(sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit())) {
                return Err(CliError::usage(
                    "--sha256 takes the 64 hex digits of the file's SHA-256",
                ));
            }
            (url.to_owned(), sha256.to_owned(), config.models.resolve(to))
        }
        (Some(name), None, _, _) => {
            let model = catalog::find(name).ok_or_else(|| {
                CliError::usage(format!(
                    "no model called {name:?}; `chute models list` shows the known ones"
                ))
            })?;
            let (Some(url), Some(sha256)) = (model.url, model.sha256) else {
                return Err(CliError::failure(format!(
                    "{name} comes from a package registry, not a download: run scripts/fetch-test-models.sh"
                )));
            };
            let url = match url.strip_prefix(HUGGING_FACE) {
                Some(rest) if !config.models.mirror.is_empty() => {
                    format!("{}/{rest}", config.models.mirror.trim_end_matches('/'))
                }
                _ => url.to_owned(),
            };
            member = model.member;
            (url, sha256.to_owned(), dir.join(model.path))
        }
        _ => {
            return Err(CliError::usage(
                "give a model NAME, or --url, --sha256 and --to",
            ));
        }
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(
        destination
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let progress = |received: u64, total: Option<u64>| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(received);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::failure(error.to_string()))?;
    let outcome = runtime.block_on(async {
        match &member {
            Some(member) => pull::pull_member(&url, &sha256, member, &destination, &progress).await,
            None => pull::pull(&url, &sha256, &destination, &progress).await,
        }
    });
    bar.finish_and_clear();
    match outcome {
        Ok(Pulled::AlreadyPresent) => {
            println!("{} is already present and verified", destination.display());
            Ok(())
        }
        Ok(Pulled::Downloaded { bytes }) => {
            println!(
                "downloaded {} ({}), sha256 verified: {}",
                destination.display(),
                bytesize::ByteSize(bytes),
                member.map_or(sha256.as_str(), |member| member.sha256)
            );
            Ok(())
        }
        Err(error) => Err(CliError::failure(error.to_string())),
    }
}
