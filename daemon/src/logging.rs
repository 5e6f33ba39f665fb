//! Log set-up: tracing to stderr, filtered by `CHUTE_LOG` (default `info`), as text or
//! (with `CHUTE_LOG_FORMAT=json`) JSON lines. Job lines carry the `job` span
//! (`job_id`, `route`) and, inside a stage, the `stage` span (`stage`).
//!
//! A value the daemon cannot honour is an error at start, never silently replaced: an
//! operator who asked for JSON logs must not get text in their log pipeline.

use tracing_subscriber::EnvFilter;

/// Environment variable with the log filter.
pub const LOG_ENV: &str = "CHUTE_LOG";
/// Environment variable choosing `json` log lines.
pub const LOG_FORMAT_ENV: &str = "CHUTE_LOG_FORMAT";

/// Why logging could not be set up as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum LogSetupError {
    /// `CHUTE_LOG` does not parse as a filter.
    #[error(
        "{LOG_ENV}={value:?} is not a log filter: {reason} (examples: info, warn, chute=debug)"
    )]
    Filter {
        /// The value given.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// `CHUTE_LOG_FORMAT` names no known format.
    #[error("{LOG_FORMAT_ENV}={0:?} is not a log format (use text or json)")]
    Format(String),
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Reads `CHUTE_LOG` and `CHUTE_LOG_FORMAT` (unset or empty means the default).
fn from_env() -> Result<(EnvFilter, Format), LogSetupError> {
    let filter = match std::env::var(LOG_ENV) {
        Ok(value) if !value.trim().is_empty() => {
            EnvFilter::try_new(&value).map_err(|error| LogSetupError::Filter {
                value: value.clone(),
                reason: error.to_string(),
            })?
        }
        _ => EnvFilter::new("info"),
    };
    let format = match std::env::var(LOG_FORMAT_ENV).unwrap_or_default().trim() {
        "" | "text" => Format::Text,
        "json" => Format::Json,
        other => return Err(LogSetupError::Format(other.to_owned())),
    };
    Ok((filter, format))
}

/// Installs the global subscriber (once; later calls only check the environment).
pub fn init() -> Result<(), LogSetupError> {
    let (filter, format) = from_env()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = match format {
        Format::Json => builder.json().try_init(),
        Format::Text => builder.try_init(),
    };
    Ok(())
}
