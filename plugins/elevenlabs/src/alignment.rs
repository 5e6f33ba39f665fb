//! The `/with-timestamps` answer: `audio_base64` and an `alignment` of three
//! parallel arrays (characters, their start and end times in seconds).
//!
//! The characters are grouped into words (split at whitespace), which go back with the
//! audio so captions can follow the speech word by word; a malformed alignment is an
//! error rather than audio whose captions would be wrong.

use chute_plugin_sdk::serde_json::Value;
use chute_plugin_sdk::{ProviderError, WordTime, base64_decode, serde_json};

/// One character's timing: the character (ElevenLabs sends one per entry), its start
/// and end in seconds.
pub type Timed = (String, f64, f64);

/// The audio of a with-timestamps answer and its words' timings, after the alignment
/// checked out.
pub fn read(body: &[u8], text: &str) -> Result<(Vec<u8>, Vec<WordTime>), ProviderError> {
    let answer: Value = serde_json::from_slice(body)
        .map_err(|error| bad(&format!("the answer is not JSON: {error}")))?;
    let audio = answer
        .get("audio_base64")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the answer has no audio_base64"))?;
    let timed = parse(
        answer
            .get("alignment")
            .ok_or_else(|| bad("the answer has no alignment"))?,
    )?;
    if timed.is_empty() && !text.trim().is_empty() {
        return Err(bad("the alignment is empty"));
    }
    Ok((base64_decode(audio)?, words(&timed)))
}

/// Characters grouped into words at whitespace: each word from its first character's
/// start to its last character's end, in milliseconds.
pub fn words(timed: &[Timed]) -> Vec<WordTime> {
    let millis = |seconds: f64| (seconds * 1000.0).round().clamp(0.0, u32::MAX as f64) as u32;
    let mut words = Vec::new();
    let mut current: Option<WordTime> = None;
    for (character, start, end) in timed {
        if character.chars().all(char::is_whitespace) {
            words.extend(current.take());
            continue;
        }
        match current.as_mut() {
            Some(word) => {
                word.word.push_str(character);
                word.end_ms = millis(*end);
            }
            None => {
                current = Some(WordTime {
                    word: character.clone(),
                    start_ms: millis(*start),
                    end_ms: millis(*end),
                })
            }
        }
    }
    words.extend(current);
    words
}

/// The alignment's characters with their times; the three arrays must be equally
/// long and every time finite, non-negative and ordered.
pub fn parse(alignment: &Value) -> Result<Vec<Timed>, ProviderError> {
    let list = |name: &str| {
        alignment
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&format!("the alignment has no {name} array")))
    };
    let characters = list("characters")?;
    let starts = list("character_start_times_seconds")?;
    let ends = list("character_end_times_seconds")?;
    if characters.len() != starts.len() || characters.len() != ends.len() {
        return Err(bad(&format!(
            "the alignment arrays differ in length ({} characters, {} starts, {} ends)",
            characters.len(),
            starts.len(),
            ends.len()
        )));
    }
    let mut timed = Vec::with_capacity(characters.len());
    let mut last_start = 0.0;
    for ((character, start), end) in characters.iter().zip(starts).zip(ends) {
        let character = character
            .as_str()
            .ok_or_else(|| bad("an alignment character is not a string"))?;
        let (Some(start), Some(end)) = (start.as_f64(), end.as_f64()) else {
            return Err(bad("an alignment time is not a number"));
        };
        if !(start.is_finite() && end.is_finite()) || start < last_start || end < start {
            return Err(bad(&format!(
                "the alignment times are out of order at `{character}` ({start} to {end})"
            )));
        }
        last_start = start;
        timed.push((character.to_string(), start, end));
    }
    Ok(timed)
}

fn bad(why: &str) -> ProviderError {
    ProviderError::Other(format!("malformed with-timestamps answer: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chute_plugin_sdk::serde_json::json;

    #[test]
    fn parallel_ordered_arrays_pass_and_anything_else_is_an_error() {
        let good = json!({"characters": ["H", "i"], "character_start_times_seconds": [0.0, 0.1],
                          "character_end_times_seconds": [0.1, 0.2]});
        assert_eq!(parse(&good).map(|timed| timed.len()).ok(), Some(2));
        let short = json!({"characters": ["H", "i"], "character_start_times_seconds": [0.0, 0.1],
                           "character_end_times_seconds": [0.1]});
        assert!(parse(&short).is_err());
        let backwards = json!({"characters": ["H", "i"], "character_start_times_seconds": [0.1, 0.0],
                               "character_end_times_seconds": [0.2, 0.1]});
        assert!(parse(&backwards).is_err());
    }

    #[test]
    fn characters_become_words_timed_from_first_to_last_letter() {
        let timed: Vec<Timed> = [
            ("H", 0.0, 0.1),
            ("i", 0.1, 0.2),
            (" ", 0.2, 0.3),
            ("y", 0.3, 0.35),
            ("o", 0.35, 0.5),
        ]
        .iter()
        .map(|(c, s, e)| (c.to_string(), *s, *e))
        .collect();
        let words = words(&timed);
        assert_eq!(words.len(), 2);
        assert_eq!(
            (words[0].word.as_str(), words[0].start_ms, words[0].end_ms),
            ("Hi", 0, 200)
        );
        assert_eq!(
            (words[1].word.as_str(), words[1].start_ms, words[1].end_ms),
            ("yo", 300, 500)
        );
    }
}
