//! The TOS origin: each finished task's video (a real MP4 of the asked ratio) and last
//! frame (a PNG) at a pre-signed URL (`X-Tos-Algorithm`, `X-Tos-Date`,
//! `X-Tos-Expires`, `X-Tos-Signature`). A wrong signature is 403
//! `SignatureDoesNotMatch`, a link past its expiry 403 `AccessDenied` ("Request has
//! expired"), and a request that also sends `Authorization` 400 `InvalidArgument`
//! (two auth mechanisms, as S3-style storage refuses them), all in TOS's JSON error
//! form. The EC values are of TOS's documented shape, not copied from real answers.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::Inner;
use super::TaskOutcome;
use super::ark::{storage_fault, tos_error};
use super::tasks::{stamp, unix_now};
use crate::faults::{Call, Fault};
use crate::media::{self, ClipShape};
use crate::server::Exchange;

/// The bucket path every link starts with.
const BUCKET: &str = "/ark-content-generation-ap-southeast-1";

/// The signature of a link (the fake's stand-in for TOS4-HMAC-SHA256).
fn signature(path: &str, date: &str, seconds: &str) -> String {
    let digest = Sha256::digest(format!("fake-tos-secret\n{path}\n{date}\n{seconds}").as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A pre-signed link to task `id`'s `mp4` or `png`, valid until `expires` (unix).
pub(super) fn link(
    storage: &str,
    model: &str,
    id: &str,
    extension: &str,
    expires: u64,
    now: u64,
) -> String {
    let path = format!("{BUCKET}/{model}/{id}.{extension}");
    let seconds = expires.saturating_sub(now).max(1).to_string();
    let now = stamp(now);
    let date = format!("{}T{}Z", &now[..8], &now[8..]);
    format!(
        "{storage}{path}?X-Tos-Algorithm=TOS4-HMAC-SHA256&X-Tos-Credential=AKLTfake%2F{day}%2Fap-southeast-1%2Ftos%2Frequest&X-Tos-Date={date}&X-Tos-Expires={seconds}&X-Tos-SignedHeaders=host&X-Tos-Signature={signature}",
        day = &now[..8],
        signature = signature(&path, &date, &seconds),
    )
}

/// `GET` a link.
pub async fn video(inner: &Arc<Inner>, exchange: &Exchange) -> Response {
    let seq = inner.state().seq();
    if exchange.header("authorization").is_some() {
        return tos_error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Tos-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
            "0002-00000017",
            seq,
        );
    }
    let param = |name: &str| exchange.query_param(name).unwrap_or_default();
    let expected = signature(
        &exchange.path,
        &param("X-Tos-Date"),
        &param("X-Tos-Expires"),
    );
    if param("X-Tos-Signature") != expected {
        return tos_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
            "0002-00000011",
            seq,
        );
    }
    let Some((id, extension)) = exchange
        .path
        .rsplit('/')
        .next()
        .and_then(|file| file.split_once('.'))
    else {
        return tos_error(
            404,
            "NoSuchKey",
            "The specified key does not exist.",
            "0017-00000003",
            seq,
        );
    };
    // The link's expiry is the one the task record signed (X-Tos-Date + X-Tos-Expires).
    let until = inner
        .state()
        .tasks
        .get(id)
        .and_then(|task| task.link_expires)
        .unwrap_or(0);
    if unix_now() >= until {
        return tos_error(
            403,
            "AccessDenied",
            "Request has expired",
            "0002-00000013",
            seq,
        );
    }
    match inner.faults.next(Call::Download) {
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(fault) => {
            if let Some(answer) = storage_fault(&fault, seq) {
                return answer;
            }
        }
        None => {}
    }
    let shape = {
        let state = inner.state();
        let divisor = state.clip_divisor;
        let Some(task) = state
            .tasks
            .get(id)
            .filter(|task| task.outcome == TaskOutcome::Succeeded && task.done_at.is_some())
        else {
            return tos_error(
                404,
                "NoSuchKey",
                "The specified key does not exist.",
                "0017-00000003",
                seq,
            );
        };
        let even = |pixels: u32| (pixels / divisor).max(16) & !1;
        ClipShape {
            width: even(task.asked.size.0),
            height: even(task.asked.size.1),
            seconds: task.asked.duration,
            colour: media::colour(id),
        }
    };
    if extension == "png" {
        return (
            [("content-type", "image/png")],
            media::png(shape.width, shape.height, id),
        )
            .into_response();
    }
    match tokio::task::spawn_blocking(move || media::mp4(shape)).await {
        Ok(Ok(bytes)) => ([("content-type", "video/mp4")], bytes.as_ref().clone()).into_response(),
        Ok(Err(error)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the fake could not make a clip: {error:#}"),
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the fake's encoder died: {error}"),
        )
            .into_response(),
    }
}
