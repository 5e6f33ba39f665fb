//! Word timestamps from the real whisper.cpp model, through the daemon: what
//! `transcribe.word_timestamps` adds to transcript.json, and the subtitles made with it.

use serde_json::Value;

use super::harness::{Config, Spool, secs};

/// With `transcribe.word_timestamps`, each segment of transcript.json lists its words in
/// order, each within the segment's time, spelling the segment's text; the file matches
/// docs/transcript.schema.json, and the subtitle cues stay within two lines of 42.
#[test]
fn word_timestamps_list_each_segments_words_in_order_within_its_time() {
    super::models_ready();
    let config = Config {
        routes: Vec::new(),
        extra: "[transcribe]\nbeam_size = 0\nthreads = 1\nword_timestamps = true\n\n\
                [summarize]\nenabled = false\n"
            .to_owned(),
        ..Config::default()
    };
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    let speech = format!("{} {}", super::SENTENCES[0], super::SENTENCES[1]);
    super::drop_speech(&spool, "words.wav", &speech, 150);
    spool.wait_delivered("audio", 1, secs(180));
    drop(daemon);
    let outcome = spool.deliveries("audio").pop().unwrap();
    let transcript: Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("transcript.json")).unwrap())
            .unwrap();

    let schema: Value =
        serde_json::from_str(include_str!("../../docs/transcript.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&transcript)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{transcript:#}: {errors:?}");

    let segments = transcript["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{transcript:#}");
    let letters = |text: &str| -> String {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    for segment in segments {
        let (start, end) = (
            segment["start"].as_f64().unwrap(),
            segment["end"].as_f64().unwrap(),
        );
        let words = segment["words"]
            .as_array()
            .unwrap_or_else(|| panic!("a segment without words: {segment}"));
        assert!(!words.is_empty(), "{segment}");
        let mut previous_start = start;
        let mut spelled = String::new();
        for word in words {
            let (word_start, word_end) = (
                word["start"].as_f64().unwrap(),
                word["end"].as_f64().unwrap(),
            );
            assert!(word_start <= word_end, "{word} in {segment}");
            assert!(
                start <= word_start && word_end <= end,
                "{word} outside {segment}"
            );
            assert!(
                word_start >= previous_start,
                "{word} out of order in {segment}"
            );
            previous_start = word_start;
            spelled.push_str(word["text"].as_str().unwrap());
        }
        assert_eq!(
            letters(&spelled),
            letters(segment["text"].as_str().unwrap()),
            "{segment}"
        );
    }

    let srt = std::fs::read_to_string(outcome.dir.join("transcript.srt")).unwrap();
    for cue in srt.split("\n\n").filter(|cue| !cue.trim().is_empty()) {
        let lines: Vec<&str> = cue.lines().skip(2).collect();
        assert!((1..=2).contains(&lines.len()), "{cue:?}");
        assert!(
            lines.iter().all(|line| line.chars().count() <= 42),
            "{cue:?}"
        );
    }
}
