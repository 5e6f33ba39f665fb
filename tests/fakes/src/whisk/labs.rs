//! The labs.google origin: the next-auth session (cookie → access token) and the tRPC
//! procedures a Whisk project needs (a workflow, captions and uploads of reference
//! images), each request checked as the web app sends it.

use std::time::{Instant, SystemTime};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    Inner, Token, Upload, cut_off, labs_fault, next_fault, next_id, object, rfc3339, trpc_error,
};
use crate::faults::{Call, Fault};
use crate::server::{Exchange, KeyCheck, KeyMode};

/// The reference categories uploads take.
pub const CATEGORIES: &[&str] = &[
    "MEDIA_CATEGORY_SUBJECT",
    "MEDIA_CATEGORY_SCENE",
    "MEDIA_CATEGORY_STYLE",
];

/// Answers a labs.google request.
pub(super) async fn answer(inner: &Inner, exchange: &Exchange) -> Response {
    if exchange.path == "/fx/api/auth/session" {
        return session(inner, exchange).await;
    }
    let Some(procedure) = exchange.path.strip_prefix("/fx/api/trpc/") else {
        return (StatusCode::NOT_FOUND, "This page could not be found.").into_response();
    };
    match trpc(inner, exchange, procedure).await {
        Ok(result) => {
            axum::Json(json!({"result": {"data": {"json": {"result": result, "status": 200}}}}))
                .into_response()
        }
        Err(answer) => answer,
    }
}

/// `GET /fx/api/auth/session`: the signed-in user and a fresh token, `{}` for no
/// session, or the refresh-needed error.
async fn session(inner: &Inner, exchange: &Exchange) -> Response {
    if exchange.method != "GET" {
        return (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed").into_response();
    }
    let fault = next_fault(inner, Call::Session).await;
    if let Some(answer) = fault
        .as_ref()
        .and_then(|fault| labs_fault(fault, "auth/session"))
    {
        return answer;
    }
    if fault == Some(Fault::Malformed) {
        return cut_off();
    }
    let cookie = exchange.header("cookie").unwrap_or("").to_string();
    let check = inner.keys.check(Some(&cookie));
    let user = json!({"name": "Fake Whisk User", "email": "whisk-user@example.com",
                      "image": "https://lh3.googleusercontent.com/a/fake"});
    let refresh = inner.state().refresh_needed;
    match check {
        KeyCheck::Known(KeyMode::Valid) if !refresh => {}
        KeyCheck::Known(KeyMode::Valid | KeyMode::Unauthenticated) => {
            return axum::Json(json!({"user": user, "expires": rfc3339(SystemTime::now()),
                "access_token": "ya29.a0stale", "error": "ACCESS_TOKEN_REFRESH_NEEDED"}))
            .into_response();
        }
        // next-auth answers an empty session for a cookie it cannot read.
        _ => return axum::Json(json!({})).into_response(),
    }
    let token = next_id(inner, "ya29.a0Fake");
    let lifetime = {
        let mut state = inner.state();
        let lifetime = state.token_lifetime;
        state.tokens.insert(
            token.clone(),
            Token {
                cookie,
                until: Instant::now() + lifetime,
            },
        );
        lifetime
    };
    axum::Json(
        json!({"user": user, "expires": rfc3339(SystemTime::now() + lifetime),
                      "access_token": token}),
    )
    .into_response()
}

/// A tRPC procedure: its (unwrapped) result, or the error answer.
async fn trpc(inner: &Inner, exchange: &Exchange, procedure: &str) -> Result<Value, Response> {
    if exchange.method != "POST" {
        return Err(trpc_error(
            405,
            "METHOD_NOT_SUPPORTED",
            &format!("Unsupported GET-request to mutation procedure at path \"{procedure}\""),
            procedure,
        ));
    }
    if inner.keys.check(exchange.header("cookie")) != KeyCheck::Known(KeyMode::Valid) {
        return Err(trpc_error(401, "UNAUTHORIZED", "UNAUTHORIZED", procedure));
    }
    let fault = next_fault(inner, Call::Upload).await;
    if let Some(answer) = fault
        .as_ref()
        .and_then(|fault| labs_fault(fault, procedure))
    {
        return Err(answer);
    }
    if fault == Some(Fault::Malformed) {
        return Err(cut_off());
    }
    let bad = |message: &str| trpc_error(400, "BAD_REQUEST", message, procedure);
    let input = object(exchange)
        .and_then(|body| body.get("json").filter(|json| json.is_object()).cloned())
        .ok_or_else(|| bad("Invalid input: expected {\"json\": {…}}"))?;
    match procedure {
        "media.createOrUpdateWorkflow" => {
            input
                .pointer("/workflowMetadata/workflowName")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("workflowMetadata.workflowName: Required"))?;
            let id = uuid(&next_id(inner, ""));
            inner.state().workflows.insert(id.clone());
            Ok(json!({"workflowId": id}))
        }
        "backbone.captionImage" => {
            workflow(inner, &input).map_err(|why| bad(&why))?;
            let count = input
                .pointer("/captionInput/candidatesCount")
                .and_then(Value::as_u64)
                .filter(|count| (1..=8).contains(count))
                .ok_or_else(|| bad("captionInput.candidatesCount: a number from 1 to 8"))?;
            let media = input
                .pointer("/captionInput/mediaInput")
                .cloned()
                .unwrap_or(Value::Null);
            let (_, image) = media_input(&media).map_err(|why| bad(&why))?;
            let caption = describe(&image).map_err(|why| bad(&why))?;
            let candidates: Vec<Value> = (0..count)
                .map(
                    |_| json!({"output": caption, "mediaGenerationId": next_id(inner, "CAMaJCap")}),
                )
                .collect();
            Ok(json!({"candidates": candidates}))
        }
        "backbone.uploadImage" => {
            let workflow = workflow(inner, &input).map_err(|why| bad(&why))?;
            let media = input
                .pointer("/uploadMediaInput")
                .cloned()
                .unwrap_or(Value::Null);
            let (category, image) = media_input(&media).map_err(|why| bad(&why))?;
            describe(&image).map_err(|why| bad(&why))?;
            let caption = media
                .get("caption")
                .and_then(Value::as_str)
                .filter(|caption| !caption.trim().is_empty())
                .ok_or_else(|| bad("uploadMediaInput.caption: Required"))?
                .to_string();
            let id = next_id(inner, "CAMaJDEwNDhiMGVj");
            inner.state().uploads.insert(
                id.clone(),
                Upload {
                    workflow,
                    category,
                    caption,
                    image,
                },
            );
            Ok(json!({"uploadMediaGenerationId": id}))
        }
        _ => Err(trpc_error(
            404,
            "NOT_FOUND",
            &format!("No \"mutation\"-procedure on path \"{procedure}\""),
            procedure,
        )),
    }
}

