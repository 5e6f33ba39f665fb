//! `generate`: a request file sent to a chain of providers, the answer delivered.
//!
//! The input is a small TOML file:
//! ```toml
//! kind = "video"                 # text | image | speech | video
//! prompt = "A lighthouse at dusk, slow dolly-in"
//! providers = ["gemini"]         # tried in order (fallback chain)
//! seconds = 8                    # video
//! aspect_ratio = "9:16"          # image, video
//! ```
//! Videos are long-running: the operation handle is saved in state.json before
//! anything else happens, then polled on timers (honouring the provider's
//! poll-after, with a bounded number of status checks in flight per provider). A
//! restarted daemon resumes polling the saved handle and never submits again.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::provider::plugin::{
    CallFailure, Image, ImageRequest, Media, Progress, ProviderError, SpeechRequest, TextRequest,
    VideoRequest,
};
use crate::provider::{Answer, CallRecord, Operation, ServeError};

/// The longest a video operation may take from submit to done.
pub const OPERATION_DEADLINE: Duration = Duration::from_secs(60 * 60);
/// The longest a finished video's download may take.
pub const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// Bounds on the provider's poll-after hint.
const POLL_MIN: Duration = Duration::from_millis(200);
const POLL_MAX: Duration = Duration::from_secs(300);

/// What a request file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Text (JSON when `json_schema` is given).
    Text,
    /// One image.
    Image,
    /// Speech audio.
    Speech,
    /// A video clip (long-running).
    Video,
}

/// A request file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// What to make.
    pub kind: Kind,
    /// The prompt (or the text to speak).
    pub prompt: String,
    /// Providers to try, in order.
    pub providers: Vec<String>,
    /// Text: a system instruction.
    #[serde(default)]
    pub system: Option<String>,
    /// Text: a JSON Schema (as JSON text) the answer must match.
    #[serde(default)]
    pub json_schema: Option<String>,
    /// Speech: the voice.
    #[serde(default)]
    pub voice: Option<String>,
    /// Speech: BCP-47 language.
    #[serde(default)]
    pub language: Option<String>,
    /// Video: clip length.
    #[serde(default)]
    pub seconds: Option<u32>,
    /// Image, video: e.g. `9:16`.
    #[serde(default)]
    pub aspect_ratio: Option<String>,
}

/// The `generate` stage.
pub struct Generate;

impl Stage for Generate {
    fn name(&self) -> &'static str {
        "generate"
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            let request = read_request(context)?;
            let out = context.job.out_dir();
            std::fs::create_dir_all(&out)?;
            let job = context.job.id.to_string();
            let mut outputs = StageOutputs::new();
            outputs.insert("kind".into(), json!(request.kind));
            let (file, record) = match request.kind {
                Kind::Video => video(context, &request, &out).await?,
                _ => {
                    context.progress(10, &format!("asking {}", request.providers.join(" → ")));
                    let operation = operation(&request);
                    let served = context
                        .providers
                        .call_chain(&request.providers, operation, Some(&job))
                        .await
                        .map_err(|(error, record)| failure(error, &record))?;
                    let file = write_answer(served.answer, &out)?;
                    (file, served.record)
                }
            };
            outputs.insert("files".into(), json!([file]));
            outputs.insert("provider".into(), json!(record.provider));
            outputs.insert("calls".into(), json!([record]));
            Ok(outputs)
        })
    }
}

/// Reads and checks the request file (the claimed input).
fn read_request(context: &StageContext) -> Result<GenerateRequest, StageError> {
    let name = context.input_name()?;
    let path = context.job.input_path(&name);
    let metadata = std::fs::symlink_metadata(&path)?;
    if !metadata.is_file() || metadata.len() > 1 << 20 {
        return Err(StageError::job(
            "a generate request must be a TOML file of at most 1 MiB",
            "drop a file like request.toml with kind, prompt and providers",
        ));
    }
    let text = std::fs::read_to_string(&path).map_err(|error| {
        StageError::job(
            format!("the request is not UTF-8 text: {error}"),
            "save it as UTF-8 TOML",
        )
    })?;
    let request: GenerateRequest = toml::from_str(&text).map_err(|error| {
        StageError::job(
            format!("the request is not valid: {}", error.message()),
            "see the format in docs/writing-plugins.md (kind, prompt, providers)",
        )
    })?;
    if request.prompt.trim().is_empty() || request.providers.is_empty() {
        return Err(StageError::job(
            "the request needs a prompt and at least one provider",
            "add prompt = \"…\" and providers = [\"NAME\"]",
        ));
    }
    Ok(request)
}

