//! Checks of the fake OpenAI-compatible servers: each flavor's auth, model and
//! `response_format` rules, OpenAI's strict-schema refusals in its own words, error
//! shapes, model lists and real audio.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::faults::Fault;
use axum::body::{Bytes, to_bytes};
use axum::http::{HeaderMap, HeaderValue};
use serde_json::Value;

const KEY: &str = "sk-fake-openai-0000";

fn exchange(flavor: Flavor, method: &str, rest: &str, key: Option<&str>, body: Value) -> Exchange {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
    }
    Exchange {
        method: method.into(),
        path: format!("{}{rest}", flavor.prefix()),
        query: String::new(),
        headers,
        body: Bytes::from(body.to_string()),
    }
}

async fn send(fake: &FakeOpenAi, exchange: Exchange) -> (u16, HeaderMap, Vec<u8>) {
    let answer = fake.api().answer(exchange).await;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    (status, headers, body.to_vec())
}

fn fake(flavor: Flavor, auth: bool) -> FakeOpenAi {
    FakeOpenAi::detached(flavor, Keys::new(&[(KEY, KeyMode::Valid)]), auth)
}

fn chat(model: &str, format: Value) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "You summarise."},
        {"role": "user", "content": "Tides rise twice a day near the harbour"}],
        "response_format": format})
}

fn schema(strict: bool) -> Value {
    let mut schema = json!({"type": "object", "properties": {
        "title": {"type": "string"}, "points": {"type": "array", "items": {"type": "string"}}}});
    if strict {
        schema["additionalProperties"] = json!(false);
        schema["required"] = json!(["title", "points"]);
    }
    schema
}

