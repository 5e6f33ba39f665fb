//! The `scenes` stage: every scene's image, clip and voiceover, made concurrently.
//!
//! Per scene, the image goes first and its clip follows as soon as it is ready, while
//! the voiceover is spoken alongside; scenes do not wait for each other. Images and
//! voiceovers run at most `sales_video.scene_concurrency` at once each (tokio
//! semaphores); clips are all in flight together, because waiting for a remote render
//! costs nothing and each provider's rate and poll limits pace the calls. `chain` clip
//! mode is the exception: clip N+1 starts from the last frame of clip N, so clips go
//! one after another.
//!
//! Each finished image, clip and voiceover is an item checkpoint
//! (`work/items/{images,clips,voice}/<scene>.json`), so a restart makes only what is
//! missing, and a remote video already submitted is resumed from its saved handle.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Semaphore;

use super::chain::{self, ChainStage};
use super::clips::SceneClip;
use super::images::SceneImage;
use super::{load_assets, load_brief, read_work_json, scenes_dir};
use crate::brief::{Brief, ClipMode};
use crate::job::ItemCheckpoints;
use crate::pipeline::{Stage, StageContext, StageError, StageFuture, StageOutputs, StageRetry};
use crate::provider::plugin::Image;
use crate::video::script::Script;

/// Item checkpoint namespaces (stage names inside `work/items/`).
pub const IMAGES: &str = "images";
/// See [`IMAGES`].
pub const CLIPS: &str = "clips";
/// See [`IMAGES`].
pub const VOICE: &str = "voice";

/// What every scene's work reads: the brief, the script, the chains.
pub struct SceneWork<'a> {
    /// The stage's context.
    pub context: &'a StageContext,
    /// The brief.
    pub brief: Brief,
    /// The script.
    pub script: Script,
    /// The brief's checked files by field.
    pub assets: std::collections::BTreeMap<String, PathBuf>,
    /// Remote image providers, in order.
    pub image_chain: Vec<String>,
    /// Remote video providers, in order.
    pub clip_chain: Vec<String>,
    /// Remote speech providers, in order.
    pub voice_chain: Vec<String>,
    /// Product images and character photos sent with image requests.
    pub references: Vec<Image>,
    /// `out/scenes/`.
    pub dir: PathBuf,
}

/// Makes every scene's image, clip and voiceover.
pub struct Scenes;

impl Stage for Scenes {
    fn name(&self) -> &'static str {
        "scenes"
    }

    /// Provider calls retry by themselves and submits are resumed from saved handles;
    /// the runner never repeats the stage.
    fn retry(&self) -> StageRetry {
        StageRetry::ONCE
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            let work = SceneWork::load(context)?;
            let count = work.script.scenes.len();
            context.progress(
                0,
                &format!(
                    "{count} scenes: images by {}, clips by {}, voice by {}",
                    chain::describe(&work.image_chain),
                    chain::describe(&work.clip_chain),
                    chain::describe(&work.voice_chain)
                ),
            );
            let progress = Progress::new(context, count);
            let limit = context.config.sales_video.scene_concurrency;
            let image_permits = Semaphore::new(limit);
            let voice_permits = Semaphore::new(limit);
            let durable = context.config.spool.fsync;
            let items = |namespace: &str| context.job.items(namespace, durable);
            let (images, clips, voices) = (items(IMAGES), items(CLIPS), items(VOICE));
            let sequential_clips =
                work.brief.clip_mode == ClipMode::Chain && !work.clip_chain.is_empty();
            let work = &work;
            let (images_ref, clips_ref, voices_ref, progress_ref) =
                (&images, &clips, &voices, &progress);
            let (image_permits, voice_permits) = (&image_permits, &voice_permits);
            let per_scene = (0..count).map(|index| async move {
                let voice = checkpointed(voices_ref, index, progress_ref, VOICE, || async {
                    let _permit = voice_permits.acquire().await.map_err(closed)?;
                    work.voice(index).await
                });
                let visual = async {
                    let image: SceneImage =
                        checkpointed(images_ref, index, progress_ref, IMAGES, || async {
                            let _permit = image_permits.acquire().await.map_err(closed)?;
                            work.image(index).await
                        })
                        .await?;
                    if sequential_clips {
                        return Ok::<_, StageError>((image, None));
                    }
                    let clip = checkpointed(clips_ref, index, progress_ref, CLIPS, || {
                        work.clip(index, &image, None)
                    })
                    .await?;
                    Ok((image, Some(clip)))
                };
                let (voice, (image, clip)) = tokio::try_join!(voice, visual)?;
                Ok::<_, StageError>((image, clip, voice))
            });
            let made = futures_util::future::try_join_all(per_scene).await?;
            let mut scene_images = Vec::with_capacity(count);
            let mut scene_clips = Vec::with_capacity(count);
            let mut scene_voices = Vec::with_capacity(count);
            for (image, clip, voice) in made {
                scene_images.push(image);
                scene_clips.push(clip);
                scene_voices.push(voice);
            }
            if sequential_clips {
                // Chain mode: each clip starts from the one before it.
                for index in 0..count {
                    let previous = match index {
                        0 => None,
                        _ => scene_clips[index - 1].clone(),
                    };
                    let clip = checkpointed(&clips, index, &progress, CLIPS, || {
                        work.clip(index, &scene_images[index], previous.as_ref())
                    })
                    .await?;
                    scene_clips[index] = Some(clip);
                }
            }
            let scene_clips: Vec<SceneClip> = scene_clips.into_iter().flatten().collect();
            let voice_seconds: f64 = scene_voices.iter().map(|voice| voice.seconds).sum();
            context.progress(
                100,
                &format!("{count} scenes ready, {voice_seconds:.1} s of voiceover"),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert("scenes".into(), json!(count));
            outputs.insert("voice_seconds".into(), json!(voice_seconds));
            outputs.insert("images".into(), json!(scene_images));
            outputs.insert("clips".into(), json!(scene_clips));
            outputs.insert("voice".into(), json!(scene_voices));
            Ok(outputs)
        })
    }
}

