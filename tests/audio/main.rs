//! The audio pipeline end to end with the real models: whisper.cpp (tiny.en) in the
//! daemon and llama.cpp (SmolLM2-135M) in its `chute-llm` worker, through the real
//! binaries, on speech made by espeak-ng. The tiny language model writes poor prose, so
//! these tests check structure (summary.json against the template's schema) and the
//! machinery: loads, the native lease, the budget, crashes and failures.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{Config, Outcome, Spool, secs};
use serde_json::Value;

mod blank;
#[allow(dead_code)]
#[path = "../plugins/harness.rs"]
mod plugins;
mod providers;
mod pull;
mod quantized;
mod summarizer;
mod vad;
mod word_timestamps;

/// Five sentences; spoken at four speeds they make 20 distinct recordings.
const SENTENCES: [&str; 5] = [
    "We agreed to ship the new invoice screen next Tuesday after the review.",
    "Maria will call the supplier about the delayed parts before Friday.",
    "The budget for the spring campaign is twelve thousand euros.",
    "Please send the meeting notes to the whole team by tomorrow morning.",
    "Our next planning session moves to the large room on the third floor.",
];

/// A small template (short generations) for tests about the machinery.
const SHORT_TEMPLATE: &str = r#"
instructions = "Give the recording a title and keywords."
[[fields]]
name = "title"
kind = "text"
description = "a short title"
max_bytes = 40
[[fields]]
name = "keywords"
kind = "list"
description = "keywords"
min_items = 1
max_items = 3
max_bytes = 20
[[fields]]
name = "language"
kind = "language"
"#;

/// The models folder prepared by scripts/fetch-test-models.sh, with the whisper model
/// converted once (so parallel daemons never race to convert it).
fn models_ready() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let models = chute::models::default_models_dir();
            let ct2 = models.join("ct2/whisper-tiny.en");
            let gguf = models.join("gguf/SmolLM2-135M-Instruct.Q4_1.gguf");
            assert!(
                ct2.join("model.bin").exists() && gguf.exists(),
                "models missing under {}: run scripts/fetch-test-models.sh (part of .ci/install)",
                models.display()
            );
            let ggml = models.join("ggml/whisper-tiny.en.bin");
            chute::models::ct2::convert_if_missing(&ct2, &ggml, chute::models::ct2::Weights::F16)
                .unwrap();
            // The file the daemon's default settings use, made here once so that parallel
            // daemons never race to convert it.
            let defaults = chute::media::config::TranscribeConfig::default();
            let (default_model, _) = defaults.model_file(&Default::default());
            chute::models::ct2::convert_if_missing(&ct2, &default_model, defaults.weights).unwrap();
            // The Silero VAD model too (on by default when it is there).
            chute::models::silero::convert_if_missing(
                &models.join(chute::media::config::VAD_SAFETENSORS),
                &models.join(chute::media::config::DEFAULT_VAD_MODEL),
            )
            .unwrap();
            let worker = Path::new(harness::BIN).with_file_name("chute-llm");
            assert!(
                worker.exists(),
                "{} is missing: build the workspace (cargo build --workspace)",
                worker.display()
            );
            models
        })
        .clone()
}

/// A config for the built-in audio route: greedy whisper (fast) and one inference thread
/// each, plus `summarize` keys for `[summarize]` and `extra` TOML.
///
/// One thread, because the suite's tests run in parallel: ggml's threads spin at
/// barriers, so two inferences of two threads each on two cores (or on a machine whose
/// CPU time is being stolen) slow each other down many times over instead of sharing.
fn audio_config(summarize: &str, extra: &str) -> Config {
    models_ready();
    Config {
        routes: Vec::new(),
        extra: format!(
            "[transcribe]\nbeam_size = 0\nthreads = 1\n\n[summarize]\nthreads = 1\n{summarize}\n{extra}"
        ),
        ..Config::default()
    }
}

