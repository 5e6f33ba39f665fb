//! A model's answer → [`Script`], tolerant of how models answer: code fences, prose
//! before and after, and small damage to the JSON itself (trailing commas, a missing
//! comma between items, smart quotes around keys, raw line breaks or bad escapes in
//! strings, closers missing at the end of a cut-off answer).
//!
//! Written here rather than taken from a crate: the JSON-repair crates on crates.io
//! either only strip fences and trailing commas, or guess values for whatever is
//! missing (which would hide a truncated answer from validation). This repair stays
//! small: it fixes punctuation, never invents content, and anything it cannot fix is
//! reported so the model can be asked again.

use serde_json::Value;

use super::Script;

/// Object starts tried before giving up (prose may hold stray braces).
const STARTS_TRIED: usize = 8;

/// Why an answer is not a script.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No `{` in the answer.
    #[error("the answer holds no JSON object")]
    NoJson,
    /// Not JSON, even after repair.
    #[error("the answer is not valid JSON: {0}")]
    Syntax(String),
    /// JSON, but not shaped like a script (the path names the field).
    #[error("{0}")]
    Shape(String),
}

/// Parses a model's answer into a script (not yet validated: see
/// [`super::schema::validate`]). Strings are trimmed.
pub fn parse(answer: &str) -> Result<Script, ParseError> {
    let value = parse_value(answer)?;
    let value = normalize(value);
    let mut script: Script = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        ParseError::Shape(if path == "." {
            format!("the answer is not a script: {inner}")
        } else {
            format!("{path}: {inner}")
        })
    })?;
    trim(&mut script);
    Ok(script)
}

