//! Transcription benchmark, chute's side: a speech file decoded by the real `chute
//! decode` child (GStreamer) and transcribed by whisper.cpp through
//! `chute::media::whisper` with the settings the daemon uses by default, each stage
//! timed on its own.
//!
//! `scripts/bench-transcribe.sh` builds this target (`cargo bench --bench transcribe
//! --no-run`), runs it next to faster-whisper (and whisper.cpp's own `whisper-cli`) on
//! the same audio, and prints the comparison. The commands it uses (`--bench` is what
//! `cargo bench` passes to a harness-less target):
//!
//! - `transcribe --bench model [WEIGHTS]`: converts faster-whisper tiny.en (CTranslate2)
//!   to the ggml file the daemon would use with WEIGHTS (default: the default of
//!   `transcribe.weights`), if it is not there yet, and prints its path;
//! - `transcribe --bench run CLIP AUDIO REFERENCE OUT [DECODE_ONLY...]`: loads the model,
//!   then decodes + transcribes AUDIO with the daemon's default `[transcribe]` settings
//!   (`TranscribeConfig::default()`; CHUTE_BENCH_THREADS overrides the threads so every
//!   tool gets the same), writes the transcript into OUT, and prints a `result` line
//!   with the load, decode and transcribe seconds and the word error rate against the
//!   text in REFERENCE. With CHUTE_BENCH_MATRIX=1 it then also runs every weights type
//!   (f16, q8_0, q5_1, q5_0) greedily and with beam search 5, one `mode=matrix` line
//!   each. With CHUTE_BENCH_LLM naming a `chute-llm`, the transcript is then summarized
//!   (built-in template, SmolLM2-135M) and a `result tool=chute-summary` line gives the
//!   token rates. Each DECODE_ONLY file is only decoded and timed;
//! - `transcribe --bench long AUDIO OUT`: one long recording with the defaults, reporting
//!   the real-time factor and the peak resident memory (VmHWM) after the first chunk
//!   and at the end;
//! - `transcribe --bench wer REFERENCE HYPOTHESIS`: prints chute's word error rate of a
//!   transcript file, so every tool is scored by the same function.
//!
//! Without `--bench` (`cargo test --all-targets` runs the target that way) it only
//! prints a hint: CI never runs the benchmark itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use chute::media::child::{DecodeLimits, decode_in_child};
use chute::media::config::{DEFAULT_VAD_MODEL, TranscribeConfig, VAD_SAFETENSORS, VadEnabled};
use chute::media::decode::DecodeInfo;
use chute::media::transcript::{Transcript, word_error_rate};
use chute::media::vad::VadSettings;
use chute::media::whisper::{TranscribeSettings, WhisperModel};
use chute::models::config::ModelsConfig;
use chute::models::quantize::Weights;

const HINT: &str = "transcribe bench: run scripts/bench-transcribe.sh";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        println!("{HINT}");
        return;
    }
    let rest: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    match rest.as_slice() {
        ["model"] => println!(
            "{}",
            ggml_model(TranscribeConfig::default().weights).display()
        ),
        ["model", weights] => println!("{}", ggml_model(parse_weights(weights)).display()),
        ["run", clip, audio, reference, out, decode_only @ ..] => run(
            clip,
            Path::new(audio),
            Path::new(reference),
            Path::new(out),
            decode_only,
        ),
        ["long", audio, out] => long(Path::new(audio), Path::new(out)),
        ["wer", reference, hypothesis] => {
            let reference = read(Path::new(reference));
            let hypothesis = read(Path::new(hypothesis));
            println!("{:.4}", word_error_rate(&reference, &hypothesis));
        }
        _ => println!("{HINT}"),
    }
}

fn parse_weights(name: &str) -> Weights {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .unwrap_or_else(|_| panic!("unknown weights {name:?} (f16, q8_0, q5_1, q5_0)"))
}

