//! Repetition in summaries: texts reduced to their content words, near-duplicates found
//! by word overlap, repeated list items and sentences dropped, and the share of repeated
//! units in a `summary.json` value ([`repeated_share`], which the benchmark reports).
//!
//! Two texts are near-duplicates when their content words (lower case, a plural `s`
//! and common English function words removed) are the same set, or when one set holds
//! at least [`CONTAINED`] of the other's and they share at least [`SHARED`] of the
//! larger: "Maria calls the supplier" and "Maria will call the supplier on Friday" say
//! the same thing twice; "budget" and "spring campaign" do not.

use std::collections::BTreeSet;

use serde_json::Value;

/// Share of the smaller word set that must be in the other for a near-duplicate.
const CONTAINED: f64 = 0.8;
/// Share of the larger word set that must be shared for a near-duplicate.
const SHARED: f64 = 0.5;

/// Words that say nothing about the topic (English; other languages keep every word).
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "did", "do", "for",
    "from", "had", "has", "have", "he", "her", "his", "i", "in", "is", "it", "its", "me", "my",
    "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "then", "there", "they",
    "this", "to", "us", "was", "we", "were", "will", "with", "would", "you", "your",
];

/// The words of `text`: runs of letters and digits, in lower case.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What `text` is about: its words without function words and plural endings (all its
/// words when nothing else is left).
fn content_words(text: &str) -> BTreeSet<String> {
    let all = words(text);
    let content: BTreeSet<String> = all
        .iter()
        .filter(|word| !FUNCTION_WORDS.contains(&word.as_str()))
        .map(|word| stem(word))
        .collect();
    if content.is_empty() {
        all.iter().map(|word| stem(word)).collect()
    } else {
        content
    }
}

/// `word` without a plural `s` (`points` → `point`, not `is` or `bus`).
fn stem(word: &str) -> String {
    match word.strip_suffix('s') {
        Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_owned(),
        _ => word.to_owned(),
    }
}

/// Whether `a` and `b` say the same thing (see the module's rule).
pub fn near_duplicates(a: &str, b: &str) -> bool {
    let (a, b) = (content_words(a), content_words(b));
    if a.is_empty() || b.is_empty() {
        return a == b;
    }
    if a == b {
        return true;
    }
    let shared = a.intersection(&b).count() as f64;
    let (small, large) = if a.len() <= b.len() {
        (a.len(), b.len())
    } else {
        (b.len(), a.len())
    };
    shared / small as f64 >= CONTAINED && shared / large as f64 >= SHARED
}

/// The sentences of `text`: cut after `.`, `!`, `?` or `…` followed by a blank, each
/// trimmed.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | '…')
            && chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if ends {
            let end = index + c.len_utf8();
            let sentence = text[start..end].trim();
            if !sentence.is_empty() {
                out.push(sentence);
            }
            start = end;
        }
    }
    let rest = text[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Indexes of the `texts` that near-duplicate an earlier one.
pub fn repeated_indexes<S: AsRef<str>>(texts: &[S]) -> Vec<usize> {
    let mut kept: Vec<&str> = Vec::new();
    let mut repeated = Vec::new();
    for (index, text) in texts.iter().enumerate() {
        let text = text.as_ref();
        if kept.iter().any(|earlier| near_duplicates(earlier, text)) {
            repeated.push(index);
        } else {
            kept.push(text);
        }
    }
    repeated
}

/// `text` without the sentences that repeat an earlier one; the number dropped.
pub fn without_repeated_sentences(text: &str) -> (String, usize) {
    let sentences = sentences(text);
    let repeated = repeated_indexes(&sentences);
    let kept: Vec<&str> = sentences
        .iter()
        .enumerate()
        .filter(|(index, _)| !repeated.contains(index))
        .map(|(_, sentence)| *sentence)
        .collect();
    (kept.join(" "), repeated.len())
}

/// Counts of one summary's units (a text field's sentences, a list's items) and of
/// those that repeat an earlier unit of the same field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepetitionCount {
    /// Sentences and items.
    pub units: usize,
    /// Those that near-duplicate an earlier one of the same field.
    pub repeated: usize,
}

impl RepetitionCount {
    /// `repeated / units` (0 when there are no units).
    pub fn share(&self) -> f64 {
        if self.units == 0 {
            0.0
        } else {
            self.repeated as f64 / self.units as f64
        }
    }
}

/// Counts the units and repeated units of one field's value.
pub fn count_field(value: &Value) -> RepetitionCount {
    let units: Vec<&str> = match value {
        Value::String(text) => sentences(text),
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    RepetitionCount {
        units: units.len(),
        repeated: repeated_indexes(&units).len(),
    }
}

/// Counts the units and repeated units of a whole summary (an object of fields).
pub fn count(summary: &Value) -> RepetitionCount {
    let mut total = RepetitionCount::default();
    if let Some(fields) = summary.as_object() {
        for value in fields.values() {
            let field = count_field(value);
            total.units += field.units;
            total.repeated += field.repeated;
        }
    }
    total
}

/// The share (0.0–1.0) of a `summary.json` value's sentences and list items that repeat
/// an earlier sentence or item of the same field: 0.0 for a summary that never repeats
/// itself (and for one with nothing in it).
pub fn repeated_share(summary: &Value) -> f64 {
    count(summary).share()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn near_duplicates_are_found_by_their_content_words() {
        assert!(near_duplicates("Budget", " budget "));
        assert!(near_duplicates(
            "Maria calls the supplier.",
            "Maria will call the supplier on Friday"
        ));
        assert!(!near_duplicates(
            "The budget is twelve thousand euros",
            "the budget is 12 thousand euros, the budget"
        ));
        assert!(near_duplicates(
            "The budget for the spring campaign is twelve thousand euros.",
            "Budget for spring campaign: twelve thousand euros"
        ));
        assert!(near_duplicates(
            "We discussed the delivery trucks",
            "We discussed the delivery truck."
        ));
        assert!(!near_duplicates("budget", "spring campaign"));
        assert!(!near_duplicates(
            "Ship the invoice screen on Tuesday",
            "Send the meeting notes by tomorrow"
        ));
    }

    #[test]
    fn sentences_are_cut_after_their_final_marks() {
        assert_eq!(
            sentences("We met. It went well! Next?  Version 2.5 ships"),
            ["We met.", "It went well!", "Next?", "Version 2.5 ships"]
        );
    }

    /// The demo's summary said the same sentence four times.
    #[test]
    fn a_sentence_said_four_times_is_kept_once() {
        let said = "The team discussed the warehouse schedule.";
        let text = format!("{said} {said} {said} The trucks arrive on Monday. {said}");
        let (kept, dropped) = without_repeated_sentences(&text);
        assert_eq!(kept, format!("{said} The trucks arrive on Monday."));
        assert_eq!(dropped, 3);
    }

    #[test]
    fn the_repeated_share_counts_sentences_and_items_per_field() {
        let summary = json!({
            "title": "Warehouse review",
            "summary": "We met. We met. The budget grew.",
            "key_points": ["Budget grew", "the budget grew", "Trucks late", "Budget grew!"],
            "language": "en",
        });
        // Units: 1 + 3 + 4 + 1 = 9; repeated: 1 sentence + 2 items.
        assert_eq!(
            count(&summary),
            RepetitionCount {
                units: 9,
                repeated: 3
            }
        );
        assert!((repeated_share(&summary) - 3.0 / 9.0).abs() < 1e-9);
        assert_eq!(repeated_share(&json!({"title": "x", "keywords": []})), 0.0);
        assert_eq!(repeated_share(&json!("not an object")), 0.0);
    }
}
