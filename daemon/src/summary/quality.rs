//! Checks after generation. The grammar guarantees JSON of the template's shape, not a
//! summary: small models copy the template's own words into the fields, fill lists with
//! JSON punctuation, run into a cap mid-sentence and say one sentence over and over.
//! Each such defect has a named [`Cause`]; list items with a defect are dropped, and
//! repeated items and sentences removed (the repaired answer is what gets delivered),
//! but an answer with any defect is asked for again.

use std::fmt;

use chute_llm_protocol::StopReason;
use serde_json::Value;

use super::repetition;
use super::template::{Field, FieldKind, Template};

/// At or above this share of repeated sentences (or items) in a field, with two repeats
/// at least, the field is a loop, not a summary (below it, the repeats are just dropped).
const LOOP_SHARE: f64 = 0.5;

/// Why an answer is not a usable summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// Not JSON, or not of the template's schema (also after repairs).
    Invalid,
    /// A value copies the template's own text: a field description, the instructions,
    /// the prompt's "at most N characters".
    CopiedTemplate,
    /// A value without words: punctuation, JSON fragments (`","`, `"action_items:["`).
    NoWords,
    /// Text that stops mid-sentence or fills its whole byte cap.
    CutOff,
    /// The answer says the same sentences or items over and over.
    Repeated,
}

impl Cause {
    /// The cause's name in result.json.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Invalid => "invalid",
            Cause::CopiedTemplate => "copied_template",
            Cause::NoWords => "no_words",
            Cause::CutOff => "cut_off",
            Cause::Repeated => "repeated",
        }
    }

    /// What it means, in words.
    pub fn explain(self) -> &'static str {
        match self {
            Cause::Invalid => "the answer did not match the template",
            Cause::CopiedTemplate => {
                "the model copied the template's own descriptions instead of summarizing"
            }
            Cause::NoWords => {
                "the model filled fields with punctuation or JSON fragments instead of words"
            }
            Cause::CutOff => "the model's text stops mid-sentence or runs into its length cap",
            Cause::Repeated => "the model repeated the same sentences or items",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One defect of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    /// Why.
    pub cause: Cause,
    /// The field (empty for the whole answer).
    pub field: String,
    /// What was found, with the offending text.
    pub detail: String,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.cause, self.detail)
        } else {
            write!(f, "{} in {}: {}", self.cause, self.field, self.detail)
        }
    }
}

/// An answer after the checks: the repaired value (when it parsed) and its defects.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The answer with defective list items, repeated items and repeated sentences
    /// removed and blanks trimmed; `None` when it did not parse.
    pub value: Option<Value>,
    /// What was wrong (empty: a good answer).
    pub defects: Vec<Defect>,
    /// Repeated items and sentences removed.
    pub dropped_repeats: usize,
}

impl Inspection {
    /// Whether the answer had no defect.
    pub fn passed(&self) -> bool {
        self.value.is_some() && self.defects.is_empty()
    }
}

/// The texts a model may copy instead of answering: the template's instructions and
/// field descriptions, and the system prompt.
pub struct CopySources {
    sources: Vec<(String, Vec<String>)>,
    field_names: Vec<String>,
}

impl CopySources {
    /// What the prompt for `template` shows the model.
    pub fn new(template: &Template, system_prompt: &str) -> Self {
        let mut texts = vec![template.instructions.clone(), system_prompt.to_owned()];
        texts.extend(template.fields.iter().map(|f| f.description.clone()));
        let sources = texts
            .into_iter()
            .map(|text| {
                let words = repetition::words(&text);
                (text, words)
            })
            .filter(|(_, words)| words.len() >= 2)
            .collect();
        let field_names = template
            .fields
            .iter()
            .map(|f| f.name.to_lowercase())
            .collect();
        Self {
            sources,
            field_names,
        }
    }

    /// Why `value` is copied template text, if it is: all its words (two or more) come
    /// from one source text in the same order, or it holds a whole source, or the
    /// prompt's "at most N characters".
    fn copied(&self, value: &str) -> Option<String> {
        let words = repetition::words(value);
        let joined = words.join(" ");
        if joined.contains("at most") && (joined.contains("characters") || joined.contains("items"))
        {
            return Some(format!(
                "{value:?} repeats the prompt's length instructions"
            ));
        }
        for (source, source_words) in &self.sources {
            let from_source = words.len() >= 2 && is_subsequence(&words, source_words);
            let holds_source = source_words.len() >= 3 && joined.contains(&source_words.join(" "));
            if from_source || holds_source {
                return Some(format!("{value:?} copies the template's {source:?}"));
            }
        }
        None
    }

    /// Why `value` is no words at all, if it is: no letter or digit, JSON syntax, or a
    /// field name.
    fn wordless(&self, value: &str) -> Option<String> {
        if !value.chars().any(char::is_alphanumeric) {
            return Some(format!("{value:?} has no words"));
        }
        if value.contains(['{', '}', '[', ']']) || value.contains("\":") || value.contains("\",") {
            return Some(format!("{value:?} is a JSON fragment"));
        }
        let lower = value.to_lowercase();
        let names_a_field = self.field_names.iter().any(|name| {
            lower == *name
                || lower.contains(&format!("{name}:"))
                || (name.contains('_') && lower.contains(name.as_str()))
        });
        names_a_field.then(|| format!("{value:?} is a field name, not content"))
    }
}