fn content(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn openai_enforces_strict_schemas_in_its_own_words() {
    let fake = fake(Flavor::OpenAi, true);
    let strict = |schema: Value| json!({"type": "json_schema", "json_schema": {"name": "summary", "strict": true, "schema": schema}});
    let (status, _, body) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", strict(schema(false))),
        ),
    )
    .await;
    assert_eq!(status, 400);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "invalid_json_schema");
    assert_eq!(error["error"]["param"], "response_format");
    assert_eq!(
        error["error"]["message"],
        "Invalid schema for response_format 'summary': In context=(), 'additionalProperties' is required to be supplied and to be false."
    );
    let mut missing = schema(true);
    missing["required"] = json!(["title"]);
    let (status, _, body) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", strict(missing)),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("Missing 'points'"));
    let mut bounded = schema(true);
    bounded["properties"]["title"]["maxLength"] = json!(40);
    let (_, _, body) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", strict(bounded)),
        ),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&body)
            .contains("In context=('properties', 'title'), 'maxLength' is not permitted.")
    );

    let (status, headers, body) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", strict(schema(true))),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers.get("x-request-id").is_some());
    let answer: Value = serde_json::from_str(&content(&body)).unwrap();
    assert!(answer["title"].is_string() && answer["points"].is_array());
    let full: Value = serde_json::from_slice(&body).unwrap();
    assert!(full["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    // Fields OpenAI does not know, json_object without "json", keys and models.
    let mut guided = chat("gpt-4o-mini", json!({"type": "text"}));
    guided["guided_json"] = schema(true);
    let (status, _, body) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            guided,
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body)
            .contains("Unrecognized request argument supplied: guided_json")
    );
    let (status, _, _) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", json!({"type": "json_object"})),
        ),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            None,
            chat("gpt-4o-mini", json!({"type": "text"})),
        ),
    )
    .await;
    assert_eq!(status, 401);
    fake.retire_model("gpt-4o-mini");
    let (status, _, body) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", json!({"type": "text"})),
        ),
    )
    .await;
    assert_eq!(status, 404);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn compatible_servers_accept_ignore_and_refuse_as_section_11_says() {
    // vLLM: guided_json is ignored (free prose, HTTP 200); structured_outputs works;
    // a key is checked only when it was started with one, with a string error.
    let vllm = fake(Flavor::Vllm, true);
    let model = "Qwen/Qwen2.5-7B-Instruct";
    let mut guided = chat(model, json!({"type": "text"}));
    guided["guided_json"] = schema(false);
    let (status, _, body) = send(
        &vllm,
        exchange(Flavor::Vllm, "POST", "chat/completions", Some(KEY), guided),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content(&body).starts_with("Sure!"));
    let mut structured = chat(model, json!({"type": "text"}));
    structured["structured_outputs"] = json!({"json": schema(false)});
    let (_, _, body) = send(
        &vllm,
        exchange(
            Flavor::Vllm,
            "POST",
            "chat/completions",
            Some(KEY),
            structured,
        ),
    )
    .await;
    assert!(serde_json::from_str::<Value>(&content(&body)).unwrap()["title"].is_string());
    let (status, _, body) = send(
        &vllm,
        exchange(
            Flavor::Vllm,
            "POST",
            "chat/completions",
            None,
            chat(model, json!({"type": "text"})),
        ),
    )
    .await;
    assert_eq!(
        (status, serde_json::from_slice::<Value>(&body).unwrap()),
        (401, json!({"error": "Unauthorized"}))
    );
    let (status, _, body) = send(
        &vllm,
        exchange(
            Flavor::Vllm,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", json!({"type": "text"})),
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["type"],
        "NotFoundError"
    );

    // llama.cpp: any model name, the flat schema form is unconstrained.
    let llama = fake(Flavor::LlamaCpp, false);
    let flat = chat(
        "gpt-3.5-turbo",
        json!({"type": "json_schema", "schema": schema(false)}),
    );
    let (status, _, body) = send(
        &llama,
        exchange(Flavor::LlamaCpp, "POST", "chat/completions", None, flat),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content(&body).starts_with("Sure!"));
    let (_, _, body) = send(
        &llama,
        exchange(Flavor::LlamaCpp, "GET", "models", None, json!(null)),
    )
    .await;
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["owned_by"], "llamacpp");

    // LM Studio refuses json_object with a string error.
    let lms = fake(Flavor::LmStudio, false);
    let (status, _, body) = send(
        &lms,
        exchange(
            Flavor::LmStudio,
            "POST",
            "chat/completions",
            None,
            chat("qwen2.5-7b-instruct", json!({"type": "json_object"})),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"],
        "'response_format.type' must be 'json_schema' or 'text'"
    );

    // OpenRouter: the schema is honoured only with require_parameters; errors after
    // the start come as HTTP 200.
    let router = fake(Flavor::OpenRouter, true);
    let format = json!({"type": "json_schema", "json_schema": {"name": "s", "strict": true, "schema": schema(true)}});
    let (_, _, body) = send(
        &router,
        exchange(
            Flavor::OpenRouter,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("openai/gpt-4o-mini", format.clone()),
        ),
    )
    .await;
    assert!(content(&body).starts_with("Sure!"));
    let mut required = chat("openai/gpt-4o-mini", format);
    required["provider"] = json!({"require_parameters": true});
    let (_, _, body) = send(
        &router,
        exchange(
            Flavor::OpenRouter,
            "POST",
            "chat/completions",
            Some(KEY),
            required.clone(),
        ),
    )
    .await;
    assert!(serde_json::from_str::<Value>(&content(&body)).is_ok());
    router.faults().script([Fault::Internal]);
    let (status, _, body) = send(
        &router,
        exchange(
            Flavor::OpenRouter,
            "POST",
            "chat/completions",
            Some(KEY),
            required,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"],
        502
    );

    // Ollama: no key needed, 503 when busy.
    let ollama = fake(Flavor::Ollama, true);
    ollama.faults().script([Fault::Unavailable]);
    let (status, _, body) = send(
        &ollama,
        exchange(
            Flavor::Ollama,
            "POST",
            "chat/completions",
            None,
            chat("llama3.2:latest", json!({"type": "text"})),
        ),
    )
    .await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("maximum pending requests exceeded"));
}

#[tokio::test]
async fn rate_limits_carry_their_hints_and_speech_is_real_audio() {
    let fake = fake(Flavor::OpenAi, true);
    fake.faults().script([
        Fault::RateLimited(std::time::Duration::from_secs(3)),
        Fault::BareRateLimit,
        Fault::QuotaExhausted,
    ]);
    let request = || {
        exchange(
            Flavor::OpenAi,
            "POST",
            "chat/completions",
            Some(KEY),
            chat("gpt-4o-mini", json!({"type": "text"})),
        )
    };
    let (status, headers, _) = send(&fake, request()).await;
    assert_eq!(
        (
            status,
            headers.get("retry-after").unwrap().to_str().unwrap()
        ),
        (429, "3")
    );
    let (_, headers, _) = send(&fake, request()).await;
    assert!(headers.get("retry-after").is_none());
    assert_eq!(headers.get("x-ratelimit-reset-tokens").unwrap(), "7.5s");
    let (status, _, body) = send(&fake, request()).await;
    assert_eq!(status, 429);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["error"]["code"],
        "insufficient_quota"
    );

    let speech = |format: &str| {
        exchange(
            Flavor::OpenAi,
            "POST",
            "audio/speech",
            Some(KEY),
            json!({"model": "gpt-4o-mini-tts", "voice": "coral", "input": "Fresh coffee every morning.", "response_format": format}),
        )
    };
    let (status, headers, body) = send(&fake, speech("wav")).await;
    assert_eq!(
        (
            status,
            headers.get("content-type").unwrap().to_str().unwrap()
        ),
        (200, "audio/wav")
    );
    crate::media::check_magic(&body, "wav").unwrap();
    let (_, _, pcm) = send(&fake, speech("pcm")).await;
    assert_eq!(
        pcm.len(),
        body.len() - 44,
        "PCM is the WAV's samples without the header"
    );
    let (status, _, _) = send(
        &fake,
        exchange(
            Flavor::OpenAi,
            "POST",
            "audio/speech",
            Some(KEY),
            json!({"model": "gpt-4o-mini-tts", "voice": "Kore", "input": "x"}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    // Only OpenAI speaks.
    let vllm = fake_flavor_speech_refused().await;
    assert_eq!(vllm, 404);
}

async fn fake_flavor_speech_refused() -> u16 {
    let vllm = fake(Flavor::Vllm, false);
    let (status, _, _) = send(
        &vllm,
        exchange(
            Flavor::Vllm,
            "POST",
            "audio/speech",
            None,
            json!({"model": "tts-1", "voice": "alloy", "input": "x"}),
        ),
    )
    .await;
    status
}
