//! A transcript and the files it is delivered as: `transcript.txt`, `.srt`, `.vtt` and
//! `.json`. `transcript.json` is the serialized [`Transcript`]; its schema is
//! `docs/transcript.schema.json` (a test keeps the two in step). The subtitle files are
//! laid out by [`super::subtitles`].

use serde::{Deserialize, Serialize};

use super::subtitles;

/// One stretch of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Start in seconds from the beginning of the audio.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
    /// What was said.
    pub text: String,
    /// Its words with their times, in order, when word timestamps were asked for
    /// (`transcribe.word_timestamps`); empty otherwise, and then left out of the JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
}

impl Segment {
    /// A segment without word times.
    pub fn new(start: f64, end: f64, text: impl Into<String>) -> Segment {
        Segment {
            start,
            end,
            text: text.into(),
            words: Vec::new(),
        }
    }
}

/// One word of a segment with its time (from whisper.cpp's token timestamps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    /// Start in seconds from the beginning of the audio, within its segment.
    pub start: f64,
    /// End in seconds; never before `start`, never after the segment's end.
    pub end: f64,
    /// The word as written, with attached punctuation (`Tuesday.`), no spaces.
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

    /// SubRip subtitles, in cues of at most two lines (see [`subtitles::cues`]).
    pub fn to_srt(&self) -> String {
        subtitles::to_srt(&subtitles::cues(&self.segments))
    }

    /// WebVTT subtitles, in the same cues as [`to_srt`](Self::to_srt).
    pub fn to_vtt(&self) -> String {
        subtitles::to_vtt(&subtitles::cues(&self.segments))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

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
                    words: Vec::new(),
                },
                Segment {
                    start: 3661.25,
                    end: 3725.5,
                    text: "Bye.".into(),
                    words: Vec::new(),
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

    fn with_words() -> Transcript {
        let mut transcript = sample();
        transcript.segments[0].words = vec![
            Word {
                start: 0.0,
                end: 0.62,
                text: "Hello".into(),
            },
            Word {
                start: 0.62,
                end: 2.5,
                text: "there.".into(),
            },
        ];
        transcript
    }

    #[test]
    fn words_survive_a_json_round_trip_and_are_left_out_when_empty() {
        let transcript = with_words();
        let json = serde_json::to_value(&transcript).unwrap();
        assert_eq!(
            json["segments"][0]["words"][1],
            serde_json::json!({"start": 0.62, "end": 2.5, "text": "there."})
        );
        assert!(json["segments"][1].get("words").is_none(), "{json}");
        let back: Transcript = serde_json::from_value(json).unwrap();
        assert_eq!(back, transcript);
    }

    #[test]
    fn a_transcript_json_from_before_word_timestamps_still_loads() {
        let old = r#"{"language":"en","model":"whisper-tiny.en.bin","duration_seconds":4.5,
            "segments":[{"start":0.0,"end":4.5,"text":"We agreed to ship on Tuesday."}]}"#;
        let transcript: Transcript = serde_json::from_str(old).unwrap();
        assert_eq!(transcript.segments[0].text, "We agreed to ship on Tuesday.");
        assert!(transcript.segments[0].words.is_empty());
    }

    /// The keys of an object in the documented schema, in the schema's order.
    fn documented_keys(schema: &serde_json::Value) -> Vec<&str> {
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    fn written_keys(value: &serde_json::Value) -> Vec<&str> {
        value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// docs/transcript.schema.json names exactly the fields transcript.json has, and a
    /// transcript as written (with and without words) is valid against it.
    #[test]
    fn the_documented_schema_matches_what_is_written() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/transcript.schema.json")).unwrap();
        let written = serde_json::to_value(with_words()).unwrap();
        assert_eq!(documented_keys(&schema), written_keys(&written));
        assert_eq!(
            documented_keys(&schema["$defs"]["segment"]),
            written_keys(&written["segments"][0])
        );
        assert_eq!(
            documented_keys(&schema["$defs"]["word"]),
            written_keys(&written["segments"][0]["words"][0])
        );
        // Everything but `words` is always written, so always required.
        assert_eq!(
            schema["required"],
            serde_json::json!(written_keys(&written))
        );
        assert_eq!(
            schema["$defs"]["segment"]["required"],
            serde_json::json!(["start", "end", "text"])
        );
        let validator = jsonschema::validator_for(&schema).unwrap();
        for transcript in [sample(), with_words()] {
            let value = serde_json::to_value(transcript).unwrap();
            let errors: Vec<String> = validator
                .iter_errors(&value)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{value}: {errors:?}");
        }
    }
}
