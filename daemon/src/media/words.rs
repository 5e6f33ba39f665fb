//! Word timestamps from whisper.cpp's token timestamps: tokens are sub-words, a word
//! begins at each token that starts with a space, and special tokens (`[_BEG_]`,
//! `[_TT_150]`, `<|endoftext|>`, …) are not words at all.
//!
//! Invariant: the words of a segment are in order, each within the segment's start and
//! end, never ending before it starts nor starting before the previous word ends.

use super::transcript::Word;

/// One token of a whisper.cpp segment: its raw text and its time in seconds from the
/// start of the recording.
#[derive(Debug, Clone, Copy)]
pub struct TimedToken<'a> {
    /// The token's bytes as whisper.cpp gives them (a multi-byte character may be split
    /// between two tokens, so they are decoded only once joined into a word).
    pub bytes: &'a [u8],
    /// When the token starts, in seconds.
    pub start: f64,
    /// When it ends, in seconds.
    pub end: f64,
}

/// Whether a token is one of whisper.cpp's special tokens (timestamps, start and end
/// of text, language, task) rather than text.
pub fn is_special_token(bytes: &[u8]) -> bool {
    bytes.starts_with(b"[_") || bytes.starts_with(b"<|")
}

/// Joins a segment's tokens into words, kept within `segment_start..segment_end` (see
/// the module's invariant); special tokens and words that are only spaces are dropped.
pub fn words_from_tokens<'a>(
    tokens: impl IntoIterator<Item = TimedToken<'a>>,
    segment_start: f64,
    segment_end: f64,
) -> Vec<Word> {
    let mut joined: Vec<(Vec<u8>, f64, f64)> = Vec::new();
    for token in tokens {
        if token.bytes.is_empty() || is_special_token(token.bytes) {
            continue;
        }
        match joined.last_mut() {
            Some((bytes, _, end)) if !token.bytes.starts_with(b" ") => {
                bytes.extend_from_slice(token.bytes);
                *end = token.end;
            }
            _ => joined.push((token.bytes.to_vec(), token.start, token.end)),
        }
    }
    let low = if segment_start.is_finite() {
        segment_start.max(0.0)
    } else {
        0.0
    };
    let high = if segment_end.is_finite() {
        segment_end.max(low)
    } else {
        low
    };
    let within = |seconds: f64, floor: f64| {
        if seconds.is_finite() {
            seconds.clamp(floor, high)
        } else {
            floor
        }
    };
    let mut words = Vec::with_capacity(joined.len());
    let mut previous_end = low;
    for (bytes, start, end) in joined {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if text.is_empty() {
            continue;
        }
        let start = within(start, previous_end);
        let end = within(end, start);
        previous_end = end;
        words.push(Word { start, end, text });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str, start: f64, end: f64) -> TimedToken<'_> {
        TimedToken {
            bytes: text.as_bytes(),
            start,
            end,
        }
    }

    #[test]
    fn sub_word_tokens_join_at_leading_spaces_and_special_tokens_are_dropped() {
        let tokens = [
            token("[_BEG_]", 0.0, 0.0),
            token(" We", 0.0, 0.3),
            token(" ag", 0.3, 0.5),
            token("reed", 0.5, 0.8),
            token(" Tues", 0.9, 1.2),
            token("day", 1.2, 1.4),
            token(".", 1.4, 1.5),
            token("[_TT_75]", 1.5, 1.5),
            token("<|endoftext|>", 1.5, 1.5),
        ];
        let words = words_from_tokens(tokens, 0.0, 1.5);
        let expected = [
            ("We", 0.0, 0.3),
            ("agreed", 0.3, 0.8),
            ("Tuesday.", 0.9, 1.5),
        ];
        assert_eq!(words.len(), expected.len(), "{words:?}");
        for (word, (text, start, end)) in words.iter().zip(expected) {
            assert_eq!(
                (word.text.as_str(), word.start, word.end),
                (text, start, end)
            );
        }
    }

    #[test]
    fn a_character_split_between_tokens_is_decoded_once_joined() {
        let bytes = " Grüße".as_bytes();
        // "ü" is two bytes; cut between them.
        let cut = 4;
        let tokens = [
            TimedToken {
                bytes: &bytes[..cut],
                start: 0.0,
                end: 0.2,
            },
            TimedToken {
                bytes: &bytes[cut..],
                start: 0.2,
                end: 0.4,
            },
        ];
        let words = words_from_tokens(tokens, 0.0, 1.0);
        assert_eq!(words.len(), 1);
        assert_eq!(words[0].text, "Grüße");
    }

    #[test]
    fn word_times_stay_in_order_and_within_the_segment() {
        let tokens = [
            token(" early", 0.5, 1.5),
            token(" backwards", 3.0, 2.0),
            token(" overlapping", 2.5, 3.5),
            token(" late", 9.0, 12.0),
            token(" ", 4.0, 4.0),
            token(" broken", f64::NAN, f64::INFINITY),
        ];
        let words = words_from_tokens(tokens, 1.0, 4.0);
        let texts: Vec<&str> = words.iter().map(|word| word.text.as_str()).collect();
        assert_eq!(
            texts,
            ["early", "backwards", "overlapping", "late", "broken"]
        );
        let mut previous_end = 1.0;
        for word in &words {
            assert!(word.start >= previous_end, "{words:?}");
            assert!(word.end >= word.start && word.end <= 4.0, "{words:?}");
            previous_end = word.end;
        }
        assert_eq!(words[0].start, 1.0);
    }
}
