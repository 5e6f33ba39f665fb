//! The shipped `openai` plugin through the real host against the fake OpenAI and
//! OpenAI-compatible servers: text under a strict JSON Schema and speech as declared
//! audio, the request each flavor gets on the wire (the key only in `Authorization`,
//! and no Authorization at all for a keyless local server), and every failure the
//! fake can inject mapped to the error the host acts on, without a panic.

use std::time::Duration;

use chute::provider::bindings::{Media, SpeechRequest, TextRequest};
use chute::provider::plugin::{Answer, Operation};
use chute::provider::{Provider, Providers};
use chute_fakes::{Call, FakeOpenAi, Fault, Flavor, KeyMode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{call_once, mapped_failure, one_provider};

const KEY: &str = "sk-proj-FAKE-openai-plugin-0000000000000000";

/// A spool with the openai plugin, its provider pointed at `fake` with `keys`.
async fn openai(fake: &FakeOpenAi, keys: &[&str], settings: &str) -> (TempDir, Providers) {
    one_provider("openai", &fake.url, keys, settings).await
}

fn provider(providers: &Providers) -> &Provider {
    providers.get("openai").expect("openai loaded")
}

/// A schema as chute's stages write it: not yet what strict mode takes (an optional
/// property, length bounds, an open object).
fn schema() -> Value {
    json!({"type": "object", "required": ["title", "points"],
           "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 60},
                          "mood": {"type": "string", "enum": ["calm", "urgent"]},
                          "points": {"type": "array", "minItems": 2, "maxItems": 2,
                                     "items": {"type": "string", "maxLength": 80}}}})
}

fn text(schema: Option<Value>) -> Operation {
    Operation::Text(TextRequest {
        system: Some("You summarise meetings.".into()),
        prompt: "Summarise: the harbour tides rise twice a day and boats wait".into(),
        json_schema: schema.map(|schema| schema.to_string()),
        temperature: Some(0.2),
        max_output_tokens: Some(700),
    })
}

/// The text result of a successful call.
async fn answered(
    provider: &Provider,
    operation: Operation,
) -> chute::provider::bindings::TextResult {
    match call_once(provider, operation).await {
        Ok(Answer::Text(result)) => result,
        other => panic!("not a text answer: {other:?}"),
    }
}

