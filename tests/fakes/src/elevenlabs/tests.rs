//! Checks of the fake ElevenLabs: refusals in the API's words, real audio with
//! parallel timings, the concurrency ceiling and the character budget.
#![allow(clippy::unwrap_used)]

use super::*;
use axum::body::{Bytes, to_bytes};
use axum::http::HeaderMap;

const KEY: &str = "sk_fake_elevenlabs_0000";

fn exchange(path: &str, query: &str, body: Value) -> Exchange {
    let mut headers = HeaderMap::new();
    headers.insert("xi-api-key", HeaderValue::from_static(KEY));
    Exchange {
        method: "POST".into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: Bytes::from(body.to_string()),
    }
}

async fn send(fake: &FakeElevenLabs, exchange: Exchange) -> (u16, HeaderMap, Vec<u8>) {
    let answer = fake.api().answer(exchange).await;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    (status, headers, body.to_vec())
}

fn status_of(body: &[u8]) -> String {
    let body: Value = serde_json::from_slice(body).unwrap();
    body["detail"]["status"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn requests_are_checked_as_the_api_does() {
    let fake = FakeElevenLabs::detached(Keys::new(&[(KEY, KeyMode::Valid)]));
    let path = "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb";
    let (status, _, body) = send(&fake, exchange(path, "", json!({"model_id": "x"}))).await;
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["detail"][0]["loc"][1],
        "text"
    );
    let (status, _, _) = send(
        &fake,
        exchange(path, "output_format=mp3_1_2", json!({"text": "a"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, body) = send(
        &fake,
        exchange(
            "/v1/text-to-speech/nobody00000000000000",
            "",
            json!({"text": "a"}),
        ),
    )
    .await;
    assert_eq!(
        (status, status_of(&body).as_str()),
        (400, "voice_not_found")
    );
    let long = json!({"text": "a".repeat(10_001), "model_id": "eleven_multilingual_v2"});
    let (status, _, body) = send(&fake, exchange(path, "", long)).await;
    assert_eq!(
        (status, status_of(&body).as_str()),
        (400, "max_character_limit_exceeded")
    );
    let odd = json!({"text": "a", "voice_settings": {"stability": 3}});
    assert_eq!(send(&fake, exchange(path, "", odd)).await.0, 422);
    let mut anonymous = exchange(path, "", json!({"text": "a"}));
    anonymous.headers.clear();
    assert_eq!(send(&fake, anonymous).await.0, 401);
}

#[tokio::test]
async fn answers_are_real_audio_with_parallel_timings_and_billing_headers() {
    let fake = FakeElevenLabs::detached(Keys::new(&[(KEY, KeyMode::Valid)]));
    let path = "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb";
    let text = "Xin chào. Cà phê!";
    let (status, headers, body) = send(
        &fake,
        exchange(path, "output_format=wav_16000", json!({"text": text})),
    )
    .await;
    assert_eq!(status, 200);
    media::check_magic(&body, "wav").unwrap();
    assert_eq!(
        headers["character-cost"],
        text.chars().count().to_string().as_str()
    );
    assert!(headers.contains_key("request-id"));
    let timed = format!("{path}/with-timestamps");
    let (status, _, body) = send(
        &fake,
        exchange(&timed, "output_format=pcm_24000", json!({"text": text})),
    )
    .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).unwrap();
    let alignment = &body["alignment"];
    let count = text.chars().count();
    for name in [
        "characters",
        "character_start_times_seconds",
        "character_end_times_seconds",
    ] {
        assert_eq!(alignment[name].as_array().unwrap().len(), count, "{name}");
    }
    assert!(!body["audio_base64"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn the_concurrency_ceiling_and_the_character_budget_refuse_in_their_own_words() {
    let fake = FakeElevenLabs::detached(Keys::new(&[(KEY, KeyMode::Valid)]));
    fake.concurrency(1);
    let held = take_slot(&fake.inner, KEY).unwrap();
    let path = "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb";
    let (status, _, body) = send(
        &fake,
        exchange(path, "output_format=pcm_16000", json!({"text": "one"})),
    )
    .await;
    assert_eq!(
        (status, status_of(&body).as_str()),
        (429, "too_many_concurrent_requests")
    );
    drop(held);
    fake.character_budget(5);
    assert_eq!(
        send(
            &fake,
            exchange(path, "output_format=pcm_16000", json!({"text": "four"}))
        )
        .await
        .0,
        200
    );
    let (status, _, body) = send(
        &fake,
        exchange(path, "output_format=pcm_16000", json!({"text": "more"})),
    )
    .await;
    assert_eq!((status, status_of(&body).as_str()), (401, "quota_exceeded"));
    assert_eq!(fake.characters_used(), 4);
}