/// Speaks `text` at `speed` words per minute into `<dir>/<name>`.
fn speak(dir: &Path, name: &str, text: &str, speed: u32) -> PathBuf {
    let wav = dir.join(name);
    let status = Command::new("espeak-ng")
        .args(["-s", &speed.to_string(), "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng (installed by .ci/install)");
    assert!(status.success());
    wav
}

/// Drops a spoken recording into the audio inbox.
fn drop_speech(spool: &Spool, name: &str, text: &str, speed: u32) {
    let wav = speak(&spool.outside, name, text, speed);
    std::fs::rename(&wav, spool.inbox("audio").join(name)).unwrap();
}

/// The stage entry `name` of a result.json.
/// No warning of `outcome` is a stage that failed (one without a `cause`); quality
/// notes on an answer (warnings with a cause) are allowed.
fn assert_no_stage_failed(outcome: &Outcome) {
    let failed_stages: Vec<&Value> = outcome.record["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|warning| warning.get("cause").is_none())
        .collect();
    assert!(failed_stages.is_empty(), "{}", outcome.record);
}

fn stage<'a>(outcome: &'a Outcome, name: &str) -> &'a Value {
    outcome.record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {}", outcome.record))
}

/// Checks summary.json against the built-in template's schema (language `en`).
fn assert_valid_summary(outcome: &Outcome) -> Value {
    let path = outcome.dir.join("summary.json");
    let summary: Value = serde_json::from_slice(
        &std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), outcome.record)),
    )
    .unwrap();
    let schema = chute::summary::template::Template::built_in().schema("en");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{summary:#} does not match the schema: {errors:?}"
    );
    let keys: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["title", "summary", "key_points", "keywords", "language"],
        "summary.json keeps the template's order"
    );
    summary
}

/// What a log says about model residency, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelEvent {
    LoadedWhisper,
    LoadedLlama,
    UnloadedWhisper,
    UnloadedLlama,
}

fn model_events(log: &str) -> Vec<ModelEvent> {
    log.lines()
        .filter_map(|line| {
            if line.contains("Loaded the whisper model.") {
                Some(ModelEvent::LoadedWhisper)
            } else if line.contains("Loaded the llama.cpp model.") {
                Some(ModelEvent::LoadedLlama)
            } else if line.contains("Unloading the whisper model") {
                Some(ModelEvent::UnloadedWhisper)
            } else if line.contains("Unloading the llama.cpp model")
                || line.contains("Discarding the llama.cpp worker")
            {
                Some(ModelEvent::UnloadedLlama)
            } else {
                None
            }
        })
        .collect()
}

/// The holders of the native lease in log order, checking that every take is followed
/// by its return before the next take.
fn lease_holders(log: &str) -> Vec<String> {
    let mut holders = Vec::new();
    let mut held: Option<String> = None;
    for line in log.lines() {
        let holder = || {
            line.split("holder=")
                .nth(1)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
                .unwrap_or_default()
        };
        if line.contains("Native lease taken.") {
            assert!(
                held.is_none(),
                "the lease was taken by {} while {held:?} held it",
                holder()
            );
            held = Some(holder());
            holders.push(holder());
        } else if line.contains("Native lease returned.") {
            assert_eq!(held.take(), Some(holder()), "returned by a non-holder");
        }
    }
    assert!(held.is_none(), "the lease was never returned by {held:?}");
    assert!(
        !log.contains("more than one holder"),
        "the daemon saw two holders"
    );
    holders
}

