//! The sales-video pipeline's first stage: the dropped brief (a file, or a folder with
//! its images) is read and validated against the brief contract ([`crate::brief`]); a
//! bad brief fails the job with the field named. The normalised brief is kept as
//! `work/brief.json` for the stages after it.

use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::spool::fsutil;

/// The brief's checked files by field (`product.images[0]`), as paths relative to
/// the job folder, in `work/`.
pub const ASSETS_FILE: &str = "assets.json";

/// Reads and checks the brief.
pub struct ParseBrief;

impl Stage for ParseBrief {
    fn name(&self) -> &'static str {
        "brief"
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            let input = context.job.input_path(&context.input_name()?);
            let settings = context.config.sales_video.clone();
            let loaded =
                tokio::task::spawn_blocking(move || crate::brief::load(&input, &settings.styles))
                    .await
                    .map_err(|error| {
                        StageError::Transient(format!("reading the brief failed: {error}"))
                    })?
                    .map_err(|error| {
                        StageError::job(format!("the brief is not usable: {error}"), error.hint)
                    })?;
            let brief = &loaded.brief;
            let scenes = brief.scene_count(context.config.sales_video.seconds_per_scene);
            let work = context.job.work_dir();
            std::fs::create_dir_all(&work)?;
            fsutil::write_json_atomic(&work.join("brief.json"), brief, context.config.spool.fsync)?;
            // The checked files, relative to the job folder, for the stages after this.
            let assets: std::collections::BTreeMap<&String, String> = loaded
                .assets
                .iter()
                .map(|(field, path)| {
                    let relative = path.strip_prefix(&context.job.path).unwrap_or(path);
                    (field, relative.to_string_lossy().into_owned())
                })
                .collect();
            fsutil::write_json_atomic(
                &work.join(ASSETS_FILE),
                &assets,
                context.config.spool.fsync,
            )?;
            context.progress(
                100,
                &format!(
                    "{:?}: {} s in {scenes} scenes, {}, {}",
                    brief.product.name, brief.duration_sec, brief.style, brief.language
                ),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert("brief_file".into(), json!("work/brief.json"));
            outputs.insert("scenes".into(), json!(scenes));
            outputs.insert("language".into(), json!(brief.language));
            outputs.insert("aspect".into(), json!(brief.aspect));
            outputs.insert("style".into(), json!(brief.style));
            outputs.insert(
                "assets".into(),
                json!(loaded.assets.keys().collect::<Vec<_>>()),
            );
            Ok(outputs)
        })
    }
}
