//! `[summarize]`: the summary of a transcript — the text providers tried first, then
//! llama.cpp's model, template, worker and sampling.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[summarize]`: the llama.cpp summary of a transcript.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SummarizeConfig {
    /// Whether the transcribe pipeline writes `summary.json`.
    pub enabled: bool,
    /// Text providers (`[providers.NAME]` tables) asked first, in order, with the
    /// template's schema; the local model writes the summary when none gives one that
    /// passes the checks. Empty: the local model only.
    pub providers: Vec<String>,
    /// GGUF model, relative to the models folder (or absolute).
    pub model: PathBuf,
    /// Summary template (TOML); empty uses the built-in one (title, summary, key points,
    /// action items, keywords, language).
    pub template: PathBuf,
    /// CPU threads for llama.cpp.
    pub threads: u16,
    /// Context length in tokens; long transcripts are summarized in parts that fit.
    pub context: u32,
    /// Layers offloaded to the GPU in a `cuda` build (0 keeps the model on the CPU).
    pub gpu_layers: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Generations tried before the output is declared unusable.
    pub attempts: u32,
    /// Also write `transcript.clean.txt` with punctuation and casing restored (the words
    /// themselves cannot change).
    pub cleanup: bool,
    /// Wall-clock limit for one generation.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The worker binary; empty means `chute-llm` next to the `chute` executable.
    pub worker: PathBuf,
}

impl Default for SummarizeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            providers: Vec::new(),
            model: PathBuf::from("gguf/SmolLM2-135M-Instruct.Q4_1.gguf"),
            template: PathBuf::new(),
            threads: 2,
            context: 4096,
            gpu_layers: if cfg!(feature = "cuda") { 999 } else { 0 },
            temperature: 0.3,
            attempts: 3,
            cleanup: false,
            timeout: Duration::from_secs(600),
            worker: PathBuf::new(),
        }
    }
}

impl SummarizeConfig {
    /// Checks what serde cannot: a context that fits a prompt, at least one attempt and
    /// thread, a temperature llama.cpp samples sensibly with.
    pub fn validate(&self) -> Result<(), SummarizeConfigError> {
        if self.context < 512 {
            return Err(SummarizeConfigError::TooSmall("context"));
        }
        if self.attempts == 0 {
            return Err(SummarizeConfigError::TooSmall("attempts"));
        }
        if self.threads == 0 {
            return Err(SummarizeConfigError::TooSmall("threads"));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(SummarizeConfigError::Temperature(self.temperature));
        }
        Ok(())
    }
}

/// A `[summarize]` value no summary can be made with; the message says what to write.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SummarizeConfigError {
    /// The context, attempts or threads (the key named) are too small.
    #[error(
        "summarize.context must be at least 512 tokens, and summarize.attempts and summarize.threads at least 1"
    )]
    TooSmall(&'static str),
    /// The temperature is outside 0–2.
    #[error("summarize.temperature must be between 0 and 2, not {0}")]
    Temperature(f32),
}

impl SummarizeConfigError {
    /// The keys the error is about, the likeliest culprit first (for pointing at a line).
    pub fn keys(&self) -> Vec<String> {
        match self {
            SummarizeConfigError::TooSmall(key) => vec![format!("summarize.{key}")],
            SummarizeConfigError::Temperature(_) => vec!["summarize.temperature".into()],
        }
    }
}
