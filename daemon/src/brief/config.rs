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
        Ok(self.render.validate()?)
    }
}
