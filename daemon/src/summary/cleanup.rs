//! Transcript clean-up: llama.cpp restores punctuation and casing, and a grammar built
//! from the transcript's own words makes sure it cannot change, add, drop or reorder a
//! single word — only letter case and the punctuation after each word are its choice.

use std::fmt::Write as _;
use std::time::Duration;

use chute_llm_protocol::{Generate, Message, Repetition};

use super::worker::{LlamaWorker, WorkerFailure};

/// Words per clean-up request.
const WORDS_PER_REQUEST: usize = 120;

/// The words of `text` without surrounding punctuation (inner `'` and `-` stay).
pub fn words_of(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()).to_owned())
        .filter(|word| !word.is_empty())
        .collect()
}

/// A grammar accepting exactly `words`, in order, each in any letter case and optionally
/// followed by one punctuation mark, separated by single spaces. Returns the grammar and
/// the longest output it allows, in bytes.
pub fn word_grammar(words: &[String]) -> (String, u32) {
    let mut text = String::from("root ::=");
    let mut max_bytes = 0u32;
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            text.push_str(" \" \"");
        }
        for c in word.chars() {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) if u != c && c.is_alphabetic() => {
                    let _ = write!(text, " [{c}{u}]");
                }
                _ => {
                    let mut lower = c.to_lowercase();
                    match (lower.next(), lower.next()) {
                        (Some(l), None) if l != c && c.is_alphabetic() => {
                            let _ = write!(text, " [{l}{c}]");
                        }
                        _ => {
                            let escaped = match c {
                                '"' => "\\\"".to_owned(),
                                '\\' => "\\\\".to_owned(),
                                c => c.to_string(),
                            };
                            let _ = write!(text, " \"{escaped}\"");
                        }
                    }
                }
            }
        }
        text.push_str(" punct");
        max_bytes += word.len() as u32 + 2;
    }
    text.push_str("\npunct ::= [,.;:!?]?\n");
    (text, max_bytes)
}

/// Restores punctuation and casing of `text`, chunk by chunk. Returns the cleaned text
/// and the tokens generated.
pub async fn clean(
    worker: &mut LlamaWorker,
    text: &str,
    timeout: Duration,
) -> Result<(String, u64), WorkerFailure> {
    let words = words_of(text);
    let mut cleaned = Vec::new();
    let mut tokens = 0u64;
    for chunk in words.chunks(WORDS_PER_REQUEST) {
        let (grammar, max_bytes) = word_grammar(chunk);
        let request = Generate {
            messages: vec![
                Message::new(
                    "system",
                    "You fix punctuation and capitalization of transcripts. You never change words.",
                ),
                Message::new(
                    "user",
                    format!(
                        "Rewrite this text with correct punctuation and capitalization:\n\n{}",
                        chunk.join(" ")
                    ),
                ),
            ],
            grammar: Some(grammar),
            max_tokens: max_bytes + 1,
            temperature: 0.0,
            seed: 1,
            // The grammar fixes every word; penalties would only fight it.
            repetition: Repetition::OFF,
        };
        let generated = worker.generate(request, timeout, &mut |_| {}).await?;
        tokens += u64::from(generated.generated_tokens);
        cleaned.push(generated.text.trim().to_owned());
    }
    Ok((cleaned.join(" "), tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_lose_surrounding_punctuation_only() {
        assert_eq!(
            words_of(" Hello, world! It's a well-known \"fact\". "),
            ["Hello", "world", "It's", "a", "well-known", "fact"]
        );
    }

    #[test]
    fn the_grammar_fixes_words_but_not_their_case() {
        let (grammar, max_bytes) = word_grammar(&["It's".to_owned(), "ok".to_owned()]);
        assert_eq!(
            grammar,
            "root ::= [iI] [tT] \"'\" [sS] punct \" \" [oO] [kK] punct\npunct ::= [,.;:!?]?\n"
        );
        assert_eq!(max_bytes, 6 + 4);
    }
}