fn operation(request: &GenerateRequest) -> Operation {
    match request.kind {
        Kind::Text => Operation::Text(TextRequest {
            system: request.system.clone(),
            prompt: request.prompt.clone(),
            json_schema: request.json_schema.clone(),
            temperature: None,
            max_output_tokens: None,
        }),
        Kind::Image => Operation::Image(ImageRequest {
            prompt: request.prompt.clone(),
            references: Vec::new(),
            aspect_ratio: request.aspect_ratio.clone(),
        }),
        Kind::Speech => Operation::Speak(SpeechRequest {
            text: request.prompt.clone(),
            voice: request.voice.clone(),
            language: request.language.clone(),
        }),
        Kind::Video => unreachable!("videos are submitted, not called"),
    }
}

/// A failed call as a stage error: retried later when the failure is transient.
fn failure(error: ServeError, record: &CallRecord) -> StageError {
    let tried = if record.fell_through.is_empty() {
        String::new()
    } else {
        format!(" (tried: {})", record.fell_through.join("; "))
    };
    let transient = match &error {
        ServeError::KeysBusy { .. } => true,
        ServeError::Failed { failure, .. } => matches!(
            failure,
            CallFailure::Timeout(_)
                | CallFailure::Provider(
                    ProviderError::Unavailable(_) | ProviderError::RateLimited(_)
                )
        ),
        ServeError::NoProvider(_) | ServeError::NoKey(_) | ServeError::Budget(_) => false,
    };
    if transient {
        StageError::Transient(format!("{error}{tried}"))
    } else {
        StageError::job(
            format!("{error}{tried}"),
            "check the provider's keys and limits with `chute doctor` and `chute plugins check`, then `chute retry ID`",
        )
    }
}

/// Writes an answer into `out/` and returns the file name.
fn write_answer(answer: Answer, out: &Path) -> Result<String, StageError> {
    let (name, bytes) = match answer {
        Answer::Text(text) => {
            let json = serde_json::from_str::<serde_json::Value>(&text.text).is_ok();
            (
                if json { "answer.json" } else { "answer.txt" }.to_owned(),
                text.text.into_bytes(),
            )
        }
        Answer::Image(Image { mime_type, data }) => {
            (format!("image.{}", extension(&mime_type)), data)
        }
        Answer::Speech(speech) => match speech.audio {
            Media::Bytes(Image { mime_type, data }) => {
                (format!("speech.{}", extension(&mime_type)), data)
            }
            Media::Download(_) => {
                return Err(StageError::job(
                    "speech by download is not supported yet",
                    "ask the plugin for bytes",
                ));
            }
        },
        other => {
            return Err(StageError::job(
                format!("unexpected answer {other:?}"),
                "report a plugin bug",
            ));
        }
    };
    crate::spool::fsutil::write_atomic(&out.join(&name), &bytes, true)?;
    Ok(name)
}

fn extension(mime: &str) -> &'static str {
    match mime.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "audio/ogg" => "ogg",
        "video/mp4" => "mp4",
        _ => "bin",
    }
}

