//! Whether the transcribe stage runs voice activity detection, and with which model:
//! `transcribe.vad.enabled` and what is in the models folder decide.
//!
//! - `false`: off.
//! - `"auto"`: on when the ggml Silero model is usable; the default model is converted
//!   from the published safetensors file on first use. A missing model turns it off with
//!   a log line naming `chute models pull silero-vad`; a broken one is logged (with the
//!   reason) and skipped, so the recording is still transcribed, only slower.
//! - `true`: on; a missing or broken model fails the stage with the reason.
//!
//! The model file is checked completely here, before the native lease is taken (and again
//! when whisper.cpp loads it).

use std::path::PathBuf;

use super::StageError;
use crate::config::Config;
use crate::media::config::{DEFAULT_VAD_MODEL, VAD_SAFETENSORS, VadEnabled};
use crate::media::vad::VadSettings;
use crate::models::silero;

/// What the stage does about voice activity detection.
#[derive(Debug, Clone, PartialEq)]
pub struct VadChoice {
    /// The settings whisper gets; `None` when VAD does not run.
    pub settings: Option<VadSettings>,
    /// The model file (resolved), whether or not it is used.
    pub model: PathBuf,
    /// Why VAD does not run, when it does not.
    pub skipped: Option<String>,
}

/// What to do about a missing or broken Silero model.
pub const MODEL_REMEDY: &str =
    "run `chute models pull silero-vad`, or set transcribe.vad.enabled = false";

/// Where the configured Silero model stands, looked at without converting or loading it
/// (`chute config check`, `chute doctor`).
#[derive(Debug, Clone, PartialEq)]
pub enum ModelState {
    /// The ggml file is there and checks out.
    Usable(PathBuf),
    /// Not there yet: the default model, made on first use from `source`.
    Later {
        /// The ggml file to be made.
        model: PathBuf,
        /// The published safetensors file it is made from.
        source: PathBuf,
    },
    /// Not there, and nothing to make it from.
    Missing(PathBuf),
    /// There, but not a usable Silero model: why.
    Broken(String),
}

/// Looks at the configured Silero model.
pub fn model_state(config: &Config) -> ModelState {
    let vad = &config.transcribe.vad;
    let model = config.models.resolve(&vad.model);
    let source = config.models.dir().join(VAD_SAFETENSORS);
    if model.is_file() {
        match silero::check_ggml(&model) {
            Ok(()) => ModelState::Usable(model),
            Err(error) => ModelState::Broken(error.to_string()),
        }
    } else if vad.model == std::path::Path::new(DEFAULT_VAD_MODEL) && source.is_file() {
        ModelState::Later { model, source }
    } else {
        ModelState::Missing(model)
    }
}

/// Decides (and converts the default model when needed).
pub async fn choose(config: &Config) -> Result<VadChoice, StageError> {
    let vad = &config.transcribe.vad;
    let model = config.models.resolve(&vad.model);
    let off = |reason: String| VadChoice {
        settings: None,
        model: model.clone(),
        skipped: Some(reason),
    };
    if vad.enabled == VadEnabled::Off {
        return Ok(off("transcribe.vad.enabled = false".to_owned()));
    }
    let source = (vad.model == std::path::Path::new(DEFAULT_VAD_MODEL))
        .then(|| config.models.dir().join(VAD_SAFETENSORS));
    let check_path = model.clone();
    let checked = tokio::task::spawn_blocking(move || -> Result<bool, silero::SileroError> {
        if let Some(source) = source {
            silero::convert_if_missing(&source, &check_path)?;
        }
        if !check_path.exists() {
            return Ok(false);
        }
        silero::check_ggml(&check_path).map(|()| true)
    })
    .await
    .map_err(|error| StageError::Transient(format!("checking the VAD model failed: {error}")))?;
    let remedy = "run `chute models pull silero-vad` (or scripts/fetch-test-models.sh), or set transcribe.vad.enabled = false";
    match (checked, vad.enabled) {
        (Ok(true), _) => Ok(VadChoice {
            settings: Some(vad.settings(model.clone())),
            model,
            skipped: None,
        }),
        (Ok(false), VadEnabled::On) => Err(StageError::job(
            format!(
                "transcribe.vad.enabled is true but the VAD model {} is missing",
                model.display()
            ),
            remedy,
        )),
        (Ok(false), _) => {
            tracing::info!(model = %model.display(), "Voice activity detection is off: the Silero model is missing; `chute models pull silero-vad` fetches it.");
            Ok(off(format!(
                "the VAD model {} is missing ({remedy})",
                model.display()
            )))
        }
        (Err(error), VadEnabled::On) => Err(StageError::job(error.to_string(), remedy)),
        (Err(error), _) => {
            tracing::warn!(%error, "Voice activity detection is off: the Silero model is not usable; transcribing all audio.");
            Ok(off(format!("{error} ({remedy})")))
        }
    }
}
