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

/// Characters a terminal or a line-based log acts on instead of showing: control
/// characters (C0, DEL, C1, newlines included), Unicode bidirectional controls and the
/// line and paragraph separators. Untrusted text (file names, plugin messages) never
/// reaches a log or a terminal with one of these as it is.
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

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

/// whisper.cpp and ggml report their internals (model layout, buffer sizes) at their
/// own info level; in chute's log they are debug lines, shown only when asked for.
const WHISPER_INTERNALS: &str = "whisper_rs=warn";

/// The filter for a `CHUTE_LOG` value: as given, plus [`WHISPER_INTERNALS`] unless the
/// value names `whisper_rs` itself or asks for everything at debug or trace.
fn filter_directives(value: &str) -> String {
    let wants_internals = value.contains("whisper_rs")
        || value
            .split(',')
            .map(str::trim)
            .any(|directive| matches!(directive, "debug" | "trace"));
    if wants_internals {
        value.to_owned()
    } else {
        format!("{value},{WHISPER_INTERNALS}")
    }
}

/// Reads `CHUTE_LOG` and `CHUTE_LOG_FORMAT` (unset or empty means the default).
fn from_env() -> Result<(EnvFilter, Format), LogSetupError> {
    let value = std::env::var(LOG_ENV)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    let filter =
        EnvFilter::try_new(filter_directives(&value)).map_err(|error| LogSetupError::Filter {
            value: value.clone(),
            reason: error.to_string(),
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_internals_are_quiet_unless_asked_for() {
        assert_eq!(filter_directives("info"), "info,whisper_rs=warn");
        assert_eq!(
            filter_directives("chute=debug"),
            "chute=debug,whisper_rs=warn"
        );
        assert_eq!(filter_directives("debug"), "debug");
        assert_eq!(
            filter_directives("info,whisper_rs=debug"),
            "info,whisper_rs=debug"
        );
    }
}
