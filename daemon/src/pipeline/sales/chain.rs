//! Which providers a sales-video stage tries, in order: the brief's `providers.<stage>`
//! when it names one, else the operator's `sales_video.<stage>_providers`. The chain
//! always ends in chute's own local maker (template writer, scene cards, Ken-Burns,
//! espeak-ng), so a job with no keys still finishes offline.
//!
//! A brief only picks among providers the operator configured: a name with no plugin
//! behind it is skipped like a provider without keys, so a brief can never send a
//! request (or a key) anywhere the configuration does not allow.

use crate::brief::Brief;
use crate::config::Config;

/// A stage that names a provider chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStage {
    /// Text providers for the script.
    Script,
    /// Image providers for the scene images.
    Images,
    /// Video providers for the clips.
    Clips,
    /// Speech providers for the voiceover.
    Voice,
}

impl ChainStage {
    /// The key in a brief's `providers` table.
    pub fn key(self) -> &'static str {
        match self {
            ChainStage::Script => "script",
            ChainStage::Images => "images",
            ChainStage::Clips => "clips",
            ChainStage::Voice => "voice",
        }
    }
}

/// Names that mean "chute's own maker" in a chain; they end the remote part.
pub const LOCAL_NAMES: &[&str] = &["local", "template", "llama", "cards", "kenburns", "espeak"];

/// The remote providers to try for `stage`, in order (local names removed).
pub fn remote_chain(config: &Config, brief: &Brief, stage: ChainStage) -> Vec<String> {
    let configured = match stage {
        ChainStage::Script => &config.sales_video.script_providers,
        ChainStage::Images => &config.sales_video.image_providers,
        ChainStage::Clips => &config.sales_video.clip_providers,
        ChainStage::Voice => &config.sales_video.voice_providers,
    };
    brief
        .providers
        .get(stage.key())
        .unwrap_or(configured)
        .iter()
        .filter(|name| !LOCAL_NAMES.contains(&name.as_str()))
        .cloned()
        .collect()
}

/// The chain as people read it: `gemini → whisk → local`.
pub fn describe(remote: &[String]) -> String {
    remote
        .iter()
        .map(String::as_str)
        .chain(std::iter::once("local"))
        .collect::<Vec<_>>()
        .join(" → ")
}
