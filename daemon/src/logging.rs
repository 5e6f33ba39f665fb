//! Log set-up: tracing to stderr, filtered by `CHUTE_LOG` (default `info`), as text or
//! (with `CHUTE_LOG_FORMAT=json`) JSON lines with the job id and stage as fields.

use tracing_subscriber::EnvFilter;

/// Environment variable with the log filter.
pub const LOG_ENV: &str = "CHUTE_LOG";
/// Environment variable choosing `json` log lines.
pub const LOG_FORMAT_ENV: &str = "CHUTE_LOG_FORMAT";

/// Installs the global subscriber (once; later calls do nothing).
pub fn init() {
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var(LOG_FORMAT_ENV).is_ok_and(|value| value == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
