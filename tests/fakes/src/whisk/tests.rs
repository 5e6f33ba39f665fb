//! Checks of the fake Whisk: the cookie → session → bearer chain, the tRPC envelope
//! and its checks, uploads referenced by recipes, real PNGs, expiry, retirement.
#![allow(clippy::unwrap_used)]

use super::*;
use axum::body::{Bytes, to_bytes};
use axum::http::HeaderMap;
use base64::Engine as _;

const COOKIE: &str = "__Secure-next-auth.session-token=fake-valid";
const STALE: &str = "__Secure-next-auth.session-token=fake-stale";

fn exchange(method: &str, path: &str, headers: &[(&str, &str)], body: Value) -> Exchange {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    Exchange {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: map,
        body: if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        },
    }
}

async fn send(part: Arc<dyn Fake>, exchange: Exchange) -> (u16, Value, Vec<u8>) {
    let answer = part.answer(exchange).await;
    let status = answer.status().as_u16();
    let body = to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        body,
    )
}

fn fake() -> FakeWhisk {
    FakeWhisk::detached(Keys::new(&[
        (COOKIE, KeyMode::Valid),
        (STALE, KeyMode::Unauthenticated),
    ]))
}

async fn token(fake: &FakeWhisk, cookie: &str) -> Value {
    let (status, body, _) = send(
        fake.labs(),
        exchange(
            "GET",
            "/fx/api/auth/session",
            &[("cookie", cookie)],
            Value::Null,
        ),
    )
    .await;
    assert_eq!(status, 200);
    body
}

async fn trpc(fake: &FakeWhisk, procedure: &str, input: Value) -> (u16, Value) {
    let path = format!("/fx/api/trpc/{procedure}");
    let (status, body, _) = send(
        fake.labs(),
        exchange("POST", &path, &[("cookie", COOKIE)], json!({"json": input})),
    )
    .await;
    (status, body)
}

