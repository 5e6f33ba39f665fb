//! A place in the configuration file: line and column, and the line itself with a caret
//! under the part an error is about.

use std::fmt;
use std::ops::Range;

/// A place in the file, shown as the offending line with a caret under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The text of that line.
    pub text: String,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
    /// More to say under the caret: accepted forms, the keys a table takes.
    pub help: Option<String>,
}

impl Place {
    /// The place where `span` starts in `text`; the caret covers the span up to the end
    /// of its first line.
    pub fn new(text: &str, span: &Range<usize>) -> Self {
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
        let line_end = text[start..]
            .find('\n')
            .map_or(text.len(), |newline| start + newline);
        let line_text = text[line_start..line_end].trim_end_matches('\r');
        let end = floor_char_boundary(text, span.end.clamp(start, line_end));
        Self {
            line: text[..start].matches('\n').count() + 1,
            column: text[line_start..start].chars().count() + 1,
            text: line_text.to_owned(),
            width: text[start..end].chars().count().max(1),
            help: None,
        }
    }

    /// The same place with a help line under the caret.
    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The excerpt under an error's first line:
///
/// ```text
///   2 | max_running_jobs = "four"
///     |                    ^^^^^^
///     = help text
/// ```
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // Tabs before the column stay tabs, so the caret lines up however they render.
        let pad: String = self
            .text
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        write!(
            f,
            "  {number} | {}\n  {gutter} | {pad}{}",
            self.text,
            "^".repeat(self.width)
        )?;
        if let Some(help) = &self.help {
            write!(f, "\n  {gutter} = {help}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_sits_under_the_span() {
        let text = "[limits]\nmax_running_jobs = \"four\"\n";
        let start = text.find("\"four\"").unwrap_or_default();
        let place = Place::new(text, &(start..start + 6));
        assert_eq!((place.line, place.column, place.width), (2, 20, 6));
        assert_eq!(
            place.to_string(),
            "  2 | max_running_jobs = \"four\"\n    |                    ^^^^^^"
        );
    }

    #[test]
    fn spans_past_the_line_or_empty_ones_still_point() {
        let text = "[a]\nx = {\n  y = 1 }\n";
        let place = Place::new(text, &(8..text.len()));
        assert_eq!((place.line, place.column, place.width), (2, 5, 1));
        let place = Place::new("", &(0..0)).with_help(Some("help".into()));
        assert_eq!(place.to_string(), "  1 | \n    | ^\n    = help");
        let place = Place::new("é = \"ü\"", &(5..9));
        assert_eq!((place.column, place.width), (5, 3));
    }
}