/// The daemon's default `[transcribe]` settings, with CHUTE_BENCH_THREADS threads
/// when it is set (every tool of a run gets the same threads), and voice activity
/// detection on when the daemon would run it (`transcribe.vad.enabled = "auto"` and the
/// Silero model is there).
fn default_settings() -> TranscribeSettings {
    let mut settings = TranscribeConfig::default().settings();
    if let Some(threads) = std::env::var("CHUTE_BENCH_THREADS")
        .ok()
        .and_then(|value| value.parse().ok())
    {
        settings.threads = threads;
    }
    settings.vad = daemon_vad();
    settings
}

/// The VAD settings the daemon's defaults give, converting the default Silero model as
/// the daemon would; `None` when the model is missing or unusable.
fn daemon_vad() -> Option<VadSettings> {
    let config = TranscribeConfig::default();
    if config.vad.enabled == VadEnabled::Off {
        return None;
    }
    let models = chute::models::default_models_dir();
    let model = models.join(DEFAULT_VAD_MODEL);
    let usable = chute::models::silero::convert_if_missing(&models.join(VAD_SAFETENSORS), &model)
        .and_then(|_| chute::models::silero::check_ggml(&model));
    match usable {
        Ok(()) => Some(config.vad.settings(model)),
        Err(error) => {
            println!("note chute's default VAD is off here: {error}");
            None
        }
    }
}

/// The daemon's defaults with voice activity detection off, for the comparison with
/// faster-whisper's own defaults (no VAD either).
fn without_vad(defaults: &TranscribeSettings) -> Option<TranscribeSettings> {
    defaults.vad.is_some().then(|| TranscribeSettings {
        vad: None,
        ..defaults.clone()
    })
}

/// How `settings` decode, for the result lines.
fn decoding(settings: &TranscribeSettings) -> String {
    settings
        .beam_size
        .map_or_else(|| "greedy".to_owned(), |beam| format!("beam{beam}"))
}

