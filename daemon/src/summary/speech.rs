//! Is there anything to summarize? whisper.cpp writes non-speech markers for silence,
//! noise and music (`[BLANK_AUDIO]`, `[Music]`, `(wind blowing)`, `*coughs*`, `♪`);
//! a recording with no words besides them, or only a handful, gets no summary: a model
//! asked to summarize nothing fills the template with its own filler.

/// The transcript's words once non-speech markers are removed: bracketed (`[…]`),
/// parenthesized (`(…)`) and starred (`*…*`) spans and music notes; a word is a run
/// with at least one letter or digit.
pub fn spoken_words(text: &str) -> usize {
    let mut spoken = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '[' => closing = Some(']'),
                '(' => closing = Some(')'),
                '*' => closing = Some('*'),
                '♪' | '♫' | '♬' => spoken.push(' '),
                c => spoken.push(c),
            },
        }
        if closing.is_some() {
            spoken.push(' ');
        }
    }
    spoken
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .count()
}

/// Why a transcript is too empty to summarize, or `None` when it has at least
/// `min_words` spoken words (and at least one: no words is never summarized).
pub fn nothing_to_summarize(segments: &[String], min_words: u32) -> Option<String> {
    let words: usize = segments.iter().map(|text| spoken_words(text)).sum();
    if words >= (min_words as usize).max(1) {
        return None;
    }
    Some(if words == 0 {
        "nothing to summarize: the recording has no speech (the transcript holds only silence or noise markers such as [BLANK_AUDIO])".to_owned()
    } else {
        format!(
            "nothing to summarize: the recording has only {words} spoken word{} (summarize.min_words is {min_words})",
            if words == 1 { "" } else { "s" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_speech_markers_are_not_words() {
        assert_eq!(spoken_words("[BLANK_AUDIO]"), 0);
        assert_eq!(
            spoken_words(" [Music] ♪ la la ♪ (wind blowing) *coughs* - ... "),
            2
        );
        assert_eq!(spoken_words("We ship on Friday. [BLANK_AUDIO] Thanks!"), 5);
        assert_eq!(spoken_words("The budget is 12,000 euros."), 5);
    }

    #[test]
    fn blank_and_near_blank_transcripts_have_nothing_to_summarize() {
        let blank = ["[BLANK_AUDIO]".to_owned(), "[BLANK_AUDIO]".to_owned()];
        let reason = nothing_to_summarize(&blank, 6).expect("blank");
        assert!(reason.contains("no speech"), "{reason}");
        let thanks = ["Thank you.".to_owned()];
        let reason = nothing_to_summarize(&thanks, 6).expect("near blank");
        assert!(reason.contains("only 2 spoken words"), "{reason}");
        let memo = ["The budget for the spring campaign is 12,000 euros.".to_owned()];
        assert_eq!(nothing_to_summarize(&memo, 6), None);
        assert_eq!(nothing_to_summarize(&thanks, 0), None);
        assert!(nothing_to_summarize(&[], 0).is_some());
    }
}
