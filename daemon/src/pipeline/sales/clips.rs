//! One moving clip per scene (part of the `scenes` stage). Remote video providers go
//! first when the chain names any: every scene is submitted at once (independent mode), each
//! handle saved in state.json before its first status check, and all are polled
//! concurrently without blocking; a restart resumes the saved handles and never
//! submits a scene twice. `chain` mode is sequential instead: the last frame of clip N
//! goes with the submit of clip N+1. Without providers, or when they fail, the clip is
//! a Ken-Burns move over the scene image, which the render draws directly (no
//! intermediate video file, no second encode).

use std::path::{Path, PathBuf};

use backon::BackoffBuilder;
use serde::{Deserialize, Serialize};

use super::images::{SceneImage, aspect_label};
use super::scenes::SceneWork;
use super::{relative, scene_stem};
use crate::job::ItemCheckpoints;
use crate::pipeline::{StageContext, StageError, StageRetry};
use crate::provider::plugin::{Image, VideoRequest};
use crate::provider::{Consequence, MediaKind, OperationError, Submitted};
use crate::video::render::{self, Motion};
use crate::video::script::ImageHints;

/// What a scene's clip is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClipKind {
    /// A video file made by a provider.
    Video,
    /// A Ken-Burns move over the scene image, drawn by the render.
    KenBurns,
}

/// One scene's clip, as checkpointed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SceneClip {
    /// A video, or a move over an image.
    pub kind: ClipKind,
    /// The video file, or the image the move goes over (relative to the job folder).
    pub file: String,
    /// The Ken-Burns move.
    #[serde(default)]
    pub motion: Option<Motion>,
    /// Who made it: a provider name, or `kenburns`.
    pub provider: String,
    /// The provider calls made (result.json).
    #[serde(default)]
    pub calls: Vec<serde_json::Value>,
    /// Why remote providers were not used, when they were tried.
    #[serde(default)]
    pub fell_back: Option<String>,
}

impl SceneClip {
    fn ken_burns(image: &SceneImage, index: usize, fell_back: Option<String>) -> SceneClip {
        SceneClip {
            kind: ClipKind::KenBurns,
            file: image.file.clone(),
            motion: Some(Motion::for_scene(index)),
            provider: "kenburns".to_owned(),
            calls: Vec::new(),
            fell_back,
        }
    }
}

impl SceneWork<'_> {
    /// Scene `index`'s clip from its image: from the remote chain (in chain mode from
    /// the last frame of `previous`), else a Ken-Burns move over the image.
    pub async fn clip(
        &self,
        index: usize,
        image: &SceneImage,
        previous: Option<&SceneClip>,
    ) -> Result<SceneClip, StageError> {
        let context = self.context;
        if self.clip_chain.is_empty() {
            return Ok(SceneClip::ken_burns(image, index, None));
        }
        let first_frame = match previous {
            Some(previous) => last_frame(context, previous, index - 1, &self.dir).await?,
            None => None,
        };
        let first_frame = match first_frame {
            Some(frame) => frame,
            None => read_image(&context.job.path.join(&image.file))?,
        };
        let request = VideoRequest {
            prompt: self.script.scenes[index].image_prompt(
                &self.script.character_bible,
                &ImageHints::from_brief(&self.brief),
            ),
            first_frame: Some(first_frame),
            duration_seconds: Some(context.config.sales_video.seconds_per_scene),
            aspect_ratio: Some(aspect_label(&self.brief)),
            idempotency_key: format!("{}:clips:{index}", context.job.id),
        };
        match video_remote(context, &self.clip_chain, request, &self.dir, index).await {
            Ok((path, provider, calls)) => Ok(SceneClip {
                kind: ClipKind::Video,
                file: relative(context, &path),
                motion: None,
                provider,
                calls,
                fell_back: None,
            }),
            Err(error) => match error.consequence() {
                Consequence::Stopped(stopped) => Err(stopped.into()),
                _ => {
                    tracing::warn!(job_id = %context.job.id, scene = index + 1, "Video providers failed; a Ken-Burns move over the scene image replaces the clip: {error}");
                    Ok(SceneClip::ken_burns(image, index, Some(error.to_string())))
                }
            },
        }
    }
}

