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
    /// Repeat penalty over the last 64 generated tokens (1.0: off, the default: it also
    /// penalizes the JSON's quotes and commas); retries add 0.05.
    pub repeat_penalty: f32,
    /// DRY multiplier against repeating a token sequence already in the answer (0: off);
    /// retries raise it by half.
    pub dry_multiplier: f32,
    /// Fewest spoken words (non-speech markers such as `[BLANK_AUDIO]` not counted) a
    /// transcript needs to be summarized; below it no summary.json is written and
    /// result.json says there was nothing to summarize. 0: always summarize.
    pub min_words: u32,
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
            repeat_penalty: 1.0,
            dry_multiplier: 0.8,
            min_words: 6,
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
        if !(1.0..=2.0).contains(&self.repeat_penalty) {
            return Err(SummarizeConfigError::RepeatPenalty(self.repeat_penalty));
        }
        if !(0.0..=5.0).contains(&self.dry_multiplier) {
            return Err(SummarizeConfigError::DryMultiplier(self.dry_multiplier));
        }
        Ok(())
    }

    /// The repetition penalties of a summary's first attempt.
    pub fn repetition(&self) -> chute_llm_protocol::Repetition {
        chute_llm_protocol::Repetition {
            last_n: REPEAT_LAST_N,
            penalty: self.repeat_penalty,
            dry_multiplier: self.dry_multiplier,
            dry_allowed_length: DRY_ALLOWED_LENGTH,
        }
    }
}

/// Generated tokens the repeat penalty looks back at.
const REPEAT_LAST_N: u32 = 64;
/// Repeats of up to this many tokens go unpenalized by DRY (names, "the budget").
const DRY_ALLOWED_LENGTH: u32 = 2;

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
    /// The repeat penalty is outside 1–2.
    #[error("summarize.repeat_penalty must be between 1.0 (off) and 2.0, not {0}")]
    RepeatPenalty(f32),
    /// The DRY multiplier is outside 0–5.
    #[error("summarize.dry_multiplier must be between 0 (off) and 5, not {0}")]
    DryMultiplier(f32),
}

impl SummarizeConfigError {
    /// The keys the error is about, the likeliest culprit first (for pointing at a line).
    pub fn keys(&self) -> Vec<String> {
        match self {
            SummarizeConfigError::TooSmall(key) => vec![format!("summarize.{key}")],
            SummarizeConfigError::Temperature(_) => vec!["summarize.temperature".into()],
            SummarizeConfigError::RepeatPenalty(_) => vec!["summarize.repeat_penalty".into()],
            SummarizeConfigError::DryMultiplier(_) => vec!["summarize.dry_multiplier".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_settings_out_of_range_are_refused_naming_the_key() {
        let config = SummarizeConfig {
            repeat_penalty: 0.5,
            ..SummarizeConfig::default()
        };
        let error = config.validate().expect_err("refused");
        assert_eq!(error.keys(), ["summarize.repeat_penalty"]);
        assert!(
            error.to_string().contains("summarize.repeat_penalty"),
            "{error}"
        );
        let config = SummarizeConfig {
            dry_multiplier: f32::NAN,
            ..SummarizeConfig::default()
        };
        let error = config.validate().expect_err("refused");
        assert_eq!(error.keys(), ["summarize.dry_multiplier"]);
        assert!(SummarizeConfig::default().validate().is_ok());
    }
}
