//! Splitting a text into pieces a provider accepts in one request: at sentence ends
//! when possible, else at spaces, else between characters (never inside one:
//! Vietnamese letters take two or three bytes of UTF-8). Limits are counted in bytes
//! (Google Cloud TTS: 5,000 bytes) or in characters (ElevenLabs: 10,000 characters
//! for its multilingual models).

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Bytes of UTF-8.
    Bytes,
    /// Unicode scalar values (what Python's `len()` counts).
    Chars,
}

impl Measure {
    /// The size of `text` in this measure.
    pub fn of(self, text: &str) -> usize {
        match self {
            Measure::Bytes => text.len(),
            Measure::Chars => text.chars().count(),
        }
    }

    /// The byte length of the longest prefix of `text` whose size is at most `limit`.
    fn prefix(self, text: &str, limit: usize) -> usize {
        match self {
            Measure::Bytes => {
                let mut cut = limit.min(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                cut
            }
            Measure::Chars => text
                .char_indices()
                .nth(limit)
                .map_or(text.len(), |(at, _)| at),
        }
    }
}

/// The pieces of `text`, each non-blank and at most `limit` in `measure`; joined with
/// the whitespace between them they are `text`.
pub fn pieces(text: &str, limit: usize, measure: Measure) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for sentence in sentences(text) {
        for part in fit(sentence, limit, measure) {
            if !current.is_empty() && measure.of(&current) + measure.of(part) > limit {
                pieces.push(std::mem::take(&mut current));
            }
            current.push_str(part);
        }
    }
    pieces.push(current);
    pieces
        .into_iter()
        .map(|piece| piece.trim().to_string())
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// Sentences with their trailing punctuation and spaces (their concatenation is
/// `text`).
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut ended = false;
    for (at, letter) in text.char_indices() {
        if ended && !letter.is_whitespace() && !is_end(letter) {
            out.push(&text[start..at]);
            start = at;
            ended = false;
        }
        if is_end(letter) || letter == '\n' {
            ended = true;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn is_end(letter: char) -> bool {
    matches!(letter, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

/// `sentence` as parts of at most `limit`: whole when it fits, else cut at the last
/// space before the limit, else at the last character boundary.
fn fit(sentence: &str, limit: usize, measure: Measure) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = sentence;
    while measure.of(rest) > limit {
        let mut cut = measure.prefix(rest, limit);
        if let Some(space) = rest[..cut].rfind(char::is_whitespace).filter(|at| *at > 0) {
            cut = space + rest[space..].chars().next().map_or(1, char::len_utf8);
        }
        if cut == 0 {
            // A limit smaller than one character: give the character its own part.
            cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        parts.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_sentences_whole_and_stay_under_a_byte_limit() {
        let text = "Cà phê rang mỗi sáng. Thơm ngon đậm đà! Mua ngay hôm nay?";
        assert_eq!(pieces(text, 5000, Measure::Bytes), vec![text.to_string()]);
        let split = pieces(text, 40, Measure::Bytes);
        assert!(split.iter().all(|piece| piece.len() <= 40), "{split:?}");
        assert_eq!(split[0], "Cà phê rang mỗi sáng.");
        let long = "ạ".repeat(10);
        let split = pieces(&long, 7, Measure::Bytes);
        assert!(split.iter().all(|piece| piece.len() <= 7));
        assert_eq!(split.concat(), long);
    }

    #[test]
    fn a_character_limit_counts_letters_not_bytes() {
        // 21 characters, 29 bytes: one piece by characters, two by bytes.
        let text = "Cà phê rang mỗi sáng.";
        assert_eq!(Measure::Chars.of(text), 21);
        assert_eq!(pieces(text, 21, Measure::Chars), vec![text.to_string()]);
        assert_eq!(pieces(text, 21, Measure::Bytes).len(), 2);
        let long = "ạ".repeat(10);
        let split = pieces(&long, 4, Measure::Chars);
        assert_eq!(split, vec!["ạạạạ", "ạạạạ", "ạạ"]);
        let words = "một hai ba bốn năm sáu bảy tám chín mười";
        let split = pieces(words, 12, Measure::Chars);
        assert!(split.iter().all(|piece| Measure::Chars.of(piece) <= 12));
        assert_eq!(split.join(" "), words);
    }
}