/// Submits (once) and polls a video to completion, then downloads it into out/.
async fn video(
    context: &StageContext,
    request: &GenerateRequest,
    out: &Path,
) -> Result<(String, CallRecord), StageError> {
    let job = context.job.id.to_string();
    let submit = Operation::SubmitVideo(VideoRequest {
        prompt: request.prompt.clone(),
        first_frame: None,
        duration_seconds: request.seconds,
        aspect_ratio: request.aspect_ratio.clone(),
        idempotency_key: format!("{job}:generate:0"),
    });
    if context.remote_handle("video").is_none() {
        // The same request made before (by any job) is not paid for again.
        for name in &request.providers {
            let Some(provider) = context.providers.get(name) else {
                continue;
            };
            let Some(cached) = provider
                .result_key(&submit)
                .and_then(|key| provider.cache.get_file(&key, "mp4"))
            else {
                continue;
            };
            std::fs::copy(&cached, out.join("video.mp4"))?;
            tracing::info!(job = %job, provider = %name, "Video served from the result cache.");
            let record = CallRecord {
                provider: name.clone(),
                operation: "submit-video".into(),
                cached: true,
                ..CallRecord::default()
            };
            return Ok(("video.mp4".into(), record));
        }
    }
    let (provider_name, mut state, mut poll_after, mut record, submitted_at) = match context
        .remote_handle("video")
    {
        Some(saved) => {
            let provider = saved["provider"].as_str().unwrap_or_default().to_owned();
            let state = saved["state"].as_str().unwrap_or_default().to_owned();
            let submitted_at = saved["submitted_at"]
                .as_str()
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                .map(|at| at.with_timezone(&chrono::Utc))
                .unwrap_or_else(chrono::Utc::now);
            tracing::info!(job = %job, provider = %provider, "Resuming a video operation from its saved handle; not submitting again.");
            context.progress(20, "resuming the saved operation");
            let record = CallRecord {
                provider: provider.clone(),
                operation: "submit-video".into(),
                key: saved["key"].as_str().map(str::to_owned),
                ..CallRecord::default()
            };
            (provider, state, POLL_MIN, record, submitted_at)
        }
        None => {
            context.progress(
                5,
                &format!("submitting to {}", request.providers.join(" → ")),
            );
            let served = context
                .providers
                .call_chain(&request.providers, submit.clone(), Some(&job))
                .await
                .map_err(|(error, record)| {
                    if error.may_have_been_accepted() {
                        // Never submitted again on a doubt: it may be running (and paid).
                        StageError::job(
                            format!("submitting the video failed, and the provider may have accepted it: {error}"),
                            "check the provider's console for the operation before `chute retry ID` (a retry submits again)",
                        )
                    } else {
                        failure(error, &record)
                    }
                })?;
            match served.answer {
                Answer::Progress(Progress::Pending(pending)) => {
                    let provider = served.record.provider.clone();
                    let submitted_at = chrono::Utc::now();
                    // The key that started it: the operation belongs to its project.
                    context.save_remote(
                        "video",
                        json!({"provider": provider, "state": pending.state, "key": served.record.key, "submitted_at": submitted_at}),
                    )?;
                    context.progress(20, "submitted; waiting for the provider");
                    (
                        provider,
                        pending.state,
                        Duration::from_millis(pending.poll_after_ms),
                        served.record,
                        submitted_at,
                    )
                }
                Answer::Progress(Progress::Done(media)) => {
                    let provider = served.record.provider.clone();
                    let mut record = served.record;
                    let file = finish(context, &provider, &submit, media, out, &mut record).await?;
                    return Ok((file, record));
                }
                other => {
                    return Err(StageError::job(
                        format!("unexpected answer {other:?}"),
                        "report a plugin bug",
                    ));
                }
            }
        }
    };
    let provider = context
        .providers
        .get(&provider_name)
        .cloned()
        .ok_or_else(|| {
            StageError::Transient(format!(
                "provider {provider_name} (which holds this job's operation) is not loaded"
            ))
        })?;
    let key = record.key.clone();
    let mut polls = 0u32;
    loop {
        let wait = poll_after.clamp(POLL_MIN, POLL_MAX);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = context.cancel.cancelled() => return Err(StageError::Cancelled),
            () = context.stop.cancelled() => return Err(StageError::Interrupted),
        }
        // Counted from the submit, across stage retries and daemon restarts.
        let elapsed = (chrono::Utc::now() - submitted_at)
            .to_std()
            .unwrap_or_default();
        if elapsed > OPERATION_DEADLINE {
            return Err(StageError::job(
                format!("the video operation did not finish within {OPERATION_DEADLINE:?}"),
                "the provider may be overloaded; `chute retry ID` submits a new operation",
            ));
        }
        let permit = provider
            .polls
            .acquire()
            .await
            .map_err(|_| StageError::Interrupted)?;
        let served = provider
            .call_with_key(
                Operation::PollVideo(state.clone()),
                Some(&job),
                key.as_deref(),
            )
            .await;
        drop(permit);
        polls += 1;
        let served = match served {
            Ok(served) => served,
            Err((error, failed)) => match failure(error, &failed) {
                // A provider outage while polling is waited out (up to the deadline):
                // the saved operation is still the one to finish.
                StageError::Transient(why) => {
                    tracing::warn!(job = %job, "Status check failed; checking again later: {why}");
                    record.exchanges.extend(failed.exchanges);
                    poll_after = (poll_after * 2).clamp(Duration::from_secs(5), POLL_MAX);
                    continue;
                }
                other => return Err(other),
            },
        };
        record.exchanges.extend(served.record.exchanges);
        record.attempts += served.record.attempts;
        record.key = served.record.key.or(record.key.take());
        match served.answer {
            Answer::Progress(Progress::Pending(pending)) => {
                if pending.state != state {
                    context.save_remote(
                        "video",
                        json!({"provider": provider_name, "state": pending.state, "key": key, "submitted_at": submitted_at}),
                    )?;
                    state = pending.state;
                }
                poll_after = Duration::from_millis(pending.poll_after_ms);
                let percent = (20 + polls.min(60)) as u8;
                context.progress(percent, &format!("still rendering (check {polls})"));
            }
            Answer::Progress(Progress::Done(media)) => {
                let file =
                    finish(context, &provider_name, &submit, media, out, &mut record).await?;
                return Ok((file, record));
            }
            other => {
                return Err(StageError::job(
                    format!("unexpected answer {other:?}"),
                    "report a plugin bug",
                ));
            }
        }
    }
}

