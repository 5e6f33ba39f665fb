//! Decoding untrusted media in a child process: real GStreamer on real files made with
//! espeak-ng and gst-launch-1.0 (both installed by .ci/install), through the real
//! `chute decode` binary and the daemon-side child runner.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chute::media::child::{DecodeLimits, decode_in_child};
use chute::media::decode::{DecodeError, DecodeInfo, SAMPLE_RATE};
use serde_json::Value;

mod confine;
mod slots;
mod space;
mod stopping;

const SPEECH: &str =
    "The quick brown fox jumps over the lazy dog. Five boxing wizards jump quickly.";

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

/// Makes the test inputs once per test (each test has its own folder).
fn fixtures() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("speech.wav");
    run("espeak-ng", &["-w", wav.to_str().unwrap(), SPEECH]);
    (dir, wav)
}

fn gst(dir: &Path, pipeline: &str) {
    let args: Vec<&str> = std::iter::once("-q")
        .chain(pipeline.split_whitespace())
        .collect();
    let status = Command::new("gst-launch-1.0")
        .current_dir(dir)
        .args(&args)
        .status()
        .unwrap();
    assert!(status.success(), "gst-launch-1.0 {pipeline} failed");
}

/// Runs `chute decode FILE`; returns the exit status, the sample bytes and the last
/// report line.
fn decode_cli(input: &Path, extra: &[&str]) -> (bool, Vec<u8>, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_chute"))
        .arg("decode")
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let report: Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("bad report {last:?}: {e}"));
    (output.status.success(), output.stdout, report)
}

