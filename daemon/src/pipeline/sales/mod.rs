//! The sales-video pipeline's stages after the brief: script, images, clips, voice,
//! render. Each scene's work is an item checkpoint (`work/items/<stage>/<scene>.json`),
//! so a restart redoes only the scenes without one and never pays for a finished
//! image, clip or voice twice.

pub mod chain;
pub mod clips;
pub mod images;
pub mod render;
pub mod scenes;
pub mod voice;

use std::path::PathBuf;

use super::{StageContext, StageError};
use crate::brief::Brief;
use crate::spool::fsutil;

/// Where per-scene media is written: `out/scenes/`, delivered with the video.
pub fn scenes_dir(context: &StageContext) -> PathBuf {
    context.job.out_dir().join("scenes")
}

/// The file stem of scene `index` (0-based): `scene-01`.
pub fn scene_stem(index: usize) -> String {
    format!("scene-{:02}", index + 1)
}

/// The brief as the `brief` stage normalised it (`work/brief.json`).
pub fn load_brief(context: &StageContext) -> Result<Brief, StageError> {
    read_work_json(context, "brief.json", "brief")
}

/// The brief's checked files by field (`product.images[0]`, `music`), as paths.
pub fn load_assets(
    context: &StageContext,
) -> Result<std::collections::BTreeMap<String, PathBuf>, StageError> {
    let relative: std::collections::BTreeMap<String, String> =
        read_work_json(context, super::brief::ASSETS_FILE, "brief")?;
    Ok(relative
        .into_iter()
        .map(|(field, path)| (field, context.job.path.join(path)))
        .collect())
}

/// Reads `work/<name>`, written by the stage `by`.
pub fn read_work_json<T: serde::de::DeserializeOwned>(
    context: &StageContext,
    name: &str,
    by: &str,
) -> Result<T, StageError> {
    let path = context.job.work_dir().join(name);
    match fsutil::read_json::<T>(&path) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(StageError::job(
            format!("work/{name} is missing: the {by} stage did not leave it"),
            "run `chute retry ID` to run the job again from the start",
        )),
        Err(error) => Err(StageError::job(
            format!("work/{name} is unreadable: {error}"),
            "run `chute retry ID` to run the job again from the start",
        )),
    }
}

/// A failed render (card, video, thumbnail, last frame) as a stage error: `what`
/// failed, with the render's own remedy.
pub fn render_failure(what: &str, error: crate::video::render::RenderError) -> StageError {
    use crate::video::render::RenderConsequence;
    match error.consequence() {
        RenderConsequence::Retry => StageError::Transient(format!("{what}: {error}")),
        RenderConsequence::FailJob | RenderConsequence::InstallPackage => {
            StageError::job(format!("{what}: {error}"), error.hint())
        }
    }
}

/// A job path relative to the job folder (`out/scenes/scene-01.wav`), for checkpoints
/// that must stay valid when the job folder moves.
pub fn relative(context: &StageContext, path: &std::path::Path) -> String {
    path.strip_prefix(&context.job.path)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}