/// Fails unless `KEY` appears nowhere in what the fake saw but `Authorization`.
fn key_only_in_authorization(fake: &FakeOpenAi) {
    for seen in fake.seen() {
        assert!(
            !String::from_utf8_lossy(&seen.body).contains(KEY),
            "key in a body"
        );
        assert!(!seen.query.contains(KEY), "key in a query");
        for (name, value) in &seen.headers {
            if name != "authorization" {
                assert!(!value.contains(KEY), "key in header {name}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_goes_out_under_a_strict_schema_and_comes_back_with_its_usage() {
    let fake = FakeOpenAi::start(Flavor::OpenAi, &[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = openai(&fake, &[KEY], "model = \"gpt-4.1-mini\"\n").await;
    let oa = provider(&providers);

    // The fake refuses what strict mode refuses: the plugin's rewrite got through.
    let result = answered(oa, text(Some(schema()))).await;
    let answer: Value = serde_json::from_str(&result.text).unwrap();
    assert!(answer["title"].is_string(), "{answer}");
    assert_eq!(answer["points"].as_array().map(Vec::len), Some(2));
    assert_eq!(result.model, "gpt-4.1-mini");
    assert!(result.input_tokens.is_some_and(|tokens| tokens > 5));
    assert!(result.output_tokens.is_some_and(|tokens| tokens > 0));

    let sent = &fake.seen()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str(), sent.status),
        ("POST", "/v1/chat/completions", 200)
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = sent.json();
    assert_eq!(body["model"], "gpt-4.1-mini");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 700);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You summarise meetings."})
    );
    assert_eq!(body["messages"][1]["role"], "user");
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "answer");
    assert_eq!(format["json_schema"]["strict"], true);
    let sent_schema = &format["json_schema"]["schema"];
    assert_eq!(sent_schema["additionalProperties"], false);
    assert_eq!(sent_schema["required"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        sent_schema["properties"]["mood"]["type"],
        json!(["string", "null"])
    );
    assert!(
        sent_schema["properties"]["title"]
            .get("maxLength")
            .is_none()
    );

    // Without a schema: plain text, no response_format.
    let result = answered(oa, text(None)).await;
    assert!(result.text.contains("harbour tides"), "{}", result.text);
    assert!(fake.seen()[1].json().get("response_format").is_none());
    key_only_in_authorization(&fake);
    assert!(!format!("{:?}", oa.settings).contains(KEY));
}

fn speech(voice: Option<&str>) -> Operation {
    Operation::Speak(SpeechRequest {
        text: "Fresh coffee, roasted every morning. Taste it today!".into(),
        voice: voice.map(str::to_string),
        language: Some("en-US".into()),
    })
}

/// Seconds of audio once decoded by the renderer's own decoder.
fn decoded_seconds(audio: &[u8], extension: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("voice.{extension}"));
    std::fs::write(&path, audio).unwrap();
    gstreamer::init().unwrap();
    let samples = chute::video::render::audio::decode(&path, "voice", 60.0).unwrap();
    samples.len() as f64 / (48_000.0 * 2.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_comes_back_in_the_format_it_is_declared_as() {
    let fake = FakeOpenAi::start(Flavor::OpenAi, &[(KEY, KeyMode::Valid)]).await;
    for (settings, mime, extension) in [
        ("speed = 1.25\n", "audio/wav", Some("wav")),
        (
            "speech_format = \"mp3\"\ntts_model = \"tts-1\"\n",
            "audio/mpeg",
            Some("mp3"),
        ),
        (
            "speech_format = \"pcm\"\nvoice = \"nova\"\n",
            "audio/L16;rate=24000",
            None,
        ),
    ] {
        let (_spool, providers) = openai(&fake, &[KEY], settings).await;
        // "vi-female" is another provider's voice: the configured one (or alloy) is used.
        let Answer::Speech(spoken) = call_once(provider(&providers), speech(Some("vi-female")))
            .await
            .unwrap()
        else {
            panic!("speech")
        };
        assert_eq!(spoken.format, mime);
        let Media::Bytes(audio) = spoken.audio else {
            panic!("inline audio")
        };
        assert_eq!(audio.mime_type, mime);
        let seconds = match extension {
            Some(extension) => decoded_seconds(&audio.data, extension),
            None => audio.data.len() as f64 / (24_000.0 * 2.0),
        };
        assert!((2.0..8.0).contains(&seconds), "{settings}: {seconds} s");
    }
    let sent: Vec<Value> = fake.seen().iter().map(|seen| seen.json()).collect();
    assert!(
        fake.seen()
            .iter()
            .all(|seen| seen.path == "/v1/audio/speech")
    );
    assert_eq!(sent[0]["model"], "gpt-4o-mini-tts");
    assert_eq!(
        (
            &sent[0]["voice"],
            &sent[0]["response_format"],
            &sent[0]["speed"]
        ),
        (&json!("alloy"), &json!("wav"), &json!(1.25))
    );
    assert_eq!(
        (&sent[1]["model"], &sent[1]["response_format"]),
        (&json!("tts-1"), &json!("mp3"))
    );
    assert_eq!(
        (&sent[2]["voice"], &sent[2]["response_format"]),
        (&json!("nova"), &json!("pcm"))
    );
    // A request's own OpenAI voice wins over the setting.
    let (_spool, providers) = openai(&fake, &[KEY], "voice = \"nova\"\n").await;
    call_once(provider(&providers), speech(Some("Coral")))
        .await
        .unwrap();
    assert_eq!(fake.seen().last().unwrap().json()["voice"], "coral");
    key_only_in_authorization(&fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_compatible_server_gets_the_request_it_reads() {
    // vLLM started with --api-key: the nested json_schema, the key as Bearer.
    let vllm = FakeOpenAi::start(Flavor::Vllm, &[(KEY, KeyMode::Valid)]).await;
    let model = "model = \"Qwen/Qwen2.5-7B-Instruct\"\n";
    let (_spool, providers) = openai(&vllm, &[KEY], model).await;
    let result = answered(provider(&providers), text(Some(schema()))).await;
    assert!(serde_json::from_str::<Value>(&result.text).unwrap()["title"].is_string());
    let sent = vllm.seen().pop().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.json()["response_format"]["type"], "json_schema");
    assert!(sent.json().get("guided_json").is_none());
    // vLLM's own structured_outputs, with the schema also in the prompt.
    let (_spool, providers) = openai(
        &vllm,
        &[KEY],
        &format!("{model}structured_output = \"structured_outputs\"\n"),
    )
    .await;
    answered(provider(&providers), text(Some(schema()))).await;
    let body = vllm.seen().pop().unwrap().json();
    assert_eq!(body["structured_outputs"]["json"], schema());
    assert!(body.get("response_format").is_none());
    assert!(
        body["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("JSON Schema")
    );

    // Ollama and llama.cpp without keys: no Authorization header at all.
    for (flavor, model) in [
        (Flavor::Ollama, "llama3.2:latest"),
        (Flavor::LlamaCpp, "anything"),
    ] {
        let fake = FakeOpenAi::start(flavor, &[]).await;
        let base = format!("{}/v1", fake.url);
        let (_spool, providers) =
            one_provider("openai", &base, &[], &format!("model = \"{model}\"\n")).await;
        let result = answered(provider(&providers), text(Some(schema()))).await;
        assert!(
            serde_json::from_str::<Value>(&result.text).is_ok(),
            "{flavor:?}: {}",
            result.text
        );
        let sent = fake.seen().pop().unwrap();
        assert_eq!(
            sent.path, "/v1/chat/completions",
            "{flavor:?}: /v1 is not doubled"
        );
        assert_eq!(sent.header("authorization"), None, "{flavor:?}");
    }

    // OpenRouter: /api/v1, require_parameters so no provider ignores the schema, the
    // attribution headers.
    let router = FakeOpenAi::start(Flavor::OpenRouter, &[(KEY, KeyMode::Valid)]).await;
    let settings = "model = \"openai/gpt-4o-mini\"\nrequire_parameters = true\nhttp_referer = \"https://chute.example\"\napp_title = \"chute\"\n";
    let (_spool, providers) = openai(&router, &[KEY], settings).await;
    let result = answered(provider(&providers), text(Some(schema()))).await;
    assert!(
        serde_json::from_str::<Value>(&result.text).is_ok(),
        "{}",
        result.text
    );
    let sent = router.seen().pop().unwrap();
    assert_eq!(sent.path, "/api/v1/chat/completions");
    assert_eq!(sent.json()["provider"], json!({"require_parameters": true}));
    assert_eq!(sent.header("http-referer"), Some("https://chute.example"));
    assert_eq!(sent.header("x-openrouter-title"), Some("chute"));
    // Without it, the routed provider ignored the schema: prose is not passed on as JSON.
    let (_spool, providers) = openai(&router, &[KEY], "model = \"openai/gpt-4o-mini\"\n").await;
    let (kind, message) = mapped_failure(provider(&providers), text(Some(schema()))).await;
    assert_eq!(kind, "other");
    assert!(message.contains("not the JSON"), "{message}");

    // LM Studio refuses json_object: asked again once with the schema in the prompt.
    let lms = FakeOpenAi::start(Flavor::LmStudio, &[]).await;
    let (_spool, providers) = openai(
        &lms,
        &[],
        "model = \"qwen2.5-7b-instruct\"\nstructured_output = \"json_object\"\n",
    )
    .await;
    lms.answer_text([String::from(
        "```json\n{\"title\": \"Tides\", \"points\": [\"a\", \"b\"]}\n```",
    )]);
    let result = answered(provider(&providers), text(Some(schema()))).await;
    assert_eq!(
        result.text,
        "{\"title\": \"Tides\", \"points\": [\"a\", \"b\"]}"
    );
    let statuses: Vec<u16> = lms.seen().iter().map(|seen| seen.status).collect();
    assert_eq!(statuses, [400, 200]);
    assert!(lms.seen()[1].json().get("response_format").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_failure_maps_to_the_error_the_host_acts_on() {
    // Rate limits rest a key and refusals disable it: one key per row.
    let keys: Vec<String> = (0..16).map(|n| format!("sk-fake-row-{n:02}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let known: Vec<(&str, KeyMode)> = keys.iter().map(|key| (*key, KeyMode::Valid)).collect();
    let fake = FakeOpenAi::start(Flavor::OpenAi, &known).await;
    let (_spool, providers) = openai(&fake, &keys, "").await;
    let oa = provider(&providers);
    let table: Vec<(Fault, &str, &str)> = vec![
        (
            Fault::RateLimited(Duration::from_secs(3)),
            "rate-limited",
            "3000",
        ),
        // Tokens per minute: no Retry-After, the spent limit's x-ratelimit-reset-tokens.
        (Fault::BareRateLimit, "rate-limited", "7500"),
        (
            Fault::QuotaExhausted,
            "quota-exhausted",
            "insufficient_quota",
        ),
        (Fault::Unauthorized, "unauthorized", "invalid_api_key"),
        (Fault::Forbidden, "unauthorized", "unsupported_country"),
        (Fault::ModelGone, "bad-request", "model_not_found"),
        (Fault::Internal, "unavailable", "HTTP 500"),
        (Fault::Unavailable, "unavailable", "overloaded"),
        (Fault::Malformed, "other", "not JSON"),
        (Fault::Blocked, "content-blocked", "refused"),
        (Fault::Truncated, "other", "finish_reason: length"),
    ];
    for (fault, want, word) in table {
        fake.faults().script_for(Call::Text, [fault.clone()]);
        let (got, message) = mapped_failure(oa, text(Some(schema()))).await;
        assert_eq!(got, want, "{fault:?} became {got}: {message}");
        assert!(
            message.contains(word),
            "{fault:?}: {message:?} lacks {word:?}"
        );
    }
    fake.faults().script_for(Call::Speech, [Fault::Malformed]);
    let (got, message) = mapped_failure(oa, speech(None)).await;
    assert_eq!(
        (got, message.contains("text/html")),
        ("other", true),
        "{message}"
    );

    // A retired model; a schema strict mode refuses (asked once, not again without it).
    fake.retire_model("gpt-4o-mini");
    let (got, message) = mapped_failure(oa, text(None)).await;
    assert_eq!(
        (got, message.contains("does not exist")),
        ("bad-request", true),
        "{message}"
    );
    let (_spool, providers) = openai(&fake, &["sk-fake-row-15"], "model = \"gpt-4o\"\n").await;
    let before = fake.seen().len();
    let list = json!({"type": "array", "items": {"type": "string"}});
    let (got, message) = mapped_failure(provider(&providers), text(Some(list))).await;
    assert_eq!(got, "bad-request");
    assert!(message.contains("invalid_json_schema"), "{message}");
    assert_eq!(
        fake.seen().len(),
        before + 1,
        "an invalid schema was retried"
    );
    // An answer that is not JSON under a schema.
    fake.answer_text([String::from("I think the meeting went well.")]);
    let (got, _) = mapped_failure(provider(&providers), text(Some(schema()))).await;
    assert_eq!(got, "other");
    // An unknown key.
    let (_spool, providers) = openai(&fake, &["sk-never-issued"], "model = \"gpt-4o\"\n").await;
    assert_eq!(
        mapped_failure(provider(&providers), text(None)).await.0,
        "unauthorized"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compatible_servers_own_error_shapes_are_mapped_too() {
    // vLLM's auth error is a bare string.
    let vllm = FakeOpenAi::start(Flavor::Vllm, &[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = openai(
        &vllm,
        &["sk-wrong"],
        "model = \"Qwen/Qwen2.5-7B-Instruct\"\n",
    )
    .await;
    let (got, message) = mapped_failure(provider(&providers), text(None)).await;
    assert_eq!(
        (got, message.as_str()),
        ("unauthorized", "HTTP 401: Unauthorized")
    );
    // Ollama: a model not pulled, a full queue.
    let ollama = FakeOpenAi::start(Flavor::Ollama, &[]).await;
    let (_spool, providers) = openai(&ollama, &[], "model = \"mistral:7b\"\n").await;
    let (got, message) = mapped_failure(provider(&providers), text(None)).await;
    assert_eq!(got, "bad-request");
    assert!(message.contains("try pulling it first"), "{message}");
    let (_spool, providers) = openai(&ollama, &[], "model = \"llama3.2:latest\"\n").await;
    ollama.faults().script([Fault::Unavailable]);
    let (got, message) = mapped_failure(provider(&providers), text(None)).await;
    assert_eq!(got, "unavailable");
    assert!(message.contains("maximum pending requests"), "{message}");
    // llama.cpp while loading.
    let llama = FakeOpenAi::start(Flavor::LlamaCpp, &[]).await;
    let (_spool, providers) = openai(&llama, &[], "").await;
    llama.faults().script([Fault::Unavailable]);
    let (got, message) = mapped_failure(provider(&providers), text(None)).await;
    assert_eq!(
        (got, message.contains("Loading model")),
        ("unavailable", true),
        "{message}"
    );
    // OpenRouter: credits (402), and an error inside an HTTP 200.
    let router = FakeOpenAi::start(Flavor::OpenRouter, &[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = openai(&router, &[KEY], "model = \"openai/gpt-4o-mini\"\n").await;
    router
        .faults()
        .script([Fault::QuotaExhausted, Fault::Internal]);
    let (got, message) = mapped_failure(provider(&providers), text(None)).await;
    assert_eq!(
        (got, message.contains("Insufficient credits")),
        ("quota-exhausted", true),
        "{message}"
    );
    let (got, message) = mapped_failure(provider(&providers), text(None)).await;
    assert_eq!(
        (got, message.contains("Provider returned error")),
        ("unavailable", true),
        "{message}"
    );
    assert_eq!(router.seen().last().unwrap().status, 200);
}
