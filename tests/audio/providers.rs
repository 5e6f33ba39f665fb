//! The summary through a text provider chain, end to end through the daemon: with
//! `[summarize] providers = ["vllm"]` pointed at the fake vLLM server (the shipped
//! openai plugin, no key: a local server), the provider writes summary.json from the
//! transcript and result.json names it; when the server answers 503 to everything, the
//! local llama.cpp model writes it instead and the job is still delivered.

use chute::summary::template::Template;
use chute_fakes::{FakeOpenAi, Fault, Flavor};
use serde_json::{Value, json};

use crate::harness::{Outcome, Spool, secs};
use crate::{
    SENTENCES, assert_no_stage_failed, assert_valid_summary, audio_config, drop_speech, stage,
};

/// The fake vLLM server (no --api-key) on its own runtime.
fn vllm() -> (tokio::runtime::Runtime, FakeOpenAi) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = runtime.block_on(FakeOpenAi::start(Flavor::Vllm, &[]));
    (runtime, fake)
}

/// A spool whose summaries go to `fake` first, through the openai plugin.
fn spool(fake: &FakeOpenAi) -> Spool {
    let extra = format!(
        "[plugins]\ncall_timeout = \"30s\"\nattempts = 2\n\n[providers.vllm]\nplugin = \"openai\"\nbase_url = \"{}\"\nrequests_per_minute = 60000\nmodel = \"Qwen/Qwen2.5-7B-Instruct\"\n",
        fake.url
    );
    let spool = Spool::new(&audio_config("providers = [\"vllm\"]\n", &extra));
    let plugins = spool.root.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        crate::plugins::built_plugin("openai"),
        plugins.join("openai.wasm"),
    )
    .unwrap();
    spool
}

/// The summary a capable model writes for the built-in template and the budget sentence
/// (each field within its bounds, one item per list as the short transcript allows).
fn summary_answer() -> Value {
    let answer = json!({
        "title": "Spring campaign budget",
        "summary": "The budget for the spring campaign is twelve thousand euros.",
        "key_points": ["The spring campaign has a budget of twelve thousand euros."],
        "keywords": ["budget"],
        "language": "en",
    });
    let template = Template::built_in();
    let names: Vec<&str> = template.fields.iter().map(|f| f.name.as_str()).collect();
    let keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, names, "the answer follows the built-in template");
    answer
}

fn delivered(spool: &Spool) -> Outcome {
    let daemon = spool.start_daemon();
    drop_speech(spool, "budget.wav", SENTENCES[2], 150);
    spool.wait_delivered("audio", 1, secs(300));
    drop(daemon);
    spool.deliveries("audio").pop().unwrap()
}

#[test]
fn a_text_provider_writes_the_summary_and_result_json_names_it() {
    let (_runtime, fake) = vllm();
    let answer = summary_answer();
    fake.answer_text([answer.to_string()]);
    let spool = spool(&fake);
    let outcome = delivered(&spool);

    let summary = assert_valid_summary(&outcome);
    assert_eq!(summary, answer);
    let summarize = stage(&outcome, "summarize");
    assert_eq!(summarize["status"], "done", "{}", outcome.record);
    let outputs = &summarize["outputs"];
    assert_eq!(outputs["writer"], "vllm", "{outputs}");
    assert_eq!(outputs["calls"][0]["provider"], "vllm");
    assert!(
        outputs.get("model").is_none(),
        "the local model ran too: {outputs}"
    );
    assert!(
        outcome.record.get("warnings").is_none(),
        "{}",
        outcome.record
    );

    // The server got the transcript, under the template's schema, with no key.
    let transcript: Value =
        serde_json::from_slice(&std::fs::read(outcome.dir.join("transcript.json")).unwrap())
            .unwrap();
    let sent: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|seen| seen.path == "/v1/chat/completions")
        .collect();
    assert_eq!(sent.len(), 1);
    let body = sent[0].json();
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    for segment in transcript["segments"].as_array().unwrap() {
        let text = segment["text"].as_str().unwrap().trim();
        assert!(prompt.contains(text), "{text:?} not in {prompt:?}");
    }
    assert!(prompt.to_lowercase().contains("budget"), "{prompt}");
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert_eq!(schema["properties"]["language"]["const"], "en");
    assert_eq!(sent[0].header("authorization"), None);
}

#[test]
fn a_failing_provider_falls_back_to_the_local_model() {
    let (_runtime, fake) = vllm();
    fake.faults().storm(1.0, Fault::Unavailable, 7);
    let spool = spool(&fake);
    let outcome = delivered(&spool);

    assert_valid_summary(&outcome);
    assert_eq!(outcome.record["state"], "done");
    // The summary stage did not fail; the small local model's answer may carry quality
    // notes (warnings with a cause).
    assert_no_stage_failed(&outcome);
    let outputs = &stage(&outcome, "summarize")["outputs"];
    assert_eq!(outputs["writer"], "llama", "{outputs}");
    assert_eq!(outputs["model"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    let fell = outputs["fell_through"][0].as_str().unwrap();
    assert!(fell.starts_with("vllm:") && fell.contains("503"), "{fell}");
    let statuses: Vec<u16> = fake.seen().iter().map(|seen| seen.status).collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|status| *status == 503),
        "{statuses:?}"
    );
}