/// The first JSON object in `answer`, repaired and parsed.
pub fn parse_value(answer: &str) -> Result<Value, ParseError> {
    let text = without_fences(answer);
    let mut first_error = None;
    let starts = text.match_indices('{').map(|(index, _)| index);
    for start in starts.take(STARTS_TRIED) {
        let repaired = repair(&text[start..]);
        match serde_json::from_str::<Value>(&repaired) {
            Ok(value @ Value::Object(_)) => return Ok(value),
            Ok(_) => {}
            Err(error) => {
                first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    Err(first_error.map_or(ParseError::NoJson, ParseError::Syntax))
}

/// `text` without Markdown fence lines (```` ```json ```` and ```` ``` ````).
fn without_fences(text: &str) -> String {
    let text = text.trim_start_matches('\u{feff}');
    text.lines()
        .filter(|line| !line.trim_start().starts_with("```"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How the string being read was opened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Straight,
    Smart,
}

/// The balanced JSON value starting at `text`'s first character (a `{`), with small
/// damage repaired; whatever follows it is dropped.
pub fn repair(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut closers: Vec<char> = Vec::new();
    let mut quote: Option<Quote> = None;
    // Where the last string opened in `out`, and whether it may be a key.
    let mut string_start = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(open) = quote {
            match c {
                '\\' => match chars.peek() {
                    Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | 'u') => {
                        out.push('\\');
                        if let Some(next) = chars.next() {
                            out.push(next);
                        }
                    }
                    // A lone backslash (`\d`, `\'`) is kept as a character.
                    _ => out.push_str("\\\\"),
                },
                '"' => {
                    out.push('"');
                    quote = None;
                }
                '\u{201c}' | '\u{201d}' if open == Quote::Smart => {
                    out.push('"');
                    quote = None;
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => {}
                c => out.push(c),
            }
            continue;
        }
        match c {
            '"' | '\u{201c}' | '\u{201d}' | '{' | '[' => {
                if needs_comma(&out) {
                    out.push(',');
                }
                match c {
                    '{' => {
                        closers.push('}');
                        out.push('{');
                    }
                    '[' => {
                        closers.push(']');
                        out.push('[');
                    }
                    _ => {
                        string_start = out.len();
                        out.push('"');
                        quote = Some(if c == '"' {
                            Quote::Straight
                        } else {
                            Quote::Smart
                        });
                    }
                }
            }
            '}' | ']' => {
                drop_trailing_comma(&mut out);
                // A closer for an outer level closes the inner ones first.
                if closers.contains(&c) {
                    while let Some(closer) = closers.pop() {
                        out.push(closer);
                        if closer == c {
                            break;
                        }
                    }
                }
                if closers.is_empty() {
                    return out;
                }
            }
            ',' => {
                if !matches!(last_significant(&out), Some(',' | '{' | '[') | None) {
                    out.push(',');
                }
            }
            c => out.push(c),
        }
    }
    // The answer was cut off: close what is open, dropping a dangling key.
    if quote.is_some() {
        out.push('"');
        let before = out[..string_start].trim_end();
        if closers.last() == Some(&'}') && matches!(before.chars().last(), Some(',' | '{')) {
            out.truncate(string_start);
        }
    }
    loop {
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        if out.ends_with(',') {
            out.pop();
        } else if out.ends_with(':') {
            out.pop();
            drop_last_string(&mut out);
        } else {
            break;
        }
    }
    while let Some(closer) = closers.pop() {
        out.push(closer);
    }
    out
}

/// The last character of `out` that is not blank.
fn last_significant(out: &str) -> Option<char> {
    out.chars().rev().find(|c| !c.is_whitespace())
}

/// Whether a value starting now follows another one with no comma between.
fn needs_comma(out: &str) -> bool {
    let mut reversed = out.chars().rev();
    let blank_between = out.ends_with(char::is_whitespace);
    match reversed.find(|c| !c.is_whitespace()) {
        Some('"' | '}' | ']') => true,
        Some(c) if c.is_ascii_alphanumeric() => blank_between,
        _ => false,
    }
}

/// Removes a comma (and blanks) at the end of `out`.
fn drop_trailing_comma(out: &mut String) {
    let trimmed = out.trim_end();
    if trimmed.ends_with(',') {
        let keep = trimmed.len() - 1;
        out.truncate(keep);
    }
}

/// Removes the last (complete) string of `out`, with the blanks before it.
fn drop_last_string(out: &mut String) {
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if !out.ends_with('"') {
        return;
    }
    let body = &out[..out.len() - 1];
    let mut search = body.len();
    while let Some(index) = body[..search].rfind('"') {
        let backslashes = body[..index]
            .chars()
            .rev()
            .take_while(|c| *c == '\\')
            .count();
        if backslashes % 2 == 0 {
            out.truncate(index);
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            return;
        }
        search = index;
    }
}

/// Shapes models often get slightly wrong, put right: a wrapper object around the
/// script, hashtags as one string or without `#`, a scene's characters as one name.
fn normalize(mut value: Value) -> Value {
    if let Value::Object(object) = &value
        && !object.contains_key("scenes")
        && object.len() == 1
        && let Some(inner @ Value::Object(fields)) = object.values().next()
        && fields.contains_key("scenes")
    {
        value = inner.clone();
    }
    if let Some(scenes) = value.get_mut("scenes").and_then(Value::as_array_mut) {
        for scene in scenes {
            if let Some(characters) = scene.pointer_mut("/prompt/characters") {
                match characters {
                    Value::String(name) => {
                        *characters = Value::Array(vec![Value::String(name.clone())])
                    }
                    Value::Null => *characters = Value::Array(Vec::new()),
                    _ => {}
                }
            }
        }
    }
    if let Some(tags) = value.pointer_mut("/social_media/hashtags") {
        let words: Vec<String> = match tags {
            Value::String(text) => text
                .split(|c: char| c.is_whitespace() || c == ',')
                .map(str::to_owned)
                .collect(),
            Value::Array(items) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_owned)
                })
                .collect(),
            _ => Vec::new(),
        };
        if !words.is_empty() {
            let tags_fixed: Vec<Value> = words
                .iter()
                .map(|word| {
                    word.trim()
                        .trim_start_matches('#')
                        .replace(char::is_whitespace, "")
                })
                .filter(|word| !word.is_empty())
                .map(|word| Value::String(format!("#{word}")))
                .collect();
            *tags = Value::Array(tags_fixed);
        }
    }
    value
}

/// Trims every string of the script.
fn trim(script: &mut Script) {
    let fix = |text: &mut String| {
        let trimmed = text.trim();
        if trimmed.len() != text.len() {
            *text = trimmed.to_owned();
        }
    };
    for scene in &mut script.scenes {
        fix(&mut scene.description);
        fix(&mut scene.voiceover);
        let prompt = &mut scene.prompt;
        prompt.characters.iter_mut().for_each(fix);
        for field in [
            &mut prompt.setting,
            &mut prompt.action,
            &mut prompt.camera,
            &mut prompt.emotion,
        ] {
            fix(field);
        }
    }
    for sheet in &mut script.character_bible {
        fix(&mut sheet.name);
        fix(&mut sheet.role);
        fix(&mut sheet.look);
        sheet.anchors.iter_mut().for_each(fix);
    }
    let social = &mut script.social_media;
    fix(&mut social.caption);
    social.hashtags.iter_mut().for_each(fix);
    fix(&mut social.thumbnail_prompt);
    fix(&mut social.thumbnail_text);
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
