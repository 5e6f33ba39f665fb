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
//! Videos are long-running: they go through the provider's remote operation driver
//! (`provider::operation`), which saves the handle in state.json before the first
//! status check, polls on the provider's hint, and resumes the saved handle after a
//! restart without submitting again. Every media result (image, speech, video) is
//! written by the driver, its type checked against the media table.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs, StageRetry};
use crate::provider::plugin::{ImageRequest, Media, SpeechRequest, TextRequest, VideoRequest};
use backon::BackoffBuilder;

use crate::provider::{
    Answer, CallOperation, CallRecord, Consequence, MediaKind, OperationError, RemoteOperations,
    Submitted,
};

/// The handle key of the request's video in state.json.
const VIDEO_HANDLE: &str = "video";

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

/// What a request turns into: one call, or a long-running video. A video submit
/// cannot be sent as a one-shot call: [`CallOperation`] has no such variant.
enum Plan {
    /// Text, an image or speech, in one call.
    Call(CallOperation),
    /// A video, submitted once and polled.
    Video(VideoRequest),
}

/// The `generate` stage.
pub struct Generate;

impl Stage for Generate {
    fn name(&self) -> &'static str {
        "generate"
    }

    /// Provider calls retry over keys with backoff, and the video path waits out
    /// outages after its submit itself (from the saved handle), so the runner never
    /// repeats the stage: a paid call is sent at most as often as `plugins.attempts`
    /// says, not that many times per stage attempt.
    fn retry(&self) -> StageRetry {
        StageRetry::ONCE
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            let request = read_request(context)?;
            let out = context.job.out_dir();
            std::fs::create_dir_all(&out)?;
            let driver = context.remote_operations();
            let mut outputs = StageOutputs::new();
            outputs.insert("kind".into(), json!(request.kind));
            let job = context.job.id.to_string();
            let (file, record) = match plan(&request, &job) {
                Plan::Call(operation) => call(context, &driver, &request, operation, &out).await?,
                Plan::Video(video_request) => {
                    video(context, &driver, &request, video_request, &out).await?
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
    use std::io::Read;
    const MAX_REQUEST_BYTES: u64 = 1 << 20;
    let too_large = || {
        StageError::job(
            "a generate request must be a TOML file of at most 1 MiB",
            "drop a file like request.toml with kind, prompt and providers",
        )
    };
    let name = context.input_name()?;
    let path = context.job.input_path(&name);
    // Read through the descriptor that was checked, never past the limit.
    let file = crate::spool::entry::open_regular(&path, None).map_err(|_| too_large())?;
    if file.metadata()?.len() > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MAX_REQUEST_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REQUEST_BYTES {
        return Err(too_large());
    }
    let text = String::from_utf8(bytes).map_err(|error| {
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

fn plan(request: &GenerateRequest, job: &str) -> Plan {
    match request.kind {
        Kind::Text => Plan::Call(CallOperation::Text(TextRequest {
            system: request.system.clone(),
            prompt: request.prompt.clone(),
            json_schema: request.json_schema.clone(),
            temperature: None,
            max_output_tokens: None,
        })),
        Kind::Image => Plan::Call(CallOperation::Image(ImageRequest {
            prompt: request.prompt.clone(),
            references: Vec::new(),
            aspect_ratio: request.aspect_ratio.clone(),
        })),
        Kind::Speech => Plan::Call(CallOperation::Speak(SpeechRequest {
            text: request.prompt.clone(),
            voice: request.voice.clone(),
            language: request.language.clone(),
        })),
        Kind::Video => Plan::Video(VideoRequest {
            prompt: request.prompt.clone(),
            first_frame: None,
            duration_seconds: request.seconds,
            aspect_ratio: request.aspect_ratio.clone(),
            // Stable across retries: a provider that deduplicates submits sees one.
            idempotency_key: format!("{job}:generate:0"),
        }),
    }
}

/// One call through the chain; its answer written into `out/`.
async fn call(
    context: &StageContext,
    driver: &RemoteOperations<'_>,
    request: &GenerateRequest,
    operation: CallOperation,
    out: &Path,
) -> Result<(String, CallRecord), StageError> {
    context.progress(10, &format!("asking {}", request.providers.join(" → ")));
    let served = driver.call(&request.providers, operation).await?;
    let (media, stem, kind) = match served.answer {
        Answer::Text(text) => {
            let json = serde_json::from_str::<serde_json::Value>(&text.text).is_ok();
            let name = if json { "answer.json" } else { "answer.txt" };
            crate::spool::fsutil::write_atomic(&out.join(name), text.text.as_bytes(), true)?;
            return Ok((name.to_owned(), served.record));
        }
        Answer::Image(image) => (Media::Bytes(image), "image", MediaKind::Image),
        Answer::Speech(speech) => (speech.audio, "speech", MediaKind::Audio),
        Answer::Info(_) | Answer::Progress(_) => {
            return Err(StageError::job(
                "the plugin answered with the wrong kind of result",
                "report a plugin bug",
            ));
        }
    };
    let finished = driver.finished(served.record, media);
    let file = driver.materialize(finished, out, stem, kind).await?;
    Ok((file.file_name, file.record))
}

/// Submits (once) or resumes the video, polls it to completion and writes it to
/// `out/video.<ext>`. The stage runs once, but a failure worth retrying later (a file
/// server outage, a slow download, a missing plugin) is waited out here: the saved
/// handle is resumed, so a finished, paid render is downloaded again, never
/// submitted again.
async fn video(
    context: &StageContext,
    driver: &RemoteOperations<'_>,
    request: &GenerateRequest,
    video_request: VideoRequest,
    out: &Path,
) -> Result<(String, CallRecord), StageError> {
    let signals = context.signals();
    let mut delays = StageRetry::LOCAL.backoff().build();
    loop {
        match video_once(context, driver, request, video_request.clone(), out).await {
            Err(error) if error.consequence() == Consequence::RetryLater => {
                let Some(delay) = delays.next() else {
                    return Err(error.into());
                };
                tracing::warn!(%error, ?delay, "The video failed in a way worth another try; resuming its saved operation.");
                signals.sleep(delay).await?;
            }
            other => return other.map_err(StageError::from),
        }
    }
}

/// One try at [`video`]: submit or resume, poll, materialize.
async fn video_once(
    context: &StageContext,
    driver: &RemoteOperations<'_>,
    request: &GenerateRequest,
    video_request: VideoRequest,
    out: &Path,
) -> Result<(String, CallRecord), OperationError> {
    if context.remote_handle(VIDEO_HANDLE).is_none() {
        let chain = request.providers.join(" → ");
        context.progress(5, &format!("submitting to {chain}"));
    }
    let submitted = driver
        .submit_or_resume(VIDEO_HANDLE, &request.providers, video_request)
        .await?;
    let finished = match submitted {
        Submitted::Finished(finished) => finished,
        Submitted::Running(operation) => {
            context.progress(
                20,
                if operation.resumed() {
                    "resuming the saved operation"
                } else {
                    "submitted; waiting for the provider"
                },
            );
            driver
                .poll_until_done(operation, |operation| {
                    let checks = operation.checks();
                    let percent = (20 + checks.min(60)) as u8;
                    context.progress(percent, &format!("still rendering (check {checks})"));
                })
                .await?
        }
    };
    context.progress(90, "saving the video");
    let file = driver
        .materialize(finished, out, "video", MediaKind::Video)
        .await?;
    Ok((file.file_name, file.record))
}
