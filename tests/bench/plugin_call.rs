//! Plugin call overhead: one trivial operation (the echo plugin's generate-text: no
//! network) through the wasmtime host — fresh store, instantiate, call, return —
//! next to the same logic as a native Rust call, measured in the same run.
//!
//! `cargo bench --bench plugin_call` runs 2,000 calls of each; under `cargo test` it
//! runs 50 as a smoke test. Prints medians in microseconds and the ratio. Goal: a
//! plugin call under 100 µs.

#[allow(dead_code)]
#[path = "../plugins/harness.rs"]
mod harness;

use std::hint::black_box;
use std::time::{Duration, Instant};

use chute::provider::plugin::{CallContext, TextRequest, TextResult};
use chute::provider::{Answer, Operation};

/// The echo plugin's logic, natively.
fn native_echo(prefix: &str, request: &TextRequest) -> TextResult {
    TextResult {
        text: format!("{prefix}{}", request.prompt),
        model: "echo".into(),
        input_tokens: Some(request.prompt.split_whitespace().count() as u32),
        output_tokens: None,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let rounds = if full { 2_000 } else { 50 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let spool = harness::spool_with(&["echo"]);
    let providers = runtime.block_on(harness::load(
        &spool,
        "[plugins]\ncache_size = \"0B\"\n\n[providers.echo]\nprefix = \"echo: \"\n",
    ));
    let provider = providers.get("echo").expect("echo loads").clone();
    let request = TextRequest {
        system: None,
        prompt: "a short prompt of a few words".into(),
        json_schema: None,
        temperature: None,
        max_output_tokens: None,
    };

    let mut native = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        black_box(native_echo(black_box("echo: "), black_box(&request)));
        native.push(started.elapsed());
    }

    let settings = provider.settings.clone();
    let plugin = provider.plugin.clone();
    let http = provider.http.clone();
    let mut sandboxed = Vec::with_capacity(rounds);
    let mut hosted = Vec::with_capacity(rounds);
    runtime.block_on(async {
        for _ in 0..rounds {
            let context = CallContext { http: http.clone(), key: None, settings: settings.clone(), job: None };
            let started = Instant::now();
            let (answer, _) = plugin.call(Operation::Text(request.clone()), context).await;
            sandboxed.push(started.elapsed());
            assert!(matches!(answer, Ok(Answer::Text(ref text)) if text.text == "echo: a short prompt of a few words"));

            let started = Instant::now();
            let served = provider.call(Operation::Text(request.clone()), None).await;
            hosted.push(started.elapsed());
            assert!(served.is_ok());
        }
    });
    let (native, sandboxed, hosted) = (median(native), median(sandboxed), median(hosted));
    println!("plugin call overhead ({rounds} calls each, medians, echo plugin, no network)");
    println!(
        "  native Rust call                          {:>9.2} µs  (baseline)",
        micros(native)
    );
    println!(
        "  plugin: new store + instantiate + call     {:>9.2} µs  ({:.0}× native)",
        micros(sandboxed),
        micros(sandboxed) / micros(native).max(0.001)
    );
    println!(
        "  provider call (keys, budget, retries too)  {:>9.2} µs  ({:.0}× native)",
        micros(hosted),
        micros(hosted) / micros(native).max(0.001)
    );
    println!(
        "  goal: plugin call < 100 µs — {}",
        if micros(sandboxed) < 100.0 {
            "met"
        } else {
            "NOT met"
        }
    );
}