impl<'a> SceneWork<'a> {
    /// Reads what the earlier stages left and resolves the chains.
    pub fn load(context: &'a StageContext) -> Result<Self, StageError> {
        let brief = load_brief(context)?;
        let script: Script = read_work_json(context, "script.json", "script")?;
        let assets = load_assets(context)?;
        let image_chain = chain::remote_chain(&context.config, &brief, ChainStage::Images);
        let clip_chain = chain::remote_chain(&context.config, &brief, ChainStage::Clips);
        let voice_chain = chain::remote_chain(&context.config, &brief, ChainStage::Voice);
        let references = if image_chain.is_empty() {
            Vec::new()
        } else {
            super::images::reference_images(&assets)?
        };
        let dir = scenes_dir(context);
        std::fs::create_dir_all(&dir)?;
        Ok(SceneWork {
            context,
            brief,
            script,
            assets,
            image_chain,
            clip_chain,
            voice_chain,
            references,
            dir,
        })
    }
}

/// Counts finished items per kind and reports them as one progress line.
struct Progress<'a> {
    context: &'a StageContext,
    count: usize,
    images: AtomicUsize,
    clips: AtomicUsize,
    voice: AtomicUsize,
}

impl<'a> Progress<'a> {
    fn new(context: &'a StageContext, count: usize) -> Self {
        Self {
            context,
            count,
            images: AtomicUsize::new(0),
            clips: AtomicUsize::new(0),
            voice: AtomicUsize::new(0),
        }
    }

    fn finished(&self, namespace: &str) {
        let counter = match namespace {
            IMAGES => &self.images,
            CLIPS => &self.clips,
            _ => &self.voice,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (images, clips, voice) = (
            self.images.load(Ordering::Relaxed),
            self.clips.load(Ordering::Relaxed),
            self.voice.load(Ordering::Relaxed),
        );
        let percent = ((images + clips + voice) * 100 / (3 * self.count.max(1))).min(99) as u8;
        let count = self.count;
        self.context.progress(
            percent,
            &format!("images {images}/{count}, clips {clips}/{count}, voice {voice}/{count}"),
        );
    }
}

/// The item `index` of `items` if it was finished before; otherwise `work` runs and
/// its result is checkpointed before this returns.
async fn checkpointed<T, F, Fut>(
    items: &ItemCheckpoints,
    index: usize,
    progress: &Progress<'_>,
    namespace: &str,
    work: F,
) -> Result<T, StageError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, StageError>>,
{
    let item = ItemCheckpoints::indexed(index);
    if let Some(done) = items.get::<T>(&item)? {
        progress.finished(namespace);
        return Ok(done);
    }
    progress.context.check_stop()?;
    let value = work().await?;
    items.record_async(&item, &value).await?;
    progress.finished(namespace);
    Ok(value)
}

fn closed(_: tokio::sync::AcquireError) -> StageError {
    StageError::Transient("the scene limiter closed".into())
}
