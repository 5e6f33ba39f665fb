//! Spool data as people read it. Input names, result folders and messages come from
//! files anyone can drop, so every command shows them through [`escape`]: a name cannot
//! move the cursor, clear the screen, forge a line of output or reorder what follows it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::ser::{Formatter, PrettyFormatter};

use crate::catalog::JobSummary;
use crate::dedupe::DuplicateOf;
use crate::logging::is_terminal_control;
use crate::spool::short_id;

/// `text` with control characters (C0, DEL, C1) and Unicode bidirectional controls
/// written as Rust escapes (`\n`, `\u{1b}`, `\u{202e}`); everything else, other scripts
/// and emoji included, is kept as it is (the rule of the daemon's log,
/// [`crate::logging::escape`]).
pub fn escape(text: &str) -> Cow<'_, str> {
    crate::logging::escape(text)
}

/// `value` as pretty JSON for `--json` output. JSON escapes only C0 controls by itself;
/// here DEL, C1 controls and bidirectional controls are written as `\uXXXX` escapes
/// too, so the output is the same JSON value (a program reads the exact name) but
/// nothing in it drives the terminal it is printed on.
pub fn json_pretty<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let mut bytes = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut bytes, TerminalSafe(PrettyFormatter::new()));
    value.serialize(&mut serializer)?;
    String::from_utf8(bytes).map_err(|error| serde_json::Error::io(io::Error::other(error)))
}

/// serde_json's pretty formatter, with terminal controls in strings escaped.
struct TerminalSafe<'a>(PrettyFormatter<'a>);

impl Formatter for TerminalSafe<'_> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (index, c) in fragment.char_indices() {
            if is_terminal_control(c) {
                writer.write_all(&fragment.as_bytes()[start..index])?;
                // Every terminal control is in the Basic Multilingual Plane: one escape.
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = index + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_array(writer)
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array(writer)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_array_value(writer)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object(writer)
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object(writer)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.begin_object_value(writer)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.0.end_object_value(writer)
    }
}

/// A path (lossy UTF-8) through [`escape`].
pub fn path(path: &Path) -> String {
    escape(&path.to_string_lossy()).into_owned()
}

/// `duplicate of <short id> (<the original's folder>)`, as every command says it.
pub fn duplicate_of(original: &DuplicateOf) -> String {
    format!(
        "duplicate of {} ({})",
        short_id(original.job_id),
        escape(&original.location)
    )
}

/// A job's state as people read it: `duplicate` for a job delivered as a duplicate of an
/// earlier one (its JSON state stays `done`), `waiting` for a running job that waits
/// (for the native lease, a slot, its original), else the state's name.
pub fn state(summary: &JobSummary) -> &'static str {
    if summary.duplicate_of.is_some() {
        "duplicate"
    } else if summary.waiting.is_some() {
        "waiting"
    } else {
        summary.state.name()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_other_text_is_kept() {
        assert!(matches!(escape("report 2026.pdf"), Cow::Borrowed(_)));
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("one\ntwo\r\t"), "one\\ntwo\\r\\t");
        assert_eq!(escape("\u{7f}\u{9b}"), "\\u{7f}\\u{9b}");
        assert_eq!(escape("evil\u{202e}fdp.exe"), "evil\\u{202e}fdp.exe");
        // Quotes, backslashes, accents, other scripts and emoji stay readable.
        for kept in [
            "it's \"x\" \\ y",
            "café",
            "cafe\u{301}",
            "会議.m4a",
            "🎙 memo",
        ] {
            assert_eq!(escape(kept), kept);
        }
    }

    #[test]
    fn json_output_escapes_terminal_controls_and_keeps_the_value() {
        let name = "a\x1b[31m\x07\r\n\u{7f}\u{9b}\u{202e}b \"q\" é";
        let text = json_pretty(&serde_json::json!({ "input": name, "list": [1, 2] })).unwrap();
        assert!(
            !text.chars().any(|c| c != '\n' && is_terminal_control(c)),
            "{text:?}"
        );
        assert!(text.contains("\\u202e"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["input"], name);
        assert_eq!(
            text,
            serde_json::to_string_pretty(&back)
                .unwrap()
                .replace('\u{7f}', "\\u007f")
                .replace('\u{9b}', "\\u009b")
                .replace('\u{202e}', "\\u202e")
        );
    }

    #[test]
    fn a_duplicate_names_the_original_by_short_id_and_folder() {
        let original = DuplicateOf {
            job_id: uuid::Uuid::parse_str("01936f5e-7a1c-7cc0-9b1e-3c5d2f4a8b10").unwrap(),
            location: "outbox/archive/a\nb--2f4a8b10".into(),
        };
        assert_eq!(
            duplicate_of(&original),
            "duplicate of 2f4a8b10 (outbox/archive/a\\nb--2f4a8b10)"
        );
    }
}