/// 20 recordings queued at once (4 jobs run at a time): each gets a transcript and a
/// schema-valid summary; whisper.cpp and llama.cpp are each loaded once; the native lease
/// is never held by two stages at once, and transcription and summaries of different
/// jobs really did compete for it.
#[test]
fn twenty_audio_jobs_load_each_model_once_and_take_turns_on_the_lease() {
    // A two-field template keeps the 20 generations short; the built-in template is
    // checked by the other tests.
    let spool = Spool::new(&audio_config("", ""));
    let template = spool.outside.join("short-template.toml");
    std::fs::write(&template, SHORT_TEMPLATE).unwrap();
    spool.write_config(&audio_config(
        &format!("template = \"{}\"\n", template.display()),
        "",
    ));
    let daemon = spool.start_daemon();
    for speed in [130, 145, 160, 175] {
        for (index, sentence) in SENTENCES.iter().enumerate() {
            drop_speech(
                &spool,
                &format!("note-{speed}-{index}.wav"),
                sentence,
                speed,
            );
        }
    }
    spool.wait_delivered("audio", 20, secs(600));
    let log = daemon.log();
    drop(daemon);

    for outcome in spool.deliveries("audio") {
        for file in [
            "transcript.txt",
            "transcript.srt",
            "transcript.vtt",
            "transcript.json",
        ] {
            assert!(
                outcome.dir.join(file).is_file(),
                "{file} missing: {}",
                outcome.record
            );
        }
        // No stage failed; the small model's answers may carry quality notes (a
        // warning with a cause), which the summary tests look at.
        assert_no_stage_failed(&outcome);
        let summary: Value =
            serde_json::from_slice(&std::fs::read(outcome.dir.join("summary.json")).unwrap())
                .unwrap();
        let schema = chute::summary::template::Template::parse(SHORT_TEMPLATE)
            .unwrap()
            .schema("en");
        assert!(jsonschema::is_valid(&schema, &summary), "{summary:#}");
        let summarize = stage(&outcome, "summarize");
        assert_eq!(summarize["status"], "done");
        let outputs = &summarize["outputs"];
        assert!(
            outputs["tokens_per_second"].as_f64().unwrap() > 0.0,
            "{outputs}"
        );
        assert!(
            outputs["generated_tokens"].as_u64().unwrap() > 3,
            "{outputs}"
        );
        assert_eq!(outputs["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    }
    // Jobs queued behind the lease say so, naming the holder, instead of a bare 0 %.
    let waited = spool
        .deliveries("audio")
        .iter()
        .flat_map(|outcome| outcome.events().clone())
        .filter_map(|event| event["message"].as_str().map(str::to_owned))
        .filter(|message| message.starts_with("waiting for the") && message.contains(", held by "))
        .count();
    assert!(waited > 0, "no job reported waiting for the native lease");
    // Summaries report their token progress while they generate.
    let token_progress = spool
        .deliveries("audio")
        .iter()
        .flat_map(|outcome| outcome.events().clone())
        .filter(|event| event["stage"] == "summarize")
        .filter_map(|event| event["message"].as_str().map(str::to_owned))
        .filter(|message| {
            message.starts_with("generated ") && message.contains(" tokens (at most ")
        })
        .count();
    assert!(token_progress > 0, "no summary reported its token progress");
    let events = model_events(&log);
    assert_eq!(
        events,
        [ModelEvent::LoadedWhisper, ModelEvent::LoadedLlama],
        "with the default budget both models load once and stay"
    );
    let holders = lease_holders(&log);
    assert_eq!(holders.len(), 40, "{holders:?}");
    let last_transcribe = holders
        .iter()
        .rposition(|h| h.ends_with("/transcribe"))
        .unwrap();
    let first_summarize = holders
        .iter()
        .position(|h| h.ends_with("/summarize"))
        .unwrap();
    assert!(
        first_summarize < last_transcribe,
        "stages of different jobs never competed for the lease: {holders:?}"
    );
}

/// With a budget too small for both models, one is unloaded before the other loads:
/// replaying the log's loads and unloads, the two are never resident together.
#[test]
fn a_tight_model_budget_unloads_one_model_before_loading_the_other() {
    let spool = Spool::new(&audio_config(
        "",
        "[native]\nmodel_budget = \"120MiB\"\nworking_memory = \"0B\"\n",
    ));
    let daemon = spool.start_daemon();
    for (index, sentence) in SENTENCES.iter().take(3).enumerate() {
        drop_speech(&spool, &format!("budget-{index}.wav"), sentence, 150);
    }
    spool.wait_delivered("audio", 3, secs(300));
    let log = daemon.log();
    drop(daemon);
    for outcome in spool.deliveries("audio") {
        assert_valid_summary(&outcome);
    }
    let (mut whisper, mut llama, mut unloads) = (false, false, 0);
    let events = model_events(&log);
    for event in &events {
        match event {
            ModelEvent::LoadedWhisper => whisper = true,
            ModelEvent::LoadedLlama => llama = true,
            ModelEvent::UnloadedWhisper => (whisper, unloads) = (false, unloads + 1),
            ModelEvent::UnloadedLlama => (llama, unloads) = (false, unloads + 1),
        }
        assert!(!(whisper && llama), "both models resident: {events:?}");
    }
    assert!(unloads >= 1, "nothing was unloaded: {events:?}");
}

/// A missing language model, or a worker that cannot start, fails only the summary:
/// the transcript is delivered and result.json says what failed and why.
#[test]
fn a_failed_summary_still_delivers_the_transcript() {
    for (summarize, expected) in [
        (
            "model = \"gguf/not-there.gguf\"\n",
            "not-there.gguf is missing",
        ),
        (
            "worker = \"/bin/false\"\n",
            "llama.cpp worker exited while loading",
        ),
    ] {
        let spool = Spool::new(&audio_config(summarize, ""));
        let daemon = spool.start_daemon();
        drop_speech(&spool, "memo.wav", SENTENCES[2], 150);
        spool.wait_delivered("audio", 1, secs(120));
        drop(daemon);
        let outcome = spool.deliveries("audio").pop().unwrap();
        assert!(outcome.dir.join("transcript.txt").is_file());
        assert!(outcome.dir.join("transcript.json").is_file());
        assert!(!outcome.dir.join("summary.json").exists());
        let warnings = outcome.record["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{}", outcome.record);
        assert_eq!(warnings[0]["stage"], "summarize");
        let reason = warnings[0]["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{reason}");
        assert!(!warnings[0]["hint"].as_str().unwrap().is_empty());
        assert_eq!(stage(&outcome, "summarize")["status"], "failed");
        assert_eq!(outcome.record["state"], "done");
    }
}

/// Process ids of `chute-llm` workers whose parent is `parent`.
fn workers_of(parent: u32) -> Vec<u32> {
    let output = Command::new("pgrep")
        .args(["-P", &parent.to_string(), "-x", "chute-llm"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

fn kill9(pid: u32) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    );
}

fn is_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.split_whitespace().nth(2) == Some("Z"))
}

/// Whether a live job's events say its summary generation has begun.
fn summarizing(spool: &Spool) -> bool {
    let Ok(jobs) = std::fs::read_dir(spool.path("jobs")) else {
        return false;
    };
    jobs.flatten().any(|job| {
        std::fs::read_to_string(job.path().join("events.jsonl"))
            .is_ok_and(|events| events.contains("summarizing the transcript"))
    })
}

/// llama.cpp dying in the middle of a generation (its worker SIGKILLed) costs one retry
/// with a fresh worker, not the daemon and not the summary.
#[test]
fn a_crashed_llama_worker_is_replaced_and_the_summary_still_made() {
    let spool = Spool::new(&audio_config("", ""));
    let daemon = spool.start_daemon();
    drop_speech(&spool, "crash.wav", SENTENCES[3], 150);
    spool.wait_until(secs(120), "the summary to start", || summarizing(&spool));
    let workers = workers_of(daemon.pid);
    assert_eq!(workers.len(), 1, "{workers:?}");
    kill9(workers[0]);
    spool.wait_delivered("audio", 1, secs(180));
    let log = daemon.log();
    drop(daemon);
    let outcome = spool.deliveries("audio").pop().unwrap();
    assert_valid_summary(&outcome);
    assert!(
        log.contains("The llama.cpp worker died") || log.contains("worker died"),
        "{log}"
    );
    assert_eq!(
        model_events(&log)
            .iter()
            .filter(|e| **e == ModelEvent::LoadedLlama)
            .count(),
        2,
        "a new worker was started"
    );
}

/// A daemon SIGKILLed during `summarize` resumes after restart without transcribing
/// again, and its llama.cpp worker does not outlive it.
#[test]
fn kill_during_summarize_does_not_transcribe_again() {
    let spool = Spool::new(&audio_config("", ""));
    let daemon = spool.start_daemon();
    drop_speech(&spool, "resume.wav", SENTENCES[4], 150);
    spool.wait_until(secs(120), "the summary to start", || summarizing(&spool));
    let workers = workers_of(daemon.pid);
    assert_eq!(workers.len(), 1, "{workers:?}");
    daemon.kill9();
    spool.wait_until(secs(10), "the worker to die with the daemon", || {
        !is_alive(workers[0])
    });

    let daemon = spool.start_daemon();
    spool.wait_delivered("audio", 1, secs(180));
    drop(daemon);
    let outcome = spool.deliveries("audio").pop().unwrap();
    let attempts = |name: &str| stage(&outcome, name)["attempts"].as_u64().unwrap();
    assert_eq!(attempts("decode"), 1, "{}", outcome.record);
    assert_eq!(
        attempts("transcribe"),
        1,
        "the transcript was computed again"
    );
    assert_eq!(attempts("summarize"), 2, "{}", outcome.record);
    assert_valid_summary(&outcome);
}
