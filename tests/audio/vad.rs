//! Voice activity detection with the real Silero model (converted from the PyPI
//! safetensors file) and the real whisper tiny.en model, on espeak-ng speech assembled
//! with sox, so where the speech is is known from how the clip was made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chute::media::vad::{VadModel, VadSettings};
use chute::media::whisper::{TranscribeSettings, Transcription, WhisperModel};
use serde_json::Value;

use super::harness::{Config, Spool, secs};

const FIRST: &str = "We agreed to ship the new invoice screen next Tuesday.";
const SECOND: &str = "Maria will call the supplier about the delayed parts.";

/// The converted Silero model in the models folder (converted once by `models_ready`).
fn silero_model() -> PathBuf {
    let models = super::models_ready();
    let ggml = models.join(chute::media::config::DEFAULT_VAD_MODEL);
    assert!(
        ggml.is_file(),
        "{} is missing: run scripts/fetch-test-models.sh",
        models.join(chute::media::config::VAD_SAFETENSORS).display()
    );
    ggml
}

fn sox(args: &[&str]) {
    let status = Command::new("sox")
        .args(args)
        .status()
        .expect("sox (installed by .ci/install)");
    assert!(status.success(), "sox {args:?}");
}

/// `text` spoken by espeak-ng with its own leading and trailing silence cut off, so the
/// file is speech from its first to its last sample. Returns the file and its seconds.
fn tight_speech(dir: &Path, name: &str, text: &str) -> (PathBuf, f64) {
    let raw = super::speak(dir, &format!("raw-{name}"), text, 160);
    let tight = dir.join(name);
    sox(&[
        raw.to_str().unwrap(),
        "-r",
        "16000",
        tight.to_str().unwrap(),
        "silence",
        "1",
        "0.02",
        "1%",
        "reverse",
        "silence",
        "1",
        "0.02",
        "1%",
        "reverse",
    ]);
    (tight.clone(), seconds(&tight))
}

