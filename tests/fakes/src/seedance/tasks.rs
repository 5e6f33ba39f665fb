//! The task API: auth, the submit (checked, counted against the per-model RPM and the
//! queued-task cap, then created `queued` or `running`), and the query walking a task
//! to its scripted end, answered with the fields of a real task record.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ark::{self, error, model_not_found, unauthenticated};
use super::check::{check, family};
use super::{Inner, State, Task, TaskOutcome, storage};
use crate::faults::{Call, Fault};
use crate::server::{Exchange, KeyCheck, KeyMode};

pub use storage::video;

/// An API request: auth, then the route.
pub(super) async fn api(inner: &Arc<Inner>, exchange: Exchange) -> Response {
    let seq = inner.state().seq();
    match inner.keys.check(exchange.bearer().as_deref()) {
        KeyCheck::Known(KeyMode::Valid) => {}
        KeyCheck::Known(KeyMode::Unauthenticated) => {
            return error(
                401,
                "AuthenticationError",
                "The API key format is incorrect.",
                "",
                seq,
            );
        }
        _ => return unauthenticated(seq),
    }
    let rest = exchange
        .path
        .trim_start_matches("/api/v3/contents/generations/tasks");
    match (exchange.method.as_str(), rest) {
        ("POST", "") => submit(inner, &exchange, seq).await,
        ("GET", id) if id.len() > 1 && id.starts_with('/') && !id[1..].contains('/') => {
            poll(inner, &id[1..], seq).await
        }
        _ => error(
            404,
            "NotFound",
            &format!(
                "The requested resource {} {} was not found.",
                exchange.method, exchange.path
            ),
            "",
            seq,
        ),
    }
}

/// The next scripted fault for `call`: a slow answer waits here, an HTTP error comes
/// back as `Err`, and faults answered inside a 200 (malformed) come back for the caller.
async fn take_fault(
    inner: &Inner,
    call: Call,
    model: &str,
    seq: u64,
) -> Result<Option<Fault>, Response> {
    match inner.faults.next(call) {
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(None)
        }
        Some(fault) => match ark::fault(&fault, model, seq) {
            Some(answer) => Err(answer),
            None => Ok(Some(fault)),
        },
        None => Ok(None),
    }
}

