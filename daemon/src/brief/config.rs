//! `[sales_video]`: how a brief becomes scenes, the styles the configuration adds to
//! the built-in ones, and who writes the script.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[sales_video]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SalesVideoConfig {
    /// Seconds of video per scene: a 30 s brief at 5 s per scene gets 6 scenes.
    pub seconds_per_scene: u32,
    /// Styles a brief may name besides `viral`, `koc-review` and `storytelling`.
    pub styles: Vec<String>,
    /// Who writes the script, tried in order when a brief has no `providers.script`:
    /// text providers, `llama` (the local model) and `template` (the offline writer,
    /// always tried last anyway). Empty: the local model if one is set, then the
    /// template.
    pub script_providers: Vec<String>,
    /// A GGUF model for writing scripts locally (relative to the models folder, or
    /// absolute); empty leaves llama.cpp out of the script chain.
    pub script_model: PathBuf,
    /// Image providers for the scene images; local scene cards end the chain.
    pub image_providers: Vec<String>,
    /// Video providers for the clips; a local Ken-Burns move over the scene image ends
    /// the chain.
    pub clip_providers: Vec<String>,
    /// Speech providers for the voiceover; espeak-ng ends the chain.
    pub voice_providers: Vec<String>,
    /// Scenes worked on at once per stage (each provider's own limits still apply).
    pub scene_concurrency: usize,
    /// `[sales_video.render]`: the finished video, cards and thumbnail.
    #[serde(default)]
    pub render: crate::video::render::RenderConfig,
}

impl Default for SalesVideoConfig {
    fn default() -> Self {
        Self {
            seconds_per_scene: 5,
            styles: Vec::new(),
            script_providers: Vec::new(),
            script_model: PathBuf::new(),
            image_providers: Vec::new(),
            clip_providers: Vec::new(),
            voice_providers: Vec::new(),
            scene_concurrency: 4,
            render: crate::video::render::RenderConfig::default(),
        }
    }
}

/// A `[sales_video]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SalesVideoConfigError {
    /// Scenes shorter than 2 s or longer than a minute.
    #[error("sales_video.seconds_per_scene must be between 2 and 60, not {0}")]
    SecondsPerScene(u32),
    /// No scene could ever run, or far more than any provider allows.
    #[error("sales_video.scene_concurrency must be between 1 and 64, not {0}")]
    SceneConcurrency(usize),
    /// A `[sales_video.render]` value.
    #[error(transparent)]
    Render(#[from] crate::video::render::config::RenderConfigError),
}

impl SalesVideoConfigError {
    /// The keys the error is about, for pointing at their line.
    pub fn keys(&self) -> Vec<String> {
        match self {
            SalesVideoConfigError::SecondsPerScene(_) => {
                vec!["sales_video.seconds_per_scene".to_owned()]
            }
            SalesVideoConfigError::SceneConcurrency(_) => {
                vec!["sales_video.scene_concurrency".to_owned()]
            }
            SalesVideoConfigError::Render(error) => error.keys(),
        }
    }
}

impl SalesVideoConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), SalesVideoConfigError> {
        if !(2..=60).contains(&self.seconds_per_scene) {
            return Err(SalesVideoConfigError::SecondsPerScene(
                self.seconds_per_scene,
            ));
        }
        if !(1..=64).contains(&self.scene_concurrency) {
            return Err(SalesVideoConfigError::SceneConcurrency(
                self.scene_concurrency,
            ));
        }
        Ok(self.render.validate()?)
    }
}