/// Summarizes `text` with the built-in template and SmolLM2 in a `chute-llm` worker, and
/// prints the token rates and the stage's real-time factor.
async fn summarize(worker: &Path, clip: &str, text: &str, threads: usize, audio_seconds: f64) {
    use chute::summary::template::Template;
    use chute::summary::worker::{LlamaWorker, WorkerSpec};
    use chute::summary::{Summarizer, SummarySettings};
    let timeout = std::time::Duration::from_secs(600);
    let spec = WorkerSpec {
        program: worker.to_owned(),
        model: chute::models::default_models_dir().join("gguf/SmolLM2-135M-Instruct.Q4_1.gguf"),
        threads: threads as u16,
        context: 4096,
        gpu_layers: 0,
        launcher: std::path::PathBuf::from(env!("CARGO_BIN_EXE_chute")),
        cpu_cores: 0,
    };
    let started = Instant::now();
    let mut worker = LlamaWorker::start(&spec, timeout)
        .await
        .expect("start chute-llm");
    let load = started.elapsed().as_secs_f64();
    let template = Template::built_in();
    let segments: Vec<String> = text.lines().map(str::to_owned).collect();
    let settings = SummarySettings {
        temperature: 0.3,
        attempts: 3,
        timeout,
        repetition: chute::summary::config::SummarizeConfig::default().repetition(),
    };
    let started = Instant::now();
    let mut summarizer =
        Summarizer::new(&mut worker, &template, "en", settings, |_| {}).expect("summarizer");
    let summary = summarizer.summarize(&segments).await.expect("summary");
    let wall = started.elapsed().as_secs_f64();
    let stats = summarizer.stats.clone();
    // Share of summary.json's list items and sentences that repeat another (goal 0).
    let repeated = chute::summary::repetition::repeated_share(&summary);
    println!(
        "result tool=chute-summary clip={clip} load_s={load:.4} prompt_tokens={} prompt_tok_s={:.2} generated_tokens={} tok_s={:.2} summarize_s={wall:.4} audio_s={audio_seconds:.3} repeated={repeated:.4}",
        stats.prompt_tokens,
        stats.prompt_tokens_per_second(),
        stats.generated_tokens,
        stats.tokens_per_second()
    );
    drop(summarizer);
    worker.stop().await;
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// whisper tiny.en as the ggml file the daemon would use with `weights`, converted (once)
/// from the CTranslate2 model that scripts/fetch-test-models.sh unpacks.
fn ggml_model(weights: Weights) -> PathBuf {
    let config = TranscribeConfig {
        weights,
        ..TranscribeConfig::default()
    };
    let (output, ct2) = config.model_file(&ModelsConfig::default());
    let ct2 = ct2.unwrap_or_else(|| {
        panic!(
            "the bundled faster-whisper model is missing under {}: run scripts/fetch-test-models.sh",
            chute::models::default_models_dir().display()
        )
    });
    chute::models::ct2::convert_if_missing(&ct2, &output, weights)
        .expect("convert tiny.en to ggml");
    output
}

fn decode(runtime: &tokio::runtime::Runtime, input: &Path, samples: &Path) -> (DecodeInfo, f64) {
    let exe = Path::new(env!("CARGO_BIN_EXE_chute"));
    let started = Instant::now();
    let limits = DecodeLimits {
        max_seconds: 2 * 3600,
        ..DecodeLimits::default()
    };
    let info = runtime
        .block_on(decode_in_child(exe, input, samples, &limits, |_| {}))
        .unwrap_or_else(|e| panic!("decoding {}: {e}", input.display()));
    (info, started.elapsed().as_secs_f64())
}

fn load(path: &Path) -> (WhisperModel, f64) {
    let started = Instant::now();
    let model = WhisperModel::load(path, false).expect("load the whisper model");
    (model, started.elapsed().as_secs_f64())
}

/// Transcribes `samples`; the transcript and the seconds it took.
fn transcribe(
    model: &WhisperModel,
    samples: &Path,
    settings: &TranscribeSettings,
) -> (Transcript, f64) {
    let started = Instant::now();
    let transcript = model
        .transcribe(
            samples,
            settings,
            Arc::new(|_| {}),
            Arc::new(AtomicBool::new(false)),
        )
        .expect("transcribe");
    (transcript, started.elapsed().as_secs_f64())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn run(clip: &str, audio: &Path, reference: &Path, out: &Path, decode_only: &[&str]) {
    let reference = read(reference);
    let settings = default_settings();
    std::fs::create_dir_all(out).expect("output folder");
    let runtime = runtime();

    let weights = TranscribeConfig::default().weights;
    let (model, load_seconds) = load(&ggml_model(weights));
    let mut runs = vec![("defaults", settings.clone())];
    match without_vad(&settings) {
        Some(novad) => runs.push(("novad", novad)),
        None => println!(
            "note clip={clip} chute's defaults ran without VAD (no usable Silero model), so there is no VAD row"
        ),
    }
    let mut default_text = String::new();
    let mut audio_seconds = 0.0;
    for (mode, settings) in &runs {
        let samples = out.join(format!("chute-{clip}-{mode}.f32"));
        let (info, decode_seconds) = decode(&runtime, audio, &samples);
        let (transcript, transcribe_seconds) = transcribe(&model, &samples, settings);
        std::fs::remove_file(&samples).expect("remove samples");
        let text = transcript.to_txt();
        std::fs::write(out.join(format!("chute-{clip}-{mode}.txt")), &text)
            .expect("write transcript");
        println!(
            "result tool=chute clip={clip} mode={mode} weights={} decoding={} vad={} threads={} load_s={load_seconds:.4} decode_s={decode_seconds:.4} transcribe_s={transcribe_seconds:.4} audio_s={:.3} wer={:.4}",
            model.weights(),
            decoding(settings),
            if settings.vad.is_some() { "on" } else { "off" },
            settings.threads,
            info.duration_seconds,
            word_error_rate(&reference, &text)
        );
        if *mode == "defaults" {
            default_text = text;
            audio_seconds = info.duration_seconds;
        }
    }
    drop(model);

    if std::env::var("CHUTE_BENCH_MATRIX").is_ok_and(|value| value == "1") {
        matrix(&runtime, clip, audio, &reference, out, &settings);
    }

    if let Some(worker) = std::env::var_os("CHUTE_BENCH_LLM") {
        runtime.block_on(summarize(
            Path::new(&worker),
            clip,
            &default_text,
            settings.threads,
            audio_seconds,
        ));
    }

    for input in decode_only {
        let input = Path::new(input);
        let samples = out.join("decode-only.f32");
        let (info, seconds) = decode(&runtime, input, &samples);
        std::fs::remove_file(&samples).expect("remove samples");
        println!(
            "result tool=chute-decode file={} decode_s={seconds:.4} audio_s={:.3}",
            input.file_name().unwrap_or_default().to_string_lossy(),
            info.duration_seconds
        );
    }
}

/// Every weights type, greedy and beam 5, on one decode of `audio`: the figures the
/// default weights and decoding were chosen by.
fn matrix(
    runtime: &tokio::runtime::Runtime,
    clip: &str,
    audio: &Path,
    reference: &str,
    out: &Path,
    defaults: &TranscribeSettings,
) {
    let samples = out.join(format!("chute-{clip}-matrix.f32"));
    let (info, _) = decode(runtime, audio, &samples);
    for weights in [Weights::F16, Weights::Q8_0, Weights::Q5_1, Weights::Q5_0] {
        let (model, load_seconds) = load(&ggml_model(weights));
        for beam_size in [None, Some(5)] {
            let settings = TranscribeSettings {
                beam_size,
                ..defaults.clone()
            };
            let (transcript, seconds) = transcribe(&model, &samples, &settings);
            println!(
                "result tool=chute clip={clip} mode=matrix weights={} decoding={} threads={} load_s={load_seconds:.4} decode_s=0 transcribe_s={seconds:.4} audio_s={:.3} wer={:.4}",
                weights.name(),
                decoding(&settings),
                settings.threads,
                info.duration_seconds,
                word_error_rate(reference, &transcript.to_txt())
            );
        }
    }
    std::fs::remove_file(&samples).expect("remove samples");
}

/// This process's peak resident memory so far (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    read(Path::new("/proc/self/status"))
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// One long recording with the daemon's defaults: its real-time factor, and whether the
/// peak memory after the whole recording stays where it was after the first chunk.
fn long(audio: &Path, out: &Path) {
    let settings = default_settings();
    std::fs::create_dir_all(out).expect("output folder");
    let runtime = runtime();
    let samples = out.join("chute-long.f32");
    let (info, decode_seconds) = decode(&runtime, audio, &samples);
    let (model, _) = load(&ggml_model(TranscribeConfig::default().weights));
    let mut after_first_chunk = 0;
    let mut chunks = 0;
    let started = Instant::now();
    let transcript = model
        .transcribe_resumable(
            &samples,
            &settings,
            Arc::new(|_| {}),
            Arc::new(AtomicBool::new(false)),
            &BTreeMap::new(),
            &mut |index, _| {
                if index == 0 {
                    after_first_chunk = peak_rss_kib();
                }
                chunks += 1;
                Ok(())
            },
        )
        .expect("transcribe")
        .transcript;
    let transcribe_seconds = started.elapsed().as_secs_f64();
    std::fs::remove_file(&samples).expect("remove samples");
    std::fs::write(out.join("chute-long.txt"), transcript.to_txt()).expect("write transcript");
    println!(
        "result tool=chute-long weights={} decoding={} threads={} decode_s={decode_seconds:.4} transcribe_s={transcribe_seconds:.4} audio_s={:.3} chunks={chunks} segments={} hwm_first_chunk_kib={after_first_chunk} hwm_end_kib={}",
        model.weights(),
        decoding(&settings),
        settings.threads,
        info.duration_seconds,
        transcript.segments.len(),
        peak_rss_kib()
    );
}