/// `POST …/tasks`.
async fn submit(inner: &Arc<Inner>, exchange: &Exchange, seq: u64) -> Response {
    let Ok(body) = exchange.json() else {
        return ark::invalid("body", "the request body is not valid JSON", seq);
    };
    let Some(model) = body
        .get("model")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return error(
            400,
            "MissingParameter",
            "The request failed because it is missing one or multiple required parameters: model.",
            "model",
            seq,
        );
    };
    {
        let state = inner.state();
        if state.retired.contains(&model) {
            return model_not_found(&model, seq);
        }
        if state.not_open.contains(&model) {
            return error(
                404,
                "ModelNotOpen",
                &format!(
                    "Your account has not activated the model {model}. Please activate the model service in the Ark Console."
                ),
                "",
                seq,
            );
        }
    }
    let Some(family) = family(&model) else {
        return model_not_found(&model, seq);
    };
    let asked = match check(&model, family, &body, seq) {
        Ok(asked) => asked,
        Err(refusal) => return refusal,
    };
    let malformed = match take_fault(inner, Call::Submit, &model, seq).await {
        Ok(fault) => fault == Some(Fault::Malformed),
        Err(answer) => return answer,
    };
    let mut state = inner.state();
    if let Some(over) = count(&mut state, &model, seq) {
        return over;
    }
    state.next_task += 1;
    let now = unix_now();
    let id = format!("cgt-{}-{:05x}", stamp(now), state.next_task);
    let outcome = state.outcomes.pop_front().unwrap_or(TaskOutcome::Succeeded);
    let started = running(&state) < state.concurrency;
    state.tasks.insert(
        id.clone(),
        Task {
            model,
            asked,
            submitted: Instant::now(),
            created_at: now,
            polls: 0,
            started,
            outcome,
            done_at: None,
            link_expires: None,
        },
    );
    if malformed {
        return (
            [("content-type", "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response();
    }
    axum::Json(json!({"id": id})).into_response()
}

/// Tasks running now.
fn running(state: &State) -> usize {
    state
        .tasks
        .values()
        .filter(|task| task.started && task.done_at.is_none())
        .count()
}

/// Counts a creation against the model's RPM and the queued-task cap; the 429 when over.
fn count(state: &mut State, model: &str, seq: u64) -> Option<Response> {
    let queued = state.tasks.values().filter(|task| !task.started).count();
    if queued >= state.queued_limit {
        return Some(error(
            429,
            "QuotaExceeded",
            &format!(
                "The number of queued tasks for your account has exceeded the limit of {}. Please try again later.",
                state.queued_limit
            ),
            "",
            seq,
        ));
    }
    let limit = state.requests_per_minute?;
    let now = Instant::now();
    let minute = state.minute.entry(model.to_string()).or_default();
    while minute
        .front()
        .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
    {
        minute.pop_front();
    }
    if minute.len() >= limit {
        return Some(ark::rate_limited(model, seq));
    }
    minute.push_back(now);
    None
}

/// `GET …/tasks/{id}`.
async fn poll(inner: &Arc<Inner>, id: &str, seq: u64) -> Response {
    let model = inner
        .state()
        .tasks
        .get(id)
        .map(|task| task.model.clone())
        .unwrap_or_default();
    let malformed = match take_fault(inner, Call::Poll, &model, seq).await {
        Ok(fault) => fault == Some(Fault::Malformed),
        Err(answer) => return answer,
    };
    let latency = inner.faults.latency_of(Call::Submit);
    let mut state = inner.state();
    let until = state.polls_until_done;
    let slots = state.concurrency.saturating_sub(running(&state));
    let (storage, expiry) = (state.storage.clone(), state.link_expiry);
    let Some(task) = state.tasks.get_mut(id) else {
        return error(
            404,
            "ResourceNotFound",
            &format!("The specified task {id} is not found."),
            "",
            seq,
        );
    };
    task.polls += 1;
    if !task.started && slots > 0 {
        task.started = true;
    }
    let finished = task.started
        && task.polls >= until
        && task.submitted.elapsed() >= latency
        && task.outcome != TaskOutcome::Never;
    let now = unix_now();
    let mut record = json!({"id": id, "model": task.model, "created_at": task.created_at,
        "updated_at": now, "service_tier": "default", "execution_expires_after": 172_800});
    if !finished {
        record["status"] = json!(if task.started { "running" } else { "queued" });
        return axum::Json(record).into_response();
    }
    task.done_at.get_or_insert_with(Instant::now);
    let expires = *task
        .link_expires
        .get_or_insert(now + expiry.as_secs().max(1));
    match task.outcome {
        TaskOutcome::Succeeded => {
            let asked = &task.asked;
            let (width, height) = asked.size;
            let tokens = (width as u64 * height as u64 * 24 * asked.duration as u64) / 1024;
            let mut content =
                json!({"video_url": storage::link(&storage, &task.model, id, "mp4", expires, now)});
            if asked.last_frame {
                content["last_frame_url"] = json!(storage::link(
                    &storage,
                    &task.model,
                    id,
                    "png",
                    expires,
                    now
                ));
            }
            if malformed {
                content = json!({});
            }
            let seed = if asked.seed == -1 {
                (task.created_at % 100_000) as i64
            } else {
                asked.seed
            };
            for (name, value) in [
                ("status", json!("succeeded")),
                ("content", content),
                (
                    "usage",
                    json!({"completion_tokens": tokens, "total_tokens": tokens}),
                ),
                ("seed", json!(seed)),
                ("resolution", json!(asked.resolution)),
                ("ratio", json!(asked.ratio)),
                ("duration", json!(asked.duration)),
                ("framespersecond", json!(24)),
            ] {
                record[name] = value;
            }
        }
        TaskOutcome::Failed(code) => {
            record["status"] = json!("failed");
            record["error"] = json!({"code": code, "message": failure_message(code)});
        }
        TaskOutcome::Expired => record["status"] = json!("expired"),
        TaskOutcome::Cancelled => record["status"] = json!("cancelled"),
        TaskOutcome::Never => unreachable!("never-ending tasks return above"),
    }
    axum::Json(record).into_response()
}

/// The message a failed task carries with its code.
fn failure_message(code: &str) -> &'static str {
    match code.split('.').next().unwrap_or("") {
        "OutputVideoSensitiveContentDetected" => {
            "The request failed because the output video may be related to copyright restrictions."
        }
        "OutputAudioSensitiveContentDetected" => {
            "The request failed because the output audio may contain sensitive information."
        }
        "InternalServiceError" => "The service encountered an unexpected internal error.",
        _ => "The task failed.",
    }
}

/// Seconds since the epoch.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYYMMDDhhmmss` (UTC) of a unix time.
pub(super) fn stamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