/// A 36-character id in the UUID form from any id.
fn uuid(seed: &str) -> String {
    let hex: String = format!(
        "{:0>32}",
        seed.chars()
            .filter(char::is_ascii_hexdigit)
            .collect::<String>()
    );
    let hex = &hex[hex.len() - 32..];
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `clientContext.workflowId`, which must name a project this fake made.
pub(super) fn workflow(inner: &Inner, input: &Value) -> Result<String, String> {
    let id = input
        .pointer("/clientContext/workflowId")
        .and_then(Value::as_str)
        .ok_or("clientContext.workflowId: Required")?;
    if !inner.state().workflows.contains(id) {
        return Err(format!("workflow {id} not found"));
    }
    Ok(id.to_string())
}

/// A `mediaInput`: its category and the image its `rawBytes` data URI carries.
fn media_input(media: &Value) -> Result<(String, Vec<u8>), String> {
    let category = media
        .get("mediaCategory")
        .and_then(Value::as_str)
        .filter(|category| CATEGORIES.contains(category))
        .ok_or("mediaCategory: expected MEDIA_CATEGORY_SUBJECT, _SCENE or _STYLE")?;
    let raw = media
        .get("rawBytes")
        .and_then(Value::as_str)
        .ok_or("rawBytes: Required")?;
    let (mime, data) = raw
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
        .ok_or("rawBytes: expected a data:image/…;base64, URI")?;
    if !matches!(mime, "image/png" | "image/jpeg" | "image/webp") {
        return Err(format!("rawBytes: unsupported image type {mime}"));
    }
    let image = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|error| format!("rawBytes: bad base64 ({error})"))?;
    Ok((category.to_string(), image))
}

/// Whisk's caption of an image that decodes (the fake describes its size).
fn describe(image: &[u8]) -> Result<String, String> {
    let decoded =
        image::load_from_memory(image).map_err(|error| format!("Invalid image: {error}"))?;
    Ok(format!(
        "a {}x{} product photo on a plain background",
        decoded.width(),
        decoded.height()
    ))
}
