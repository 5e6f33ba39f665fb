//! A transcript and the files it is delivered as: `transcript.txt`, `.srt`, `.vtt` and
//! `.json`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Start in seconds from the beginning of the audio.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
    /// What was said.
    pub text: String,
}

/// A whole transcript (`transcript.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Language code (`en`, `de`, …), detected or configured.
    pub language: String,
    /// The model file name.
    pub model: String,
    /// Audio duration in seconds.
    pub duration_seconds: f64,
    /// Segments in time order.
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// Plain text: one segment per line.
    pub fn to_txt(&self) -> String {
        let mut text = String::new();
        for segment in &self.segments {
            text.push_str(segment.text.trim());
            text.push('\n');
        }
        text
    }

    /// SubRip subtitles.
    pub fn to_srt(&self) -> String {
        let mut text = String::new();
        for (index, segment) in self.segments.iter().enumerate() {
            let _ = write!(
                text,
                "{}\n{} --> {}\n{}\n\n",
                index + 1,
                timestamp(segment.start, ','),
                timestamp(segment.end, ','),
                segment.text.trim()
            );
        }
        text
    }

    /// WebVTT subtitles.
    pub fn to_vtt(&self) -> String {
        let mut text = String::from("WEBVTT\n\n");
        for segment in &self.segments {
            let _ = write!(
                text,
                "{} --> {}\n{}\n\n",
                timestamp(segment.start, '.'),
                timestamp(segment.end, '.'),
                segment.text.trim()
            );
        }
        text
    }
}

/// Word error rate of `hypothesis` against `reference`: (substitutions + deletions +
/// insertions) / reference words, after lower-casing and dropping punctuation.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let words = |text: &str| -> Vec<String> {
        text.split_whitespace()
            .map(|word| {
                word.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .flat_map(char::to_lowercase)
                    .collect::<String>()
            })
            .filter(|word| !word.is_empty())
            .collect()
    };
    let (reference, hypothesis) = (words(reference), words(hypothesis));
    if reference.is_empty() {
        return if hypothesis.is_empty() { 0.0 } else { 1.0 };
    }
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, expected) in reference.iter().enumerate() {
        let mut current = vec![i + 1; hypothesis.len() + 1];
        for (j, heard) in hypothesis.iter().enumerate() {
            let substitution = previous[j] + usize::from(expected != heard);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[hypothesis.len()] as f64 / reference.len() as f64
}

/// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT).
pub fn timestamp(seconds: f64, separator: char) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{separator}{:03}",
        millis / 3_600_000,
        millis / 60_000 % 60,
        millis / 1000 % 60,
        millis % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            language: "en".into(),
            model: "tiny.en".into(),
            duration_seconds: 3725.5,
            segments: vec![
                Segment {
                    start: 0.0,
                    end: 2.5,
                    text: " Hello there.".into(),
                },
                Segment {
                    start: 3661.25,
                    end: 3725.5,
                    text: "Bye.".into(),
                },
            ],
        }
    }

    #[test]
    fn word_error_rate_counts_edits_per_reference_word() {
        assert_eq!(word_error_rate("The cat sat.", "the cat sat"), 0.0);
        assert_eq!(
            word_error_rate("the cat sat on the mat", "the cat sat on a mat"),
            1.0 / 6.0
        );
        assert_eq!(word_error_rate("a b c d", "a c d"), 0.25);
        assert_eq!(word_error_rate("a b", "a b c d"), 1.0);
    }

    #[test]
    fn srt_and_vtt_use_their_own_timestamp_forms() {
        let transcript = sample();
        assert_eq!(
            transcript.to_srt(),
            "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:02:05,500\nBye.\n\n"
        );
        assert!(
            transcript
                .to_vtt()
                .starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")
        );
        assert_eq!(transcript.to_txt(), "Hello there.\nBye.\n");
    }
}
