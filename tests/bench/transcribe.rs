//! Transcription benchmark, chute's side: one speech file decoded by the real
//! `chute decode` child (GStreamer) and transcribed by whisper.cpp through
//! `chute::media::whisper`, each stage timed on its own.
//!
//! `scripts/bench-transcribe.sh` builds this target (`cargo bench --bench transcribe
//! --no-run`), runs it next to whisper.cpp's own `whisper-cli` and faster-whisper on the
//! same audio, and prints the comparison. The commands it uses (`--bench` is what
//! `cargo bench` passes to a harness-less target):
//!
//! - `transcribe --bench model`: converts faster-whisper tiny.en (CTranslate2) to the
//!   ggml file the tests use, if it is not there yet, and prints its path;
//! - `transcribe --bench run AUDIO REFERENCE OUT [DECODE_ONLY...]`: loads the model, then
//!   decodes + transcribes AUDIO greedily and with beam search 5 (CHUTE_BENCH_THREADS
//!   threads, default 2), writes the transcripts into OUT, and prints one `result` line
//!   per mode with the load, decode and transcribe seconds and the word error rate
//!   against the text in REFERENCE; each DECODE_ONLY file is only decoded and timed;
//!   With CHUTE_BENCH_LLM naming a `chute-llm`, the beam-5 transcript is then summarized
//!   (built-in template, SmolLM2-135M) and a `result tool=chute-summary` line gives the
//!   prompt and generation rates in tokens per second and the stage's real-time factor;
//! - `transcribe --bench wer REFERENCE HYPOTHESIS`: prints chute's word error rate of a
//!   transcript file, so every tool is scored by the same function.
//!
//! Without `--bench` (`cargo test --all-targets` runs the target that way) it only
//! prints a hint: CI never runs the benchmark itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use chute::media::child::{DecodeLimits, decode_in_child};
use chute::media::decode::DecodeInfo;
use chute::media::transcript::word_error_rate;
use chute::media::whisper::{TranscribeSettings, WhisperModel};

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
        ["model"] => println!("{}", ggml_model().display()),
        ["run", audio, reference, out, decode_only @ ..] => run(
            Path::new(audio),
            Path::new(reference),
            Path::new(out),
            decode_only,
        ),
        ["wer", reference, hypothesis] => {
            let reference = read(Path::new(reference));
            let hypothesis = read(Path::new(hypothesis));
            println!("{:.4}", word_error_rate(&reference, &hypothesis));
        }
        _ => println!("{HINT}"),
    }
}

/// Summarizes `text` with the built-in template and SmolLM2 in a `chute-llm` worker, and
/// prints the token rates and the stage's real-time factor.
async fn summarize(worker: &Path, text: &str, threads: usize, audio_seconds: f64) {
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
    summarizer.summarize(&segments).await.expect("summary");
    let wall = started.elapsed().as_secs_f64();
    let stats = summarizer.stats.clone();
    println!(
        "result tool=chute-summary mode=summary load_s={load:.4} prompt_tokens={} prompt_tok_s={:.2} generated_tokens={} tok_s={:.2} summarize_s={wall:.4} audio_s={audio_seconds:.3}",
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

/// whisper tiny.en as a ggml file, converted (once) from the CTranslate2 model that
/// scripts/fetch-test-models.sh unpacks; the same file the media tests use.
/// `CHUTE_BENCH_WEIGHTS=q8_0` measures the q8_0 conversion instead of f16.
fn ggml_model() -> PathBuf {
    let models = chute::models::default_models_dir();
    let ct2 = models.join("ct2/whisper-tiny.en");
    let q8 = std::env::var("CHUTE_BENCH_WEIGHTS").is_ok_and(|w| w == "q8_0");
    let (output, weights) = if q8 {
        (
            models.join("ggml/whisper-tiny.en-q8_0.bin"),
            chute::models::ct2::Weights::Q8_0,
        )
    } else {
        (
            models.join("ggml/whisper-tiny.en.bin"),
            chute::models::ct2::Weights::F16,
        )
    };
    chute::models::ct2::convert_if_missing(&ct2, &output, weights)
        .expect("convert tiny.en to ggml");
    assert!(
        output.exists(),
        "{} is missing: run scripts/fetch-test-models.sh",
        ct2.join("model.bin").display()
    );
    output
}

fn decode(runtime: &tokio::runtime::Runtime, input: &Path, samples: &Path) -> (DecodeInfo, f64) {
    let exe = Path::new(env!("CARGO_BIN_EXE_chute"));
    let started = Instant::now();
    let info = runtime
        .block_on(decode_in_child(
            exe,
            input,
            samples,
            &DecodeLimits::default(),
            |_| {},
        ))
        .unwrap_or_else(|e| panic!("decoding {}: {e}", input.display()));
    (info, started.elapsed().as_secs_f64())
}

fn run(audio: &Path, reference: &Path, out: &Path, decode_only: &[&str]) {
    let reference = read(reference);
    let threads: usize = std::env::var("CHUTE_BENCH_THREADS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2);
    std::fs::create_dir_all(out).expect("output folder");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let path = ggml_model();
    let started = Instant::now();
    let model = WhisperModel::load(&path, false).expect("load the whisper model");
    let load = started.elapsed().as_secs_f64();

    let mut audio_seconds = 0.0;
    for (mode, beam_size) in [("greedy", None), ("beam5", Some(5))] {
        let samples = out.join(format!("chute-{mode}.f32"));
        let (info, decode_seconds) = decode(&runtime, audio, &samples);
        let settings = TranscribeSettings {
            threads,
            language: Some("en".to_owned()),
            beam_size,
            ..TranscribeSettings::default()
        };
        let started = Instant::now();
        let transcript = model
            .transcribe(
                &samples,
                &settings,
                Arc::new(|_| {}),
                Arc::new(AtomicBool::new(false)),
            )
            .expect("transcribe");
        let transcribe_seconds = started.elapsed().as_secs_f64();
        audio_seconds = transcript.duration_seconds;
        let text = transcript.to_txt();
        std::fs::write(out.join(format!("chute-{mode}.txt")), &text).expect("write transcript");
        std::fs::remove_file(&samples).expect("remove samples");
        println!(
            "result tool=chute mode={mode} threads={threads} load_s={load:.4} decode_s={decode_seconds:.4} transcribe_s={transcribe_seconds:.4} audio_s={:.3} wer={:.4}",
            info.duration_seconds,
            word_error_rate(&reference, &text)
        );
    }

    if let Some(worker) = std::env::var_os("CHUTE_BENCH_LLM") {
        let text = read(&out.join("chute-beam5.txt"));
        runtime.block_on(summarize(Path::new(&worker), &text, threads, audio_seconds));
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
