//! Quantized whisper weights: the converter's q8_0, q5_1 and q5_0 files load in
//! whisper.cpp and transcribe a fixed espeak-ng clip about as well as f16, and the daemon
//! converts the bundled model with the default weights and records them in result.json.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chute::media::child::{DecodeLimits, decode_in_child};
use chute::media::config::TranscribeConfig;
use chute::media::transcript::word_error_rate;
use chute::media::whisper::{TranscribeSettings, WhisperModel};
use chute::models::quantize::Weights;

use super::harness::{Spool, secs};
use super::{SENTENCES, audio_config, drop_speech, models_ready, speak, stage};

/// The fixed clip: three sentences at 150 words per minute, in one recording.
fn fixed_clip(dir: &Path) -> (std::path::PathBuf, String) {
    let text = SENTENCES[..3].join(" ");
    (speak(dir, "clip.wav", &text, 150), text)
}

/// Each quantized conversion of tiny.en is a model whisper.cpp loads as that type, a
/// fraction of the f16 file's size, and transcribes the fixed clip with a word error
/// rate of at most 0.25 (q5_1 scored 0.21 here, "twelve thousand" heard as "12,000"
/// counting as two errors; a wrong block layout makes whisper hear nonsense, near 1).
#[test]
fn quantized_conversions_transcribe_the_fixed_clip_within_the_wer_bound() {
    let models = models_ready();
    let ct2 = models.join("ct2/whisper-tiny.en");
    let dir = tempfile::tempdir().unwrap();
    let (clip, text) = fixed_clip(dir.path());
    let samples = dir.path().join("clip.f32");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(decode_in_child(
            Path::new(super::harness::BIN),
            &clip,
            &samples,
            &DecodeLimits::default(),
            |_| {},
        ))
        .unwrap();
    let f16_bytes = std::fs::metadata(models.join("ggml/whisper-tiny.en.bin"))
        .unwrap()
        .len();
    // One thread, greedy: the suite's tests run in parallel (see `audio_config`).
    let settings = TranscribeSettings {
        threads: 1,
        beam_size: None,
        language: Some("en".into()),
        ..TranscribeSettings::default()
    };
    for (weights, largest_share) in [
        (Weights::Q8_0, 0.6),
        (Weights::Q5_1, 0.45),
        (Weights::Q5_0, 0.45),
    ] {
        let output = dir.path().join(format!("tiny-{}.bin", weights.name()));
        chute::models::ct2::convert_as(&ct2, &output, weights).unwrap();
        let bytes = std::fs::metadata(&output).unwrap().len();
        assert!(
            (bytes as f64) < f16_bytes as f64 * largest_share,
            "{}: {bytes} bytes against f16's {f16_bytes}",
            weights.name()
        );
        let model = WhisperModel::load(&output, false).unwrap();
        assert_eq!(model.weights(), weights.name());
        let transcript = model
            .transcribe(
                &samples,
                &settings,
                Arc::new(|_| {}),
                Arc::new(AtomicBool::new(false)),
            )
            .unwrap();
        let heard = transcript.to_txt();
        let wer = word_error_rate(&text, &heard);
        assert!(
            wer <= 0.25,
            "{}: WER {wer:.3} for {heard:?} (said {text:?})",
            weights.name()
        );
    }
}

/// With no model configured the daemon converts the bundled faster-whisper model with the
/// default weights into its own file, and result.json's transcribe stage names the
/// weights and the decoding next to its real-time factor.
#[test]
fn the_daemon_transcribes_with_the_default_weights_and_records_them() {
    models_ready();
    let spool = Spool::new(&audio_config("enabled = false", ""));
    let daemon = spool.start_daemon();
    drop_speech(&spool, "note.wav", SENTENCES[0], 150);
    spool.wait_delivered("audio", 1, secs(300));
    let log = daemon.log();
    drop(daemon);
    let outcome = spool.deliveries("audio").remove(0);
    let transcribe = stage(&outcome, "transcribe");
    let outputs = &transcribe["outputs"];
    let weights = TranscribeConfig::default().weights.name();
    assert_eq!(outputs["weights"], weights, "{}", outcome.record);
    assert_eq!(outputs["decoding"], "greedy", "{}", outcome.record);
    assert!(
        outputs["realtime_factor"].as_f64().unwrap() > 0.0,
        "{}",
        outcome.record
    );
    assert!(log.contains("Transcribed the recording."), "{log}");
    let heard = std::fs::read_to_string(outcome.dir.join("transcript.txt")).unwrap();
    let wer = word_error_rate(SENTENCES[0], &heard);
    assert!(wer <= 0.25, "WER {wer:.3} for {heard:?}");
}