fn seconds(wav: &Path) -> f64 {
    let output = Command::new("soxi").arg("-D").arg(wav).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// `lead` s of silence, the first sentence, `gap` s of silence, the second sentence and
/// `tail` s of silence, at 16 kHz. Returns the wav and the speech spans in seconds.
fn assemble(dir: &Path, lead: f64, gap: f64, tail: f64) -> (PathBuf, [(f64, f64); 2]) {
    let (first, first_seconds) = tight_speech(dir, "first.wav", FIRST);
    let (second, second_seconds) = tight_speech(dir, "second.wav", SECOND);
    let padded_first = dir.join("padded-first.wav");
    sox(&[
        first.to_str().unwrap(),
        padded_first.to_str().unwrap(),
        "pad",
        &lead.to_string(),
        &gap.to_string(),
    ]);
    let padded_second = dir.join("padded-second.wav");
    sox(&[
        second.to_str().unwrap(),
        padded_second.to_str().unwrap(),
        "pad",
        "0",
        &tail.to_string(),
    ]);
    let clip = dir.join("clip.wav");
    sox(&[
        padded_first.to_str().unwrap(),
        padded_second.to_str().unwrap(),
        clip.to_str().unwrap(),
    ]);
    let second_start = lead + first_seconds + gap;
    (
        clip,
        [
            (lead, lead + first_seconds),
            (second_start, second_start + second_seconds),
        ],
    )
}

/// The clip as 16 kHz mono f32 samples (what the decode stage writes), in a file.
fn samples_file(clip: &Path) -> PathBuf {
    let raw = clip.with_extension("f32");
    sox(&[
        clip.to_str().unwrap(),
        "-t",
        "f32",
        "-e",
        "floating-point",
        "-r",
        "16000",
        "-c",
        "1",
        raw.to_str().unwrap(),
    ]);
    raw
}

fn read_samples(raw: &Path) -> Vec<f32> {
    std::fs::read(raw)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The converted model finds the two sentences of a fixed clip where sox put them:
/// 2 s of silence, the first sentence, 5 s of silence, the second, 3 s of silence.
#[test]
fn the_converted_silero_model_finds_the_speech_where_the_clip_has_it() {
    let model_path = silero_model();
    let dir = tempfile::tempdir().unwrap();
    let (clip, expected) = assemble(dir.path(), 2.0, 5.0, 3.0);
    let samples = read_samples(&samples_file(&clip));
    let mut model = VadModel::load(&model_path).unwrap();
    let spans = model
        .speech(&samples, &VadSettings::default(), &AtomicBool::new(false))
        .unwrap();
    let found: Vec<(f64, f64)> = spans
        .iter()
        .map(|span| (span.start as f64 / 16_000.0, span.end as f64 / 16_000.0))
        .collect();
    assert_eq!(found.len(), 2, "found {found:?}, made {expected:?}");
    for ((start, end), (made_start, made_end)) in found.iter().zip(expected) {
        assert!(
            (start - made_start).abs() < 0.3 && (end - made_end).abs() < 0.3,
            "found {found:?}, made {expected:?}"
        );
    }
}

fn transcribe(raw: &Path, vad: Option<VadSettings>) -> Transcription {
    let model = WhisperModel::load(
        &super::models_ready().join("ggml/whisper-tiny.en.bin"),
        false,
    )
    .unwrap();
    let settings = TranscribeSettings {
        threads: 1,
        beam_size: None,
        vad,
        ..TranscribeSettings::default()
    };
    model
        .transcribe_counted(
            raw,
            &settings,
            Arc::new(|_| {}),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Sentence, 30 s of silence, sentence: with VAD both sentences are transcribed, the
/// second one timed after the silence (within a second of where it was put), and whisper
/// processes far fewer samples than without VAD.
#[test]
fn silence_between_two_sentences_is_skipped_and_times_stay_in_the_recording() {
    let vad_model = silero_model();
    let dir = tempfile::tempdir().unwrap();
    let (clip, [first, second]) = assemble(dir.path(), 1.0, 30.0, 1.0);
    let raw = samples_file(&clip);
    let with_vad = transcribe(
        &raw,
        Some(VadSettings {
            model: vad_model,
            ..VadSettings::default()
        }),
    );
    let without = transcribe(&raw, None);
    let segments = &with_vad.transcript.segments;
    let heard = |segment: &chute::media::transcript::Segment, sentence: &str| {
        let said = words(&segment.text);
        words(sentence)
            .iter()
            .filter(|word| said.contains(word))
            .count()
            >= 3
    };
    let first_segment = segments
        .iter()
        .find(|segment| heard(segment, FIRST))
        .unwrap_or_else(|| panic!("the first sentence is missing: {segments:?}"));
    let second_segment = segments
        .iter()
        .find(|segment| heard(segment, SECOND))
        .unwrap_or_else(|| panic!("the second sentence is missing: {segments:?}"));
    assert!(
        (first_segment.start - first.0).abs() < 1.0,
        "{first_segment:?} vs {first:?}"
    );
    assert!(
        (second_segment.start - second.0).abs() < 1.0
            && (second_segment.end - second.1).abs() < 1.0,
        "{second_segment:?} vs {second:?}"
    );
    assert_eq!(with_vad.total_samples, without.total_samples);
    let speech = with_vad.speech_samples.unwrap();
    let made_speech = ((first.1 - first.0) + (second.1 - second.0)) * 16_000.0;
    assert!(
        (speech as f64) > made_speech * 0.8 && (speech as f64) < made_speech + 2.0 * 16_000.0,
        "speech {speech} samples, made {made_speech}"
    );
    assert!(without.processed_samples >= without.total_samples);
    assert!(without.speech_samples.is_none());
    // Whisper heard the speech and little else: under half the samples it gets without VAD.
    assert!(
        with_vad.processed_samples * 2 < without.processed_samples,
        "with VAD {} samples, without {}",
        with_vad.processed_samples,
        without.processed_samples
    );
}

fn vad_config(vad: &str) -> Config {
    super::models_ready();
    Config {
        routes: Vec::new(),
        extra: format!(
            "[transcribe]\nbeam_size = 0\nthreads = 1\n\n[transcribe.vad]\n{vad}\n\n\
             [summarize]\nenabled = false\n"
        ),
        ..Config::default()
    }
}

/// The clip through the daemon with the default settings: result.json records that VAD
/// ran, its model, the speech seconds and the processed vs total samples; the transcript
/// times the second sentence after the silence.
#[test]
fn the_daemon_transcribes_only_speech_and_reports_it() {
    silero_model();
    let spool = Spool::new(&vad_config(""));
    let (clip, [_, second]) = assemble(&spool.outside, 1.0, 30.0, 1.0);
    let daemon = spool.start_daemon();
    std::fs::rename(&clip, spool.inbox("audio").join("gap.wav")).unwrap();
    spool.wait_delivered("audio", 1, secs(240));
    let log = daemon.log();
    drop(daemon);
    let outcome = spool.deliveries("audio").pop().unwrap();
    let outputs = &super::stage(&outcome, "transcribe")["outputs"];
    assert_eq!(outputs["vad"]["ran"], true, "{outputs}");
    assert_eq!(
        outputs["vad"]["model"], "silero_vad_16k.ggml.bin",
        "{outputs}"
    );
    let speech_seconds = outputs["vad"]["speech_seconds"].as_f64().unwrap();
    assert!(speech_seconds > 3.0 && speech_seconds < 15.0, "{outputs}");
    let total = outputs["total_samples"].as_u64().unwrap();
    let processed = outputs["processed_samples"].as_u64().unwrap();
    assert!(total > 30 * 16_000, "{outputs}");
    assert!(processed * 2 < total, "{outputs}");
    assert!(
        log.contains("Transcribed.") && log.contains("processed_samples="),
        "{log}"
    );
    let transcript: Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("transcript.json")).unwrap())
            .unwrap();
    let last = transcript["segments"].as_array().unwrap().last().unwrap();
    assert!(
        (last["start"].as_f64().unwrap() - second.0).abs() < 1.0,
        "{last} vs {second:?}"
    );
}

/// A corrupt VAD model never reaches whisper.cpp: with `enabled = true` the job fails
/// naming the file; with "auto" the recording is transcribed without VAD and result.json
/// says why.
#[test]
fn a_corrupt_vad_model_fails_clearly_or_is_skipped() {
    silero_model();
    let scratch = tempfile::tempdir().unwrap();
    let corrupt = scratch.path().join("broken-silero.bin");
    // The right magic, then garbage: whisper.cpp's loader would trust the sizes.
    let mut bytes = 0x6767_6d6cu32.to_le_bytes().to_vec();
    bytes.extend_from_slice(&i32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[7u8; 64]);
    std::fs::write(&corrupt, bytes).unwrap();
    for (enabled, delivered) in [("true", false), ("\"auto\"", true)] {
        let spool = Spool::new(&vad_config(&format!(
            "enabled = {enabled}\nmodel = \"{}\"",
            corrupt.display()
        )));
        let daemon = spool.start_daemon();
        super::drop_speech(&spool, "short.wav", FIRST, 160);
        spool.wait_until(secs(180), "the job ends", || {
            spool.delivered_count("audio") + spool.failed_count("audio") == 1
        });
        assert!(
            daemon.log().contains("broken-silero.bin"),
            "{}",
            daemon.log()
        );
        drop(daemon);
        if delivered {
            let outcome = spool.deliveries("audio").pop().unwrap();
            let vad = &super::stage(&outcome, "transcribe")["outputs"]["vad"];
            assert_eq!(vad["ran"], false, "{vad}");
            assert!(
                vad["reason"]
                    .as_str()
                    .unwrap()
                    .contains("not a Silero VAD model"),
                "{vad}"
            );
        } else {
            let outcome = spool.failures("audio").pop().unwrap();
            let text = outcome.record.to_string();
            assert!(
                text.contains("broken-silero.bin") && text.contains("not a Silero VAD model"),
                "{text}"
            );
        }
    }
}
