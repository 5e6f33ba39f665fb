//! Checks of the fake Seedance: refusals in Ark's words (auth, models, value sets,
//! content shapes, images), the task ladder, the TOS link's signature, expiry and
//! two-auth refusal, and the quota counters.
#![allow(clippy::unwrap_used)]

use super::*;
use axum::body::{Bytes, to_bytes};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::faults::Fault;

const KEY: &str = "ark-fake-0000-1111";
const MODEL: &str = "seedance-1-0-pro-250528";

fn exchange(method: &str, path: &str, body: Value, key: Option<&str>) -> Exchange {
    let mut headers = HeaderMap::new();
    if let Some(key) = key {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    Exchange {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers,
        body: if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        },
    }
}

async fn send(fake: &Arc<dyn Fake>, exchange: Exchange) -> (u16, HeaderMap, Value) {
    let answer = fake.clone().answer(exchange).await;
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

fn fake() -> FakeSeedance {
    FakeSeedance::detached(Keys::new(&[(KEY, KeyMode::Valid)]))
        .set_origins("http://127.0.0.1:1", "http://127.0.0.1:2")
}

fn data_url(width: u32, height: u32) -> String {
    let png = crate::media::png(width, height, "frame");
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

async fn submit(fake: &FakeSeedance, body: Value) -> (u16, Value) {
    let (status, _, body) = send(
        &fake.api(),
        exchange(
            "POST",
            "/api/v3/contents/generations/tasks",
            body,
            Some(KEY),
        ),
    )
    .await;
    (status, body)
}

async fn poll(fake: &FakeSeedance, id: &str) -> Value {
    let path = format!("/api/v3/contents/generations/tasks/{id}");
    let (status, _, body) = send(&fake.api(), exchange("GET", &path, Value::Null, Some(KEY))).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn code(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or(""),
        body["error"]["param"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn submits_are_checked_as_ark_does() {
    let fake = fake();
    let (status, _, body) = send(
        &fake.api(),
        exchange(
            "POST",
            "/api/v3/contents/generations/tasks",
            json!({}),
            None,
        ),
    )
    .await;
    assert_eq!((status, code(&body).0), (401, "AuthenticationError"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Request id: 0217")
    );
    assert_eq!(body["error"]["type"], "Unauthorized");
    let text = json!([{"type": "text", "text": "a lighthouse"}]);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({"content": text}), 400, "MissingParameter", "model"),
        (
            json!({"model": "seedance-9", "content": text}),
            404,
            "InvalidEndpointOrModel.NotFound",
            "",
        ),
        (
            json!({"model": "seedance-1-0-lite-t2v-250428", "content": text}),
            404,
            "InvalidEndpointOrModel.NotFound",
            "",
        ),
        (
            json!({"model": MODEL, "content": text, "ratio": "2:1"}),
            400,
            "InvalidParameter",
            "ratio",
        ),
        (
            json!({"model": MODEL, "content": text, "duration": 13}),
            400,
            "InvalidParameter",
            "duration",
        ),
        (
            json!({"model": MODEL, "content": text, "duration": "5"}),
            400,
            "InvalidParameter",
            "duration",
        ),
        (
            json!({"model": MODEL, "content": text, "resolution": "4k"}),
            400,
            "InvalidParameter",
            "resolution",
        ),
        (
            json!({"model": MODEL, "content": text, "generate_audio": true}),
            400,
            "InvalidParameter",
            "generate_audio",
        ),
        (
            json!({"model": MODEL, "content": text, "durationSeconds": 5}),
            400,
            "InvalidParameter",
            "durationSeconds",
        ),
        (
            json!({"model": MODEL, "content": []}),
            400,
            "MissingParameter",
            "content",
        ),
        (
            json!({"model": MODEL, "content": [{"type": "image_url", "image_url": {"url": data_url(100, 100)}}]}),
            400,
            "InvalidParameter",
            "content[0].image_url",
        ),
        (
            json!({"model": MODEL, "content": [{"type": "image_url", "image_url": {"url": data_url(300, 900)}}]}),
            400,
            "InvalidParameter",
            "content[0].image_url",
        ),
        (
            json!({"model": MODEL, "content": [{"type": "image_url", "image_url": {"url": data_url(320, 320).replace("image/png", "image/PNG")}}]}),
            400,
            "InvalidParameter",
            "content[0].image_url",
        ),
        (
            json!({"model": MODEL, "content": [{"type": "image_url", "image_url": {"url": data_url(320, 320).replace("image/png", "image/jpeg")}}]}),
            400,
            "InvalidParameter",
            "content[0].image_url",
        ),
        (
            json!({"model": MODEL, "content": [{"type": "image_url", "image_url": {"url": data_url(320, 320)}, "role": "last_frame"}]}),
            400,
            "InvalidParameter",
            "content.role",
        ),
        (
            json!({"model": MODEL, "content": [
            {"type": "image_url", "image_url": {"url": data_url(320, 320)}, "role": "first_frame"},
            {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}}]}),
            400,
            "InvalidParameter",
            "content.role",
        ),
        (
            json!({"model": "dreamina-seedance-2-0-260128", "content": text, "camera_fixed": false}),
            400,
            "InvalidParameter",
            "camera_fixed",
        ),
    ];
    for (body, status, want, param) in cases {
        let (got, answer) = submit(&fake, body.clone()).await;
        assert_eq!((got, code(&answer)), (status, (want, param)), "{body}");
    }
    assert_eq!(fake.submitted(), 0);
    // Good ones: a data URL first frame, a URL first+last pair, loose text flags.
    let (status, answer) = submit(
        &fake,
        json!({"model": MODEL, "content": [
        {"type": "text", "text": "a lighthouse"},
        {"type": "image_url", "image_url": {"url": data_url(360, 640)}, "role": "first_frame"}],
        "ratio": "9:16", "duration": 5, "resolution": "720p", "seed": -1, "watermark": false}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["id"].as_str().unwrap().starts_with("cgt-2"));
    let (status, _) = submit(&fake, json!({"model": "doubao-seedance-1-0-pro-250528", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}, "role": "last_frame"}]})).await;
    assert_eq!(status, 200);
    let (status, answer) = submit(
        &fake,
        json!({"model": MODEL, "content": [
        {"type": "text", "text": "a lighthouse --rs 480p --dur 99 --rt 1:1"}]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["id"].as_str().unwrap().to_string();
    fake.polls_until_done(1);
    let task = poll(&fake, &id).await;
    // Flags: 480p and 1:1 taken, the out-of-range duration fell back to 5.
    assert_eq!(
        (
            task["resolution"].as_str(),
            task["ratio"].as_str(),
            task["duration"].as_u64()
        ),
        (Some("480p"), Some("1:1"), Some(5))
    );
}

#[tokio::test]
async fn tasks_walk_queued_running_then_end_as_scripted() {
    let fake = fake();
    fake.polls_until_done(3);
    fake.concurrency(1);
    fake.task_outcomes([
        TaskOutcome::Succeeded,
        TaskOutcome::Failed(OUTPUT_MODERATION),
    ]);
    let body = json!({"model": MODEL, "content": [{"type": "text", "text": "x"}], "return_last_frame": true});
    let (_, first) = submit(&fake, body.clone()).await;
    let (_, second) = submit(&fake, body).await;
    let (first, second) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    // One slot: the second waits queued while the first runs.
    assert_eq!(poll(&fake, second).await["status"], "queued");
    assert_eq!(poll(&fake, first).await["status"], "running");
    assert_eq!(poll(&fake, first).await["status"], "running");
    let done = poll(&fake, first).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["usage"]["completion_tokens"].as_u64().unwrap() > 100_000);
    let url = done["content"]["video_url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:2/ark-content-generation-ap-southeast-1/"),
        "{url}"
    );
    assert!(url.contains("X-Tos-Expires=86400"), "{url}");
    assert!(
        done["content"]["last_frame_url"]
            .as_str()
            .unwrap()
            .contains(".png?")
    );
    assert_eq!(poll(&fake, second).await["status"], "running");
    let failed = poll(&fake, second).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], OUTPUT_MODERATION);
    let path = "/api/v3/contents/generations/tasks/cgt-nope";
    let (status, _, body) = send(&fake.api(), exchange("GET", path, Value::Null, Some(KEY))).await;
    assert_eq!((status, code(&body).0), (404, "ResourceNotFound"));

    // The link: served without a key, refused with one, with a bad signature, or late.
    let link = url.trim_start_matches("http://127.0.0.1:2");
    let storage = fake.storage();
    let (status, headers, body) =
        send(&storage, exchange("GET", link, Value::Null, Some(KEY))).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidArgument"))
    );
    assert_eq!(headers.get("server").unwrap(), "TosServer");
    let tampered = link.replace("X-Tos-Expires=86400", "X-Tos-Expires=999999");
    let (status, _, body) = send(&storage, exchange("GET", &tampered, Value::Null, None)).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (403, Some("SignatureDoesNotMatch"))
    );
    let answer = storage
        .clone()
        .answer(exchange("GET", link, Value::Null, None))
        .await;
    assert_eq!(answer.status(), 200);
    let bytes = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    crate::media::check_magic(&bytes, "mp4").unwrap();
    fake.inner
        .state()
        .tasks
        .values_mut()
        .for_each(|task| task.link_expires = Some(1));
    let (status, headers, body) = send(&storage, exchange("GET", link, Value::Null, None)).await;
    assert_eq!(
        (status, body["Code"].as_str(), body["Message"].as_str()),
        (403, Some("AccessDenied"), Some("Request has expired"))
    );
    assert!(headers.get("x-tos-ec").is_some());
}

