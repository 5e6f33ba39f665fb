//! Strings a plugin hands the host (error messages, log lines, model names, MIME types,
//! words, its stderr) are untrusted. Before they reach a log line, an event or a JSON
//! record they are cut to a bound and their terminal controls (newlines, escapes,
//! direction marks: [`is_terminal_control`]) are replaced by spaces, so a plugin can neither
//! forge a log line nor drive the terminal of whoever reads its messages.

use super::bindings::{Media, Progress, ProviderError, SpeechResult};
use super::plugin::Answer;
use crate::logging::is_terminal_control;

/// Longest message (error, stderr tail) kept from a plugin, in characters.
pub const MESSAGE_CHARS: usize = 500;

/// Longest short field (model name, MIME type, word) kept, in characters.
const FIELD_CHARS: usize = 200;

/// `text` with control and direction characters replaced by spaces, cut to
/// `max_chars` characters (an ellipsis marks the cut).
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    for (count, letter) in text.chars().enumerate() {
        if count == max_chars {
            out.push('…');
            break;
        }
        out.push(if is_terminal_control(letter) {
            ' '
        } else {
            letter
        });
    }
    out
}

/// A plugin's error with its message cleaned.
pub fn clean_error(error: ProviderError) -> ProviderError {
    let message = |why: String| clean(&why, MESSAGE_CHARS);
    match error {
        ProviderError::RateLimited(after) => ProviderError::RateLimited(after),
        ProviderError::QuotaExhausted(why) => ProviderError::QuotaExhausted(message(why)),
        ProviderError::Unauthorized(why) => ProviderError::Unauthorized(message(why)),
        ProviderError::BadRequest(why) => ProviderError::BadRequest(message(why)),
        ProviderError::ContentBlocked(why) => ProviderError::ContentBlocked(message(why)),
        ProviderError::Unavailable(why) => ProviderError::Unavailable(message(why)),
        ProviderError::Other(why) => ProviderError::Other(message(why)),
    }
}

/// An answer's plugin-written labels cleaned (the model name, MIME types, words);
/// its content (a text answer, media bytes, a poll state) is left as it is.
pub fn clean_answer(answer: Answer) -> Answer {
    let field = |text: &mut String| *text = clean(text, FIELD_CHARS);
    let media = |media: &mut Media| match media {
        Media::Bytes(image) => field(&mut image.mime_type),
        Media::Download(download) => field(&mut download.mime_type),
    };
    match answer {
        Answer::Text(mut text) => {
            field(&mut text.model);
            Answer::Text(text)
        }
        Answer::Image(mut image) => {
            field(&mut image.mime_type);
            Answer::Image(image)
        }
        Answer::Speech(mut speech) => {
            let SpeechResult {
                audio,
                format,
                words,
            } = &mut speech;
            media(audio);
            field(format);
            for word in words {
                field(&mut word.word);
            }
            Answer::Speech(speech)
        }
        Answer::Progress(Progress::Done(mut done)) => {
            media(&mut done);
            Answer::Progress(Progress::Done(done))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_spaces_and_long_text_is_cut() {
        let forged =
            "failed\n2026-11-26T00:00:00Z ERROR chute: forged\r\u{1b}[31mred\u{202e}txt\u{2028}x";
        let cleaned = clean(forged, MESSAGE_CHARS);
        assert!(!cleaned.chars().any(is_terminal_control));
        assert!(cleaned.starts_with("failed 2026-11-26T00:00:00Z ERROR"));
        assert_eq!(clean("Cà phê", 100), "Cà phê");
        let long = clean(&"ạ".repeat(1_000), 10);
        assert_eq!(long.chars().count(), 11);
        assert!(long.ends_with('…'));
        match clean_error(ProviderError::Other("a\nb".into())) {
            ProviderError::Other(why) => assert_eq!(why, "a b"),
            other => panic!("{other:?}"),
        }
    }
}
