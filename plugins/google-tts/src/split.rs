//! Splitting a text into pieces of at most N bytes of UTF-8: at sentence ends when
//! possible, else at spaces, else between characters (never inside one: Vietnamese
//! letters take two or three bytes).

/// The pieces of `text`, each non-blank and at most `limit` bytes.
pub fn pieces(text: &str, limit: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for sentence in sentences(text) {
        for part in fit(sentence, limit) {
            if !current.is_empty() && current.len() + part.len() > limit {
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

/// `sentence` as parts of at most `limit` bytes: whole when it fits, else cut at the
/// last space before the limit, else at the last character boundary.
fn fit(sentence: &str, limit: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = sentence;
    while rest.len() > limit {
        let mut cut = limit;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
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
    fn pieces_keep_sentences_whole_and_stay_under_the_limit() {
        let text = "Cà phê rang mỗi sáng. Thơm ngon đậm đà! Mua ngay hôm nay?";
        assert_eq!(pieces(text, 5000), vec![text.to_string()]);
        let split = pieces(text, 40);
        assert!(split.iter().all(|piece| piece.len() <= 40), "{split:?}");
        assert_eq!(split[0], "Cà phê rang mỗi sáng.");
        let long = "ạ".repeat(10);
        let split = pieces(&long, 7);
        assert!(split.iter().all(|piece| piece.len() <= 7));
        assert_eq!(split.concat(), long);
    }
}