fn wav_seconds(wav: &Path) -> f64 {
    let out = Command::new("soxi").arg("-D").arg(wav).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// WAV, MP3 and Ogg/Vorbis speech decode to 16 kHz mono f32 of the right length, with
/// the samples on stdout matching the reported count.
#[test]
fn common_formats_decode_to_16khz_mono() {
    let (dir, wav) = fixtures();
    gst(
        dir.path(),
        "filesrc location=speech.wav ! wavparse ! audioconvert ! lamemp3enc ! id3v2mux ! filesink location=speech.mp3",
    );
    gst(
        dir.path(),
        "filesrc location=speech.wav ! wavparse ! audioconvert ! audioresample ! vorbisenc ! oggmux ! filesink location=speech.ogg",
    );
    gst(
        dir.path(),
        "filesrc location=speech.wav ! wavparse ! audioconvert ! audioresample ! opusenc ! webmmux ! filesink location=speech.webm",
    );
    let expected = wav_seconds(&wav);
    for name in ["speech.wav", "speech.mp3", "speech.ogg", "speech.webm"] {
        let (ok, samples, report) = decode_cli(&dir.path().join(name), &[]);
        assert!(ok, "{name}: {report}");
        let info: DecodeInfo = serde_json::from_value(report["done"].clone()).unwrap();
        assert_eq!(
            samples.len() as u64,
            info.samples * 4,
            "{name}: stdout holds every sample"
        );
        let seconds = info.samples as f64 / f64::from(SAMPLE_RATE);
        // Encoders pad a little (MP3 frames, Opus pre-skip); never more than 0.2 s.
        assert!(
            (seconds - expected).abs() < 0.2,
            "{name}: {seconds} s decoded, {expected} s spoken"
        );
        assert!(
            info.peak > 0.1 && info.peak <= 1.5,
            "{name}: peak {}",
            info.peak
        );
        assert!(!info.elements.is_empty(), "{name}: elements recorded");
    }
}

/// Corrupt bytes, text renamed to .mp3, an empty file, silence, video without audio and
/// an over-long input each fail with their own reason.
#[test]
fn bad_inputs_fail_with_a_clear_reason() {
    let (dir, _wav) = fixtures();
    let d = dir.path();
    std::fs::write(
        d.join("corrupt.mp3"),
        (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(
        d.join("text.mp3"),
        b"just some text, renamed to look like audio\n",
    )
    .unwrap();
    std::fs::write(d.join("empty.wav"), b"").unwrap();
    run(
        "sox",
        &[
            "-n",
            "-r",
            "16000",
            d.join("silent.wav").to_str().unwrap(),
            "trim",
            "0",
            "2",
        ],
    );
    gst(
        d,
        "videotestsrc num-buffers=30 ! vp8enc ! webmmux ! filesink location=video.webm",
    );
    type Case = (
        &'static str,
        &'static [&'static str],
        fn(&DecodeError) -> bool,
    );
    let cases: [Case; 6] = [
        ("corrupt.mp3", &[], |e| {
            matches!(e, DecodeError::Unreadable(_))
        }),
        ("text.mp3", &[], |e| matches!(e, DecodeError::Unreadable(_))),
        ("empty.wav", &[], |e| {
            matches!(e, DecodeError::Unreadable(_) | DecodeError::Empty)
        }),
        ("silent.wav", &[], |e| matches!(e, DecodeError::Silent)),
        ("video.webm", &[], |e| matches!(e, DecodeError::NoAudio)),
        ("speech.wav", &["--max-seconds", "2"], |e| {
            matches!(
                e,
                DecodeError::TooLong(2) | DecodeError::DeclaredTooLong { limit: 2, .. }
            )
        }),
    ];
    for (name, args, expected) in cases {
        let (ok, _, report) = decode_cli(&d.join(name), args);
        assert!(!ok, "{name} must fail");
        let error: DecodeError = serde_json::from_value(report["failed"].clone())
            .unwrap_or_else(|e| panic!("{name}: {report}: {e}"));
        assert!(expected(&error), "{name}: unexpected error {error:?}");
        assert!(!error.to_string().is_empty());
    }
}

/// The daemon-side runner streams samples into a file, reports progress, and turns a
/// child that runs out of memory or time into an error instead of taking the caller down.
#[tokio::test]
async fn child_runner_streams_and_contains_failures() {
    let (dir, wav) = fixtures();
    let exe = Path::new(env!("CARGO_BIN_EXE_chute"));
    let output = dir.path().join("audio.f32");
    let mut reports = Vec::new();
    let info = decode_in_child(exe, &wav, &output, &DecodeLimits::default(), |s| {
        reports.push(s)
    })
    .await
    .unwrap();
    assert_eq!(std::fs::metadata(&output).unwrap().len(), info.samples * 4);
    assert!(!reports.is_empty(), "progress was reported");

    let starved = DecodeLimits {
        max_memory: 32 << 20,
        ..DecodeLimits::default()
    };
    let error = decode_in_child(exe, &wav, &output, &starved, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(error, DecodeError::Unreadable(_) | DecodeError::Setup(_)),
        "{error:?}"
    );

    let hurried = DecodeLimits {
        timeout: Duration::from_millis(1),
        ..DecodeLimits::default()
    };
    let error = decode_in_child(exe, &wav, &output, &hurried, |_| {})
        .await
        .unwrap_err();
    assert!(error.to_string().contains("did not finish"), "{error}");
}

/// Five plain English sentences, spoken by espeak-ng at 140 words per minute.
const SENTENCES: [&str; 5] = [
    "The meeting starts at nine in the morning.",
    "Please send the report to the sales team before Friday.",
    "We agreed to ship the new version next week.",
    "The weather was cold and windy all day.",
    "Thank you all for coming to the planning session.",
];

/// whisper tiny.en converted once per test run from the CTranslate2 model that
/// scripts/fetch-test-models.sh unpacks from PyPI.
fn whisper_model() -> PathBuf {
    static MODEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let models = chute::models::default_models_dir();
            let ct2 = models.join("ct2/whisper-tiny.en");
            assert!(
                ct2.join("model.bin").exists(),
                "{} is missing: run scripts/fetch-test-models.sh (part of .ci/install)",
                ct2.display()
            );
            let output = models.join("ggml/whisper-tiny.en.bin");
            chute::models::ct2::convert_if_missing(&ct2, &output, chute::models::ct2::Weights::F16)
                .unwrap();
            output
        })
        .clone()
}