/// Puts a finished video into out/video.mp4 (streamed when it is a URL) and checks
/// that it is an MP4.
async fn finish(
    context: &StageContext,
    provider_name: &str,
    submit: &Operation,
    media: Media,
    out: &Path,
    record: &mut CallRecord,
) -> Result<String, StageError> {
    let target = out.join("video.mp4");
    match media {
        Media::Bytes(Image { data, .. }) => {
            crate::spool::fsutil::write_atomic(&target, &data, true)?
        }
        Media::Download(download) => {
            context.progress(90, "downloading the video");
            let provider = context.providers.get(provider_name).ok_or_else(|| {
                StageError::Transient(format!("provider {provider_name} is not loaded"))
            })?;
            let download = provider.download(&download.url, &target, record.key.as_deref());
            let (_, exchanges) = tokio::select! {
                result = tokio::time::timeout(DOWNLOAD_DEADLINE, download) => result
                    .map_err(|_| StageError::Transient(format!("downloading the video took longer than {DOWNLOAD_DEADLINE:?}")))?
                    .map_err(|why| StageError::Transient(format!("downloading the video failed: {why}")))?,
                () = context.cancel.cancelled() => return Err(StageError::Cancelled),
                () = context.stop.cancelled() => return Err(StageError::Interrupted),
            };
            record.exchanges.extend(exchanges);
        }
    }
    let mut head = [0u8; 12];
    let read = std::io::Read::read(&mut std::fs::File::open(&target)?, &mut head)?;
    if read < 12 || &head[4..8] != b"ftyp" {
        return Err(StageError::job(
            "the provider's video is not an MP4 file",
            "check the provider's status page; `chute retry ID` submits again",
        ));
    }
    if let Some(provider) = context.providers.get(provider_name)
        && let Some(key) = provider.result_key(submit)
    {
        provider.cache.put_file(&key, "mp4", &target);
    }
    Ok("video.mp4".into())
}