fn png_uri() -> String {
    let png = crate::media::png(32, 32, "cup");
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

#[tokio::test]
async fn the_cookie_mints_a_token_the_api_takes_until_it_expires() {
    let fake = fake();
    let session = token(&fake, COOKIE).await;
    let bearer = session["access_token"].as_str().unwrap().to_string();
    assert!(bearer.starts_with("ya29."), "{session}");
    assert!(session["expires"].as_str().unwrap().ends_with(".000Z"));
    assert!(session.get("error").is_none());
    let stale = token(&fake, STALE).await;
    assert_eq!(stale["error"], "ACCESS_TOKEN_REFRESH_NEEDED");
    assert_eq!(token(&fake, "nobody=1").await, json!({}));

    let (_, made) = trpc(
        &fake,
        "media.createOrUpdateWorkflow",
        json!({"workflowMetadata": {"workflowName": "t"}}),
    )
    .await;
    let workflow = made["result"]["data"]["json"]["result"]["workflowId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(workflow.len(), 36);
    let body = json!({"clientContext": {"workflowId": workflow},
        "imageModelSettings": {"imageModel": "IMAGEN_3_5", "aspectRatio": "IMAGE_ASPECT_RATIO_PORTRAIT"},
        "seed": 0, "prompt": "a lighthouse", "mediaCategory": "MEDIA_CATEGORY_BOARD"});
    let auth = format!("Bearer {bearer}");
    let call = |auth: &str, body: &Value| {
        exchange(
            "POST",
            "/v1/whisk:generateImage",
            &[("authorization", auth)],
            body.clone(),
        )
    };
    let (status, answer, _) = send(fake.api(), call(&auth, &body)).await;
    assert_eq!(status, 200, "{answer}");
    let encoded = answer["imagePanels"][0]["generatedImages"][0]["encodedImage"]
        .as_str()
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let image = image::load_from_memory(&png).unwrap();
    assert_eq!((image.width(), image.height()), (768, 1344));

    let (status, answer, _) = send(fake.api(), call("Bearer ya29.unknown", &body)).await;
    assert_eq!(
        (status, answer["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let mut extra = body.clone();
    extra["negativePrompt"] = json!("x");
    let (status, answer, _) = send(fake.api(), call(&auth, &extra)).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"negativePrompt\"")
    );

    fake.token_lifetime(Duration::ZERO);
    let expired = token(&fake, COOKIE).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _) = send(fake.api(), call(&format!("Bearer {expired}"), &body)).await;
    assert_eq!(status, 401, "an expired token is refused");
    fake.refresh_needed();
    assert_eq!(
        token(&fake, COOKIE).await["error"],
        "ACCESS_TOKEN_REFRESH_NEEDED"
    );
}

#[tokio::test]
async fn recipes_take_only_what_was_uploaded_to_their_project() {
    let fake = fake();
    let bearer = token(&fake, COOKIE).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, made) = trpc(
        &fake,
        "media.createOrUpdateWorkflow",
        json!({"workflowMetadata": {"workflowName": "t"}}),
    )
    .await;
    let workflow = made["result"]["data"]["json"]["result"]["workflowId"].clone();
    let media = json!({"mediaCategory": "MEDIA_CATEGORY_SUBJECT", "rawBytes": png_uri()});
    let (status, caption) = trpc(&fake, "backbone.captionImage",
        json!({"clientContext": {"workflowId": workflow}, "captionInput": {"candidatesCount": 2, "mediaInput": media}})).await;
    assert_eq!(status, 200, "{caption}");
    let candidates = &caption["result"]["data"]["json"]["result"]["candidates"];
    assert_eq!(candidates.as_array().unwrap().len(), 2);
    assert!(candidates[0]["output"].as_str().unwrap().contains("32x32"));
    // Not an image, an unknown project, no envelope: refused in tRPC's form.
    let junk = json!({"mediaCategory": "MEDIA_CATEGORY_SUBJECT", "rawBytes": "data:image/png;base64,aGVsbG8="});
    let (status, refused) = trpc(
        &fake,
        "backbone.uploadImage",
        json!({"clientContext": {"workflowId": workflow}, "uploadMediaInput": junk}),
    )
    .await;
    assert_eq!(
        (status, refused["error"]["json"]["data"]["code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
    let (status, _) = trpc(&fake, "backbone.captionImage",
        json!({"clientContext": {"workflowId": "nope"}, "captionInput": {"candidatesCount": 1, "mediaInput": media}})).await;
    assert_eq!(status, 400);
    let (status, _, _) = send(
        fake.labs(),
        exchange(
            "POST",
            "/fx/api/trpc/backbone.uploadImage",
            &[("cookie", COOKIE)],
            json!({"uploadMediaInput": {}}),
        ),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = send(
        fake.labs(),
        exchange(
            "POST",
            "/fx/api/trpc/backbone.uploadImage",
            &[("cookie", "nobody=1")],
            json!({"json": {}}),
        ),
    )
    .await;
    assert_eq!(status, 401);

    let mut upload = media.clone();
    upload["caption"] = json!("a cup");
    let (_, uploaded) = trpc(
        &fake,
        "backbone.uploadImage",
        json!({"clientContext": {"workflowId": workflow}, "uploadMediaInput": upload}),
    )
    .await;
    let id = uploaded["result"]["data"]["json"]["result"]["uploadMediaGenerationId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fake.uploads()[&id].caption, "a cup");
    let recipe = |id: &str, category: Option<&str>| {
        let mut media = json!({"mediaGenerationId": id});
        if let Some(category) = category {
            media["mediaCategory"] = json!(category);
        }
        json!({"clientContext": {"workflowId": workflow, "tool": "BACKBONE"}, "seed": 0,
               "imageModelSettings": {"imageModel": "GEM_PIX", "aspectRatio": "IMAGE_ASPECT_RATIO_SQUARE"},
               "userInstruction": "the cup on a beach",
               "recipeMediaInputs": [{"caption": "a cup", "mediaInput": media}]})
    };
    let auth = format!("Bearer {bearer}");
    for (body, expected) in [
        (recipe(&id, Some("MEDIA_CATEGORY_SUBJECT")), 200),
        (recipe(&id, None), 200),
        (recipe(&id, Some("MEDIA_CATEGORY_STYLE")), 400),
        (recipe("CAMaJunknown", None), 400),
    ] {
        let (status, answer, _) = send(
            fake.api(),
            exchange(
                "POST",
                "/v1/whisk:runImageRecipe",
                &[("authorization", &auth)],
                body,
            ),
        )
        .await;
        assert_eq!(status, expected, "{answer}");
    }
    assert_eq!(fake.images_made(), 2);
}

#[tokio::test]
async fn faults_and_retirement_answer_in_whisks_own_forms() {
    let fake = fake();
    fake.faults()
        .script_for(Call::Session, [Fault::Unavailable]);
    let (status, _, body) = send(
        fake.labs(),
        exchange(
            "GET",
            "/fx/api/auth/session",
            &[("cookie", COOKIE)],
            Value::Null,
        ),
    )
    .await;
    assert_eq!(status, 503);
    assert!(String::from_utf8_lossy(&body).contains("Error 503"));
    let bearer = token(&fake, COOKIE).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, made) = trpc(
        &fake,
        "media.createOrUpdateWorkflow",
        json!({"workflowMetadata": {"workflowName": "t"}}),
    )
    .await;
    let workflow = made["result"]["data"]["json"]["result"]["workflowId"].clone();
    let body = json!({"clientContext": {"workflowId": workflow}, "prompt": "p",
        "imageModelSettings": {"imageModel": "IMAGEN_3_5", "aspectRatio": "IMAGE_ASPECT_RATIO_SQUARE"}});
    let auth = format!("Bearer {bearer}");
    let call = || {
        exchange(
            "POST",
            "/v1/whisk:generateImage",
            &[("authorization", &auth)],
            body.clone(),
        )
    };
    fake.faults().script_for(
        Call::Image,
        [Fault::Blocked, Fault::Truncated, Fault::Malformed],
    );
    let (status, answer, _) = send(fake.api(), call()).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"]["details"][0]["reason"],
        "PUBLIC_ERROR_UNSAFE_GENERATION"
    );
    let (status, answer, _) = send(fake.api(), call()).await;
    assert_eq!(
        (status, answer["imagePanels"][0]["generatedImages"].clone()),
        (200, json!([]))
    );
    let (status, answer, _) = send(fake.api(), call()).await;
    assert_eq!(
        (status, answer),
        (200, Value::Null),
        "a body cut off mid-JSON"
    );

    fake.shut_down(Retired::NotFound);
    let (status, _, page) = send(
        fake.labs(),
        exchange(
            "GET",
            "/fx/api/auth/session",
            &[("cookie", COOKIE)],
            Value::Null,
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&page).contains("could not be found"));
    let (status, answer, _) = send(fake.api(), call()).await;
    assert_eq!(
        (status, answer["error"]["status"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    fake.shut_down(Retired::LandingPage);
    let (status, _, page) = send(fake.api(), call()).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("Whisk has ended"));
}

#[test]
fn times_are_written_as_the_session_writes_them() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_169_316);
    assert_eq!(rfc3339(at), "2025-12-08T04:48:36.000Z");
}