/// Whether `words` appear in `source` in order (not necessarily next to each other).
fn is_subsequence(words: &[String], source: &[String]) -> bool {
    let mut source = source.iter();
    words.iter().all(|word| source.any(|s| s == word))
}

/// Whether `text` ends a sentence (`.`, `!`, `?`, `…`, possibly inside closing quotes or
/// brackets).
fn ends_a_sentence(text: &str) -> bool {
    text.trim_end_matches(['"', '\'', ')', '»', '”', '’'])
        .ends_with(['.', '!', '?', '…'])
}

/// Why `text` was cut off, if it was: it stops mid-sentence in a prose field, or it filled
/// the field's cap without ending a sentence.
fn cut_off(field: &Field, text: &str) -> Option<String> {
    let tail: String = {
        let chars: Vec<char> = text.chars().collect();
        chars[chars.len().saturating_sub(30)..].iter().collect()
    };
    if field.sentences && !ends_a_sentence(text) {
        return Some(format!("ends mid-sentence (\"…{tail}\")"));
    }
    if text.len() + 1 >= field.max_bytes as usize && !ends_a_sentence(text) {
        return Some(format!(
            "fills its cap of {} bytes (\"…{tail}\")",
            field.max_bytes
        ));
    }
    None
}

/// Inspects and repairs one parsed answer against `template` (fields in its order).
pub fn inspect(template: &Template, sources: &CopySources, answer: &Value) -> Inspection {
    let mut defects = Vec::new();
    let mut dropped_repeats = 0;
    let mut value = answer.clone();
    if let Some(object) = value.as_object_mut() {
        for field in &template.fields {
            let Some(slot) = object.get_mut(&field.name) else {
                continue;
            };
            let raw_repetition = repetition::count_field(slot);
            let mut defect = |detail: String, cause: Cause| {
                defects.push(Defect {
                    cause,
                    field: field.name.clone(),
                    detail,
                });
            };
            match (field.kind, slot) {
                (FieldKind::Language, _) => {}
                (FieldKind::Text, Value::String(text)) => {
                    let trimmed = text.trim();
                    if let Some(detail) = sources.wordless(trimmed) {
                        defect(detail, Cause::NoWords);
                    } else if let Some(detail) = sources.copied(trimmed) {
                        defect(detail, Cause::CopiedTemplate);
                    } else if let Some(detail) = cut_off(field, trimmed) {
                        defect(detail, Cause::CutOff);
                    }
                    let (kept, dropped) = repetition::without_repeated_sentences(trimmed);
                    dropped_repeats += dropped;
                    *text = kept;
                }
                (FieldKind::List, Value::Array(items)) => {
                    let mut kept: Vec<String> = Vec::new();
                    // Cut-off items still hold words: they are put back when removing
                    // them would leave the list shorter than the template allows.
                    let mut cut_items: Vec<(String, String)> = Vec::new();
                    for item in items.iter().filter_map(Value::as_str) {
                        let item = item.trim();
                        let found = sources
                            .wordless(item)
                            .map(|detail| (detail, Cause::NoWords))
                            .or_else(|| {
                                sources
                                    .copied(item)
                                    .map(|detail| (detail, Cause::CopiedTemplate))
                            })
                            .or_else(|| cut_off(field, item).map(|detail| (detail, Cause::CutOff)));
                        if let Some((detail, Cause::CutOff)) = found {
                            cut_items.push((item.to_owned(), detail));
                        } else if let Some((detail, cause)) = found {
                            defect(format!("{detail} (item removed)"), cause);
                        } else if kept
                            .iter()
                            .any(|earlier| repetition::near_duplicates(earlier, item))
                        {
                            dropped_repeats += 1;
                        } else {
                            kept.push(item.to_owned());
                        }
                    }
                    let missing = (field.min_items as usize).saturating_sub(kept.len());
                    for (index, (item, detail)) in cut_items.into_iter().enumerate() {
                        if index < missing {
                            let needs = field.min_items;
                            defect(
                                format!("{detail} (item kept: the list needs {needs})"),
                                Cause::CutOff,
                            );
                            kept.push(item);
                        } else {
                            defect(format!("{detail} (item removed)"), Cause::CutOff);
                        }
                    }
                    *items = kept.into_iter().map(Value::String).collect();
                }
                _ => {}
            }
            if field.kind != FieldKind::Language
                && raw_repetition.repeated >= 2
                && raw_repetition.share() >= LOOP_SHARE
            {
                defect(
                    format!(
                        "{} of its {} {} repeat earlier ones (repeats removed)",
                        raw_repetition.repeated,
                        raw_repetition.units,
                        if field.kind == FieldKind::List {
                            "items"
                        } else {
                            "sentences"
                        }
                    ),
                    Cause::Repeated,
                );
            }
        }
    }
    Inspection {
        value: Some(value),
        defects,
        dropped_repeats,
    }
}

/// The defect of an answer that did not parse: cut off when generation hit its token
/// limit, invalid otherwise.
pub fn unparsable(reason: String, stop: StopReason) -> Inspection {
    let cause = if stop == StopReason::MaxTokens {
        Cause::CutOff
    } else {
        Cause::Invalid
    };
    Inspection {
        value: None,
        defects: vec![Defect {
            cause,
            field: String::new(),
            detail: reason,
        }],
        dropped_repeats: 0,
    }
}

#[cfg(test)]
#[path = "quality_tests.rs"]
mod tests;