/// The per-scene checkpoints of `namespace` (`images`, `clips`, `voice`), one per
/// scene, as the `scenes` stage left them.
pub fn scene_items<T: serde::de::DeserializeOwned>(
    context: &StageContext,
    namespace: &str,
    count: usize,
) -> Result<Vec<T>, StageError> {
    let items = context.job.items(namespace, context.config.spool.fsync);
    (0..count)
        .map(|index| {
            items
                .get::<T>(&ItemCheckpoints::indexed(index))?
                .ok_or_else(|| {
                    StageError::job(
                        format!("scene {} has no {namespace} checkpoint", index + 1),
                        "run `chute retry ID` to make the missing scenes again",
                    )
                })
        })
        .collect()
}

/// An image file as a provider reference, typed by its bytes.
fn read_image(path: &Path) -> Result<Image, StageError> {
    let mime = crate::brief::image_type(path).ok_or_else(|| {
        StageError::job(
            format!("{} is not a PNG, JPEG or WebP image", path.display()),
            "check the image provider's output",
        )
    })?;
    Ok(Image {
        mime_type: mime.to_owned(),
        data: std::fs::read(path)?,
    })
}

/// Chain mode: the last frame of the previous scene's clip (a video), as a PNG
/// reference; `None` when that clip is a Ken-Burns move (the scene image is used).
async fn last_frame(
    context: &StageContext,
    previous: &SceneClip,
    previous_index: usize,
    dir: &Path,
) -> Result<Option<Image>, StageError> {
    if previous.kind != ClipKind::Video {
        return Ok(None);
    }
    let frame = dir.join(format!("{}-last.png", scene_stem(previous_index)));
    if !frame.is_file() {
        let executable = crate::pipeline::child_executable()?;
        let limits = context
            .config
            .sales_video
            .render
            .limits(context.config.limits.child_cpu_cores);
        let video = context.job.path.join(&previous.file);
        context
            .signals()
            .run(render::last_frame(&executable, &video, &frame, &limits))
            .await?
            .map_err(|error| {
                super::render_failure(
                    &format!(
                        "the last frame of clip {} could not be read",
                        previous_index + 1
                    ),
                    error,
                )
            })?;
    }
    read_image(&frame).map(Some)
}

/// Submits (or resumes) one scene's video, polls it and saves it as
/// `dir/scene-NN-clip.<ext>`. A failure worth retrying later is waited out from the
/// saved handle, so a paid render is never submitted twice.
async fn video_remote(
    context: &StageContext,
    remote: &[String],
    request: VideoRequest,
    dir: &Path,
    index: usize,
) -> Result<(PathBuf, String, Vec<serde_json::Value>), OperationError> {
    let driver = context.remote_operations();
    let handle_key = format!("clip-{:02}", index + 1);
    let stem = format!("{}-clip", scene_stem(index));
    let mut delays = StageRetry::LOCAL.backoff().build();
    loop {
        let attempt = async {
            let submitted = driver
                .submit_or_resume(&handle_key, remote, request.clone())
                .await?;
            let finished = match submitted {
                Submitted::Finished(finished) => finished,
                Submitted::Running(operation) => driver.poll_until_done(operation, |_| {}).await?,
            };
            driver
                .materialize(finished, dir, &stem, MediaKind::Video)
                .await
        };
        match attempt.await {
            Ok(file) => {
                let provider = file.record.provider.clone();
                let record = serde_json::to_value(&file.record).unwrap_or_default();
                return Ok((file.path, provider, vec![record]));
            }
            Err(error) if error.consequence() == Consequence::RetryLater => {
                let Some(delay) = delays.next() else {
                    return Err(error);
                };
                tracing::warn!(job_id = %context.job.id, scene = index + 1, %error, ?delay, "The clip failed in a way worth another try; resuming its saved operation.");
                context
                    .signals()
                    .sleep(delay)
                    .await
                    .map_err(OperationError::Stopped)?;
            }
            Err(error) => return Err(error),
        }
    }
}
