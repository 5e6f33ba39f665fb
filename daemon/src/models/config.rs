//! `[models]`: where speech and language models are kept and where `chute models pull`
//! downloads them from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[models]`: where speech and language models are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// The models folder; empty means `$CHUTE_MODELS_DIR`, else `~/.cache/chute/models`.
    pub dir: PathBuf,
    /// Base URL that replaces `https://huggingface.co/` in `chute models pull` (an
    /// internal mirror); empty downloads from the published URLs.
    pub mirror: String,
}

impl ModelsConfig {
    /// The effective models folder.
    pub fn dir(&self) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            super::default_models_dir()
        } else {
            self.dir.clone()
        }
    }

    /// A model path from the config: relative ones are inside the models folder,
    /// absolute ones stay as they are.
    pub fn resolve(&self, model: &Path) -> PathBuf {
        // `join` keeps an absolute `model` unchanged.
        self.dir().join(model)
    }
}