#[tokio::test]
async fn faults_and_counters_answer_in_arks_words() {
    let fake = fake();
    let body = json!({"model": MODEL, "content": [{"type": "text", "text": "x"}]});
    let table = [
        (
            Fault::RateLimited(Duration::from_secs(7)),
            429,
            "ModelAccountRpmRateLimitExceeded",
        ),
        (Fault::QuotaExhausted, 429, "QuotaExceeded"),
        (Fault::Unauthorized, 401, "AuthenticationError"),
        (Fault::Forbidden, 403, "AccessDenied"),
        (Fault::Internal, 500, "InternalServiceError"),
        (Fault::Unavailable, 503, "ServiceUnavailable"),
        (Fault::Blocked, 400, "InputTextSensitiveContentDetected"),
    ];
    for (fault, status, want) in table {
        fake.faults()
            .script_for(crate::faults::Call::Submit, [fault.clone()]);
        let (got, answer) = submit(&fake, body.clone()).await;
        assert_eq!((got, code(&answer).0), (status, want), "{fault:?}");
    }
    fake.requests_per_minute(1);
    assert_eq!(submit(&fake, body.clone()).await.0, 200);
    let (status, answer) = submit(&fake, body.clone()).await;
    assert_eq!(
        (status, code(&answer).0),
        (429, "ModelAccountRpmRateLimitExceeded")
    );
    fake.model_not_open("seedance-1-5-pro-251215");
    let (status, answer) = submit(
        &fake,
        json!({"model": "seedance-1-5-pro-251215", "content": [{"type": "text", "text": "x"}]}),
    )
    .await;
    assert_eq!((status, code(&answer).0), (404, "ModelNotOpen"));
}