/// Speech in WAV, MP3 and Ogg is transcribed by the real whisper.cpp with a word error
/// rate of at most 0.35 per sentence; timestamps increase and stay within the audio;
/// the SRT and WebVTT renderings carry every segment.
#[tokio::test]
async fn espeak_sentences_are_transcribed_in_every_format() {
    use chute::media::transcript::word_error_rate;
    use chute::media::whisper::{TranscribeSettings, WhisperModel};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    let model = WhisperModel::load(&whisper_model(), false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_chute"));
    // One thread: the suite's tests run in parallel, and ggml's threads spin at barriers,
    // so two two-thread inferences on two cores slow each other down many times over.
    let settings = TranscribeSettings {
        threads: 1,
        ..TranscribeSettings::default()
    };
    let mut report = Vec::new();
    for (index, sentence) in SENTENCES.iter().enumerate() {
        let wav = dir.path().join(format!("s{index}.wav"));
        run(
            "espeak-ng",
            &["-s", "140", "-w", wav.to_str().unwrap(), sentence],
        );
        gst(
            dir.path(),
            &format!(
                "filesrc location=s{index}.wav ! wavparse ! audioconvert ! lamemp3enc ! filesink location=s{index}.mp3"
            ),
        );
        gst(
            dir.path(),
            &format!(
                "filesrc location=s{index}.wav ! wavparse ! audioconvert ! audioresample ! vorbisenc ! oggmux ! filesink location=s{index}.ogg"
            ),
        );
        for extension in ["wav", "mp3", "ogg"] {
            let input = dir.path().join(format!("s{index}.{extension}"));
            let samples = dir.path().join(format!("s{index}-{extension}.f32"));
            let info = decode_in_child(exe, &input, &samples, &DecodeLimits::default(), |_| {})
                .await
                .unwrap();
            let transcript = model
                .transcribe(
                    &samples,
                    &settings,
                    Arc::new(|_| {}),
                    Arc::new(AtomicBool::new(false)),
                )
                .unwrap();
            let text = transcript.to_txt();
            let wer = word_error_rate(sentence, &text);
            report.push(format!("{extension} s{index}: WER {wer:.2} {text:?}"));
            assert!(
                wer <= 0.35,
                "{extension} {sentence:?} -> {text:?}: WER {wer:.2}"
            );
            assert_eq!(transcript.language, "en");
            let mut last_start = -1.0;
            for segment in &transcript.segments {
                assert!(
                    segment.start >= last_start && segment.start <= segment.end,
                    "{segment:?}"
                );
                assert!(
                    segment.end <= info.duration_seconds + 0.01,
                    "{segment:?} past {}",
                    info.duration_seconds
                );
                last_start = segment.start;
            }
            let srt = transcript.to_srt();
            assert_eq!(srt.matches(" --> ").count(), transcript.segments.len());
            assert!(transcript.to_vtt().starts_with("WEBVTT\n\n"));
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// The audio route end to end with the real daemon: three spoken inputs become
/// transcripts (txt, srt, vtt, json) with real-time factors in result.json, a corrupt
/// one fails in `decode` with its input kept, and whisper is loaded once for all jobs.
#[test]
fn audio_route_delivers_transcripts_and_loads_whisper_once() {
    use chute::media::transcript::word_error_rate;
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    // The built-in routes, with one whisper thread (see the test above for why).
    let config = dir.path().join("chute.toml");
    std::fs::write(&config, "[transcribe]\nthreads = 1\n").unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_chute"))
        .args(["run", "--spool"])
        .arg(&spool)
        .arg("--config")
        .arg(&config)
        .env_remove("CHUTE_LOG")
        .env(
            "CHUTE_MODELS_DIR",
            model.parent().unwrap().parent().unwrap(),
        )
        .stderr(log)
        .spawn()
        .map(DaemonChild)
        .unwrap();
    let inbox = spool.join("inbox/audio");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !inbox.is_dir() {
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not create {}",
            inbox.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    for (index, sentence) in SENTENCES.iter().take(3).enumerate() {
        drop_speech(&staging, &inbox, &format!("clip{index}.wav"), sentence);
    }
    std::fs::write(staging.join("broken.mp3"), b"ID3 this is not really an mp3").unwrap();
    std::fs::rename(staging.join("broken.mp3"), inbox.join("broken.mp3")).unwrap();

    let count =
        |route: &str| std::fs::read_dir(spool.join(route).join("audio")).map_or(0, |d| d.count());
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while count("outbox") < 3 || count("failed") < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "audio jobs did not finish: {} delivered, {} failed",
            count("outbox"),
            count("failed")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();

    for entry in std::fs::read_dir(spool.join("outbox/audio")).unwrap() {
        let folder = entry.unwrap().path();
        let result: Value =
            serde_json::from_slice(&std::fs::read(folder.join("result.json")).unwrap()).unwrap();
        let name = result["job"]["input"]["name"].as_str().unwrap().to_owned();
        let index: usize = name
            .trim_start_matches("clip")
            .trim_end_matches(".wav")
            .parse()
            .unwrap();
        for file in [
            "transcript.txt",
            "transcript.srt",
            "transcript.vtt",
            "transcript.json",
        ] {
            assert!(folder.join(file).is_file(), "{name}: {file} missing");
        }
        // The recording is delivered beside its transcript, and the folder is readable
        // by the group as the umask allows (spool internals stay 0600).
        assert!(
            folder.join("input").join(&name).is_file(),
            "{name}: input missing"
        );
        let umask = chute::deliver::config::process_umask().unwrap();
        let expected = 0o600 | (0o060 & !umask);
        for file in ["transcript.txt", "result.json"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(folder.join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, expected, "{name}: {file} mode {mode:o}");
        }
        let text = std::fs::read_to_string(folder.join("transcript.txt")).unwrap();
        let wer = word_error_rate(SENTENCES[index], &text);
        assert!(wer <= 0.35, "{name}: {text:?} WER {wer:.2}");
        let summary: Value =
            serde_json::from_slice(&std::fs::read(folder.join("summary.json")).unwrap()).unwrap();
        let schema = chute::summary::template::Template::built_in().schema("en");
        assert!(
            jsonschema::is_valid(&schema, &summary),
            "{name}: {summary:#}"
        );
        let stages = result["stages"].as_array().unwrap();
        for stage in ["decode", "transcribe", "summarize"] {
            let entry = stages
                .iter()
                .find(|s| s["name"] == stage)
                .unwrap_or_else(|| panic!("{stage} in {result}"));
            let factor = entry["outputs"]["realtime_factor"].as_f64().unwrap_or(-1.0);
            assert!(factor > 0.0, "{name}: {stage} realtime_factor {factor}");
        }
        assert_eq!(
            stages.iter().find(|s| s["name"] == "transcribe").unwrap()["outputs"]["language"],
            "en"
        );
    }
    let failed: Vec<_> = std::fs::read_dir(spool.join("failed/audio"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(failed.len(), 1);
    let error: Value =
        serde_json::from_slice(&std::fs::read(failed[0].join("error.json")).unwrap()).unwrap();
    assert_eq!(error["stage"], "decode", "{error}");
    assert!(
        failed[0].join("broken.mp3").is_file(),
        "the broken input is kept"
    );

    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert_eq!(
        log.matches("Loaded the whisper model.").count(),
        1,
        "whisper loads:\n{log}"
    );
    // whisper.cpp's and ggml's internals are debug lines, not in the default log.
    let internals = log
        .lines()
        .filter(|line| line.contains("whisper_") || line.contains("ggml_"))
        .count();
    assert_eq!(
        internals, 0,
        "whisper.cpp internals in the default log:\n{log}"
    );
}

/// A daemon killed with SIGKILL while a job is in `transcribe` resumes it after restart
/// without decoding again: decode ran once, transcribe twice, and the job is delivered.
#[test]
fn kill_during_transcribe_does_not_decode_again() {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let slow = dir.path().join("slow.toml");
    std::fs::write(
        &slow,
        "[[routes]]\nname = \"audio\"\npipeline = \"transcribe\"\nsimulate_work = \"3s\"\n",
    )
    .unwrap();
    let start = |config: Option<&Path>| spawn_daemon(&spool, config, &model);
    let mut daemon = start(Some(&slow));
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    drop_speech(dir.path(), &inbox, "note.wav", SENTENCES[1]);
    let transcribing = || -> bool {
        let Ok(jobs) = std::fs::read_dir(spool.join("jobs")) else {
            return false;
        };
        jobs.flatten().any(|job| {
            std::fs::read(job.path().join("state.json"))
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
                .is_some_and(|state| {
                    state["stages"].as_array().is_some_and(|stages| {
                        stages
                            .iter()
                            .any(|s| s["name"] == "decode" && s["status"] == "done")
                            && stages
                                .iter()
                                .any(|s| s["name"] == "transcribe" && s["status"] == "running")
                    })
                })
        })
    };
    wait_for("transcribe to be running", 60, transcribing);
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let mut daemon = start(None);
    let outbox = spool.join("outbox/audio");
    let (folder, result) = wait_for_delivery(&outbox);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(attempts(&result, "decode"), 1, "decode ran again: {result}");
    assert_eq!(attempts(&result, "transcribe"), 2, "{result}");
    let text = std::fs::read_to_string(folder.join("transcript.txt")).unwrap();
    assert!(
        chute::media::transcript::word_error_rate(SENTENCES[1], &text) <= 0.35,
        "{text:?}"
    );
}

/// espeak-ng (at 140 words a minute, which tiny.en follows well) says `text` into
/// `staging/<name>`, which is then renamed into `inbox` whole; returns its seconds.
fn drop_speech(staging: &Path, inbox: &Path, name: &str, text: &str) -> f64 {
    let wav = staging.join(name);
    run(
        "espeak-ng",
        &["-s", "140", "-w", wav.to_str().unwrap(), text],
    );
    let seconds = wav_seconds(&wav);
    std::fs::rename(&wav, inbox.join(name)).unwrap();
    seconds
}

/// Starts `chute run` on `spool` (with `config`, if any) and the test models.
fn spawn_daemon(spool: &Path, config: Option<&Path>, model: &Path) -> DaemonChild {
    spawn_daemon_from(
        Path::new(env!("CARGO_BIN_EXE_chute")),
        spool,
        config,
        model.parent().unwrap().parent().unwrap(),
    )
}

/// Starts `program run` on `spool` (with `config`, if any) and the models in `models`.
fn spawn_daemon_from(
    program: &Path,
    spool: &Path,
    config: Option<&Path>,
    models: &Path,
) -> DaemonChild {
    let mut command = Command::new(program);
    command.args(["run", "--spool"]).arg(spool);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command
        .env("CHUTE_LOG", "warn")
        .env("CHUTE_MODELS_DIR", models)
        .spawn()
        .map(DaemonChild)
        .unwrap()
}

/// A daemon started by a test, killed when the test ends, also when it panics (a
/// failed test must not leave a daemon running over a deleted spool).
struct DaemonChild(std::process::Child);

impl std::ops::Deref for DaemonChild {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for DaemonChild {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for DaemonChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `done` every 20 ms; panics naming `what` after `seconds`.
fn wait_for(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to 2 min) for the first folder in `outbox`; returns it and its result.json.
fn wait_for_delivery(outbox: &Path) -> (PathBuf, Value) {
    wait_for("the delivery", 120, || {
        std::fs::read_dir(outbox).is_ok_and(|mut d| d.next().is_some())
    });
    let folder = std::fs::read_dir(outbox)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let result: Value =
        serde_json::from_slice(&std::fs::read(folder.join("result.json")).unwrap()).unwrap();
    (folder, result)
}

/// The error.json of the first folder in `failed`.
fn first_error_json(failed: &Path) -> Value {
    let folder = std::fs::read_dir(failed)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    serde_json::from_slice(&std::fs::read(folder.join("error.json")).unwrap()).unwrap()
}

/// How many times result.json says `stage` was started.
fn attempts(result: &Value, stage: &str) -> u64 {
    result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == stage)
        .unwrap()["attempts"]
        .as_u64()
        .unwrap()
}

/// A daemon killed after the first of several chunks was checkpointed resumes after
/// it: the restarted transcribe says so, does not transcribe that chunk again, and
/// the delivered transcript still covers the whole recording.
#[test]
fn kill_mid_transcription_resumes_after_the_last_finished_chunk() {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let config = dir.path().join("chunks.toml");
    std::fs::write(
        &config,
        "[transcribe]\nchunk = \"30s\"\nthreads = 1\n\n[summarize]\nenabled = false\n",
    )
    .unwrap();
    let mut daemon = spawn_daemon(&spool, Some(&config), &model);
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    // About 100 s of speech: four 30 s chunks.
    let script = vec![SENTENCES.join(" "); 5].join(" ");
    let seconds = drop_speech(dir.path(), &inbox, "long.wav", &script);
    assert!(seconds > 70.0, "{seconds} s");
    let first_chunk = || {
        std::fs::read_dir(spool.join("jobs"))
            .ok()?
            .flatten()
            .map(|job| job.path().join("work/items/transcribe/00000.json"))
            .find(|path| path.is_file())
    };
    wait_for("the first chunk's checkpoint", 120, || {
        first_chunk().is_some()
    });
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let checkpoint = first_chunk().unwrap();
    let chunk: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert!(!chunk["segments"].as_array().unwrap().is_empty(), "{chunk}");

    let mut daemon = spawn_daemon(&spool, Some(&config), &model);
    let (folder, result) = wait_for_delivery(&spool.join("outbox/audio"));
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(attempts(&result, "transcribe"), 2, "{result}");
    let resumed = result["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["message"].as_str())
        .find(|message| message.starts_with("resuming after"))
        .unwrap_or_else(|| panic!("no resume event: {result}"));
    let finished: usize = resumed
        .trim_start_matches("resuming after ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..4).contains(&finished), "{resumed}");
    let transcript: Value =
        serde_json::from_slice(&std::fs::read(folder.join("transcript.json")).unwrap()).unwrap();
    let segments = transcript["segments"].as_array().unwrap();
    let starts: Vec<f64> = segments
        .iter()
        .map(|s| s["start"].as_f64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert!(*starts.last().unwrap() > 60.0, "{starts:?}");
    let text = std::fs::read_to_string(folder.join("transcript.txt")).unwrap();
    assert!(
        chute::media::transcript::word_error_rate(&script, &text) <= 0.35,
        "{text:?}"
    );
}

/// An upgrade that replaces the binary in place (a new file renamed over the old one,
/// as package managers do) does not break decoding in the daemon still running the old
/// one: decoder children start from the running binary, not from its former path.
#[test]
fn audio_still_decodes_after_the_binary_is_replaced_in_place() {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let installed = bin.join("chute");
    std::fs::copy(env!("CARGO_BIN_EXE_chute"), &installed).unwrap();
    let spool = dir.path().join("spool");
    let config = dir.path().join("chute.toml");
    std::fs::write(
        &config,
        "[transcribe]\nthreads = 1\n\n[summarize]\nenabled = false\n",
    )
    .unwrap();
    let models = model.parent().unwrap().parent().unwrap();
    let mut daemon = spawn_daemon_from(&installed, &spool, Some(&config), models);
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    let upgrade = bin.join(".chute.new");
    std::fs::copy(env!("CARGO_BIN_EXE_chute"), &upgrade).unwrap();
    std::fs::rename(&upgrade, &installed).unwrap();

    drop_speech(dir.path(), &inbox, "note.wav", SENTENCES[2]);
    let failed = spool.join("failed/audio");
    let outbox = spool.join("outbox/audio");
    wait_for("the job to end", 120, || {
        [&outbox, &failed]
            .iter()
            .any(|dir| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()))
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    let failures: Vec<String> = std::fs::read_dir(&failed)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    std::fs::read_to_string(entry.path().join("error.json")).unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(failures.is_empty(), "the job failed: {failures:?}");
    let (folder, _) = wait_for_delivery(&outbox);
    let text = std::fs::read_to_string(folder.join("transcript.txt")).unwrap();
    assert!(
        chute::media::transcript::word_error_rate(SENTENCES[2], &text) <= 0.35,
        "{text:?}"
    );
}

/// A configured whisper model that does not exist is an error with the remedy; the
/// bundled tiny.en is never converted under the missing model's name.
#[test]
fn a_missing_configured_model_fails_the_job_and_is_not_replaced() {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(models.join("ct2")).unwrap();
    let bundled = model
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("ct2/whisper-tiny.en");
    std::os::unix::fs::symlink(&bundled, models.join("ct2/whisper-tiny.en")).unwrap();
    let spool = dir.path().join("spool");
    let config = dir.path().join("chute.toml");
    std::fs::write(
        &config,
        "[transcribe]\nmodel = \"ggml/whisper-small.en.bin\"\nthreads = 1\n\n[summarize]\nenabled = false\n",
    )
    .unwrap();
    let mut daemon = spawn_daemon_from(
        Path::new(env!("CARGO_BIN_EXE_chute")),
        &spool,
        Some(&config),
        &models,
    );
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    drop_speech(dir.path(), &inbox, "note.wav", SENTENCES[0]);
    let failed = spool.join("failed/audio");
    wait_for("the failure", 120, || {
        std::fs::read_dir(&failed).is_ok_and(|mut d| d.next().is_some())
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    let error = first_error_json(&failed);
    assert_eq!(error["stage"], "transcribe", "{error:#}");
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains("whisper-small.en.bin"),
        "{error:#}"
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("chute models pull"),
        "{error:#}"
    );
    assert!(
        !models.join("ggml/whisper-small.en.bin").exists(),
        "tiny.en was converted under the missing model's name"
    );
}

/// `chute doctor` passes on a machine set up by .ci/install (the render's encoder,
/// overlay, caption font and VAD model included) and names the missing models
/// (exit 1 for whisper, a warning for the VAD model) when the models folder is empty.
#[test]
fn doctor_reports_what_is_there_and_what_is_missing() {
    let spool = tempfile::tempdir().unwrap();
    whisper_model();
    // How full the test machine's disk is must not decide this test.
    let config = spool.path().join("chute.toml");
    std::fs::write(&config, "[disk]\nwarn_percent = 100\n").unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_chute"))
        .arg("--spool")
        .arg(spool.path())
        .arg("--config")
        .arg(&config)
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{text}");
    assert!(text.contains("ok    GStreamer mp3"), "{text}");
    // What the sales-video render needs, installed by .ci/install.
    assert!(
        text.contains("ok    render H.264 encoder: x264enc"),
        "{text}"
    );
    assert!(
        text.contains("ok    render caption overlay: textoverlay"),
        "{text}"
    );
    assert!(text.contains("ok    caption font: Noto Sans"), "{text}");
    // .ci/install fetches the Silero weights; the ggml file may not be converted yet.
    assert!(
        text.contains("ok    voice activity detection: Silero model"),
        "{text}"
    );
    let empty = tempfile::tempdir().unwrap();
    let missing = Command::new(env!("CARGO_BIN_EXE_chute"))
        .arg("--spool")
        .arg(spool.path())
        .arg("doctor")
        .env("CHUTE_MODELS_DIR", empty.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&missing.stdout);
    assert_eq!(missing.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  whisper model"), "{text}");
    assert!(text.contains("fetch-test-models.sh"), "{text}");
    // "auto" VAD without its model only warns: the recording is transcribed whole.
    assert!(
        text.contains("warn  voice activity detection: the Silero model")
            && text.contains("chute models pull silero-vad"),
        "{text}"
    );
}

/// `chute models list` shows each known model as present or missing in the models folder.
#[test]
fn models_list_shows_presence() {
    let model = whisper_model();
    let list = |dir: &Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_chute"))
            .args(["models", "list"])
            .env("CHUTE_MODELS_DIR", dir)
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let present = list(model.parent().unwrap().parent().unwrap());
    let line = present
        .lines()
        .find(|l| l.starts_with("whisper-tiny.en "))
        .unwrap_or_default()
        .to_owned();
    assert!(line.contains("present"), "{present}");
    let empty = tempfile::tempdir().unwrap();
    let missing = list(empty.path());
    assert!(
        missing.lines().filter(|l| l.contains("missing")).count() >= 3,
        "{missing}"
    );
}
