//! Log set-up: tracing to stderr, filtered by `CHUTE_LOG` (default `info`), as text or
//! (with `CHUTE_LOG_FORMAT=json`) JSON lines. Job lines carry the `job` span
//! (`job_id`, `route`) and, inside a stage, the `stage` span (`stage`).
//!
//! A value the daemon cannot honour is an error at start, never silently replaced: an
//! operator who asked for JSON logs must not get text in their log pipeline.
//!
//! Log lines carry strings from the spool (file names, folder names, routes read back
//! from records, error texts quoting files). In text lines every field, the message
//! included, goes through [`EscapedFields`], so no value can end a line and start a
//! forged one, or drive the terminal that shows the log; JSON lines are escaped by JSON
//! itself.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

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

/// `text` with every [`is_terminal_control`] character written as a Rust escape (`\n`,
/// `\u{1b}`, `\u{202e}`); everything else, other scripts and emoji included, is kept as
/// it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    let _ = Escaping(&mut escaped).write_str(text);
    Cow::Owned(escaped)
}

/// A writer that passes text on with every [`is_terminal_control`] character escaped.
struct Escaping<W: fmt::Write>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            if is_terminal_control(c) {
                for escaped in c.escape_debug() {
                    self.0.write_char(escaped)?;
                }
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// The fields of a text log line (an event's or a span's), laid out like tracing's
/// default (the message, then `name=value` pairs) with every value escaped by
/// [`escape`]'s rule, whether it was recorded with `%`, `?` or as a plain string.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            result: Ok(()),
            first: true,
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'writer> {
    writer: Writer<'writer>,
    result: fmt::Result,
    first: bool,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self.writer.has_ansi_escapes() {
                write!(self.writer, "\x1b[3m{name}\x1b[0m\x1b[2m=\x1b[0m")?;
            } else {
                write!(self.writer, "{name}=")?;
            }
        }
        write!(Escaping(&mut self.writer), "{value:?}")
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field.name(), value);
        }
    }
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
        Format::Text => builder.fmt_fields(EscapedFields).try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What a subscriber wrote, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_field_can_forge_a_log_line_or_drive_a_terminal() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .fmt_fields(EscapedFields)
            .finish();
        let name = "a\n2026-01-01T00:00:00Z ERROR forged\x1b[2J\u{202e}";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("job", route = tracing::field::Empty);
            span.record("route", name);
            let _entered = span.enter();
            tracing::warn!(location = %name, input = ?name, reason = name, "Failed {name}.");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            !text.trim_end().chars().any(is_terminal_control),
            "{text:?}"
        );
        let escaped = "a\\n2026-01-01T00:00:00Z ERROR forged\\u{1b}[2J\\u{202e}";
        // Display values (`%`, the message) are escaped as they are; Debug values and
        // plain strings keep their quotes and Rust's own escapes, which are the same.
        for field in [
            format!("Failed {escaped}."),
            format!("location={escaped} "),
            format!("input=\"{escaped}\""),
            format!("reason=\"{escaped}\""),
            format!("route=\"{escaped}\""),
        ] {
            assert!(text.contains(&field), "{field} in {text}");
        }
    }

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
