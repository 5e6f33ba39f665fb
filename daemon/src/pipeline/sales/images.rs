//! One image per scene (part of the `scenes` stage) in `out/scenes/scene-NN.<ext>`. Remote
//! image providers go first when the chain names any (the product images and
//! character photos go with the prompt as references); otherwise, or when every
//! provider failed, chute renders a scene card itself: the product image on a
//! gradient with the product's name and the scene's point, in a font that covers the
//! brief's language. Cards are rendered in a child process, because the product image
//! is an inbox file and therefore hostile.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scenes::SceneWork;
use super::{relative, scene_stem};
use crate::brief::Brief;
use crate::pipeline::{StageContext, StageError};
use crate::provider::plugin::{Image, ImageRequest, Media};
use crate::provider::{Answer, CallOperation, Consequence, MediaKind, OperationError};
use crate::video::render::{self, CardPlan};
use crate::video::script::ImageHints;

/// One scene's image, as checkpointed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SceneImage {
    /// The image file, relative to the job folder.
    pub file: String,
    /// Who made it: a provider name, or `card` (rendered by chute).
    pub provider: String,
    /// The provider calls made (result.json).
    #[serde(default)]
    pub calls: Vec<serde_json::Value>,
    /// Why remote providers were not used, when they were tried.
    #[serde(default)]
    pub fell_back: Option<String>,
}

impl SceneWork<'_> {
    /// Scene `index`'s image: from the remote chain, else a local scene card.
    pub async fn image(&self, index: usize) -> Result<SceneImage, StageError> {
        let context = self.context;
        let stem = scene_stem(index);
        let mut fell_back = None;
        if !self.image_chain.is_empty() {
            let request = ImageRequest {
                prompt: self.script.scenes[index].image_prompt(
                    &self.script.character_bible,
                    &ImageHints::from_brief(&self.brief),
                ),
                references: self.references.clone(),
                aspect_ratio: Some(aspect_label(&self.brief)),
            };
            match image_remote(context, &self.image_chain, request, &self.dir, &stem).await {
                Ok((path, provider, calls)) => {
                    return Ok(SceneImage {
                        file: relative(context, &path),
                        provider,
                        calls,
                        fell_back: None,
                    });
                }
                Err(error) => match error.consequence() {
                    Consequence::Stopped(stopped) => return Err(stopped.into()),
                    _ => {
                        tracing::warn!(job_id = %context.job.id, scene = index + 1, "Image providers failed; a scene card is rendered instead: {error}");
                        fell_back = Some(error.to_string());
                    }
                },
            }
        }
        let path = self.dir.join(format!("{stem}.png"));
        let product_image = self.assets.get("product.images[0]").cloned();
        let plan = card_plan(context, &self.brief, index, product_image, &path);
        render_card(context, &plan, index).await?;
        Ok(SceneImage {
            file: relative(context, &path),
            provider: "card".to_owned(),
            calls: Vec::new(),
            fell_back,
        })
    }
}

/// The brief's aspect as providers take it (`9:16`).
pub fn aspect_label(brief: &Brief) -> String {
    serde_json::to_value(brief.aspect)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_else(|| "9:16".to_owned())
}

/// The product images and character photos, as references for image providers.
pub fn reference_images(
    assets: &std::collections::BTreeMap<String, PathBuf>,
) -> Result<Vec<Image>, StageError> {
    let mut references = Vec::new();
    for (field, path) in assets {
        if field == "music" {
            continue;
        }
        let Some(mime) = crate::brief::image_type(path) else {
            continue;
        };
        references.push(Image {
            mime_type: mime.to_owned(),
            data: std::fs::read(path)?,
        });
    }
    Ok(references)
}

/// Asks the remote chain for one image, written to `dir/<stem>.<ext>`.
async fn image_remote(
    context: &StageContext,
    remote: &[String],
    request: ImageRequest,
    dir: &Path,
    stem: &str,
) -> Result<(PathBuf, String, Vec<serde_json::Value>), OperationError> {
    let driver = context.remote_operations();
    let served = driver.call(remote, CallOperation::Image(request)).await?;
    let Answer::Image(image) = served.answer else {
        return Err(OperationError::Io(std::io::Error::other(
            "the image provider answered with the wrong kind of result",
        )));
    };
    let finished = driver.finished(served.record, Media::Bytes(image));
    let file = driver
        .materialize(finished, dir, stem, MediaKind::Image)
        .await?;
    let provider = file.record.provider.clone();
    let record = serde_json::to_value(&file.record).unwrap_or_default();
    Ok((file.path, provider, vec![record]))
}

/// What a local scene card shows: the product's name, and the point this scene makes
/// (a selling point, the price on the last scene).
fn card_plan(
    context: &StageContext,
    brief: &Brief,
    index: usize,
    product_image: Option<PathBuf>,
    output: &Path,
) -> CardPlan {
    let settings = &context.config.sales_video.render;
    let (width, height) = settings.size(brief.aspect);
    let scenes = brief.scene_count(context.config.sales_video.seconds_per_scene) as usize;
    let points = &brief.product.selling_points;
    let body = if index + 1 == scenes && scenes > 1 {
        brief
            .product
            .price
            .clone()
            .or_else(|| points.first().cloned())
    } else if index == 0 {
        brief.title.clone().or_else(|| brief.idea.clone())
    } else if points.is_empty() {
        brief.product.description.clone()
    } else {
        Some(points[(index - 1) % points.len()].clone())
    };
    CardPlan {
        width,
        height,
        colours: palette(brief, index),
        product_image,
        headline: brief.product.name.clone(),
        body,
        font: settings.font.clone(),
        output: output.to_path_buf(),
    }
}

/// Two brand-like colours: a palette per style, turned a little per scene.
fn palette(brief: &Brief, index: usize) -> [String; 2] {
    const PALETTES: &[[&str; 2]] = &[
        ["#1B1F3B", "#E94560"],
        ["#0F3D3E", "#E2C275"],
        ["#2D033B", "#C147E9"],
        ["#1C2B2D", "#F29F05"],
        ["#102A43", "#3EBD93"],
    ];
    let style = brief
        .style
        .bytes()
        .fold(0usize, |sum, byte| sum + byte as usize);
    let chosen = PALETTES[(style + index) % PALETTES.len()];
    [chosen[0].to_owned(), chosen[1].to_owned()]
}

/// Renders a card in the render child.
async fn render_card(
    context: &StageContext,
    plan: &CardPlan,
    index: usize,
) -> Result<(), StageError> {
    let executable = crate::pipeline::child_executable()?;
    let limits = context
        .config
        .sales_video
        .render
        .limits(context.config.limits.child_cpu_cores);
    context
        .signals()
        .run(render::render_card(&executable, plan, &limits))
        .await?
        .map_err(|error| {
            super::render_failure(
                &format!("the card of scene {} could not be rendered", index + 1),
                error,
            )
        })
}
