//! Spool data as people read it. Input names, result folders and messages come from
//! files anyone can drop, so every command shows them through [`escape`]: a name cannot
//! move the cursor, clear the screen, forge a line of output or reorder what follows it.

use std::borrow::Cow;
use std::path::Path;

use crate::catalog::JobSummary;
use crate::dedupe::DuplicateOf;
use crate::logging::is_terminal_control;
use crate::spool::short_id;

/// `text` with control characters (C0, DEL, C1) and Unicode bidirectional controls
/// written as Rust escapes (`\n`, `\u{1b}`, `\u{202e}`); everything else, other scripts
/// and emoji included, is kept as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_terminal_control(c) {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
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
