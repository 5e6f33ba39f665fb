//! `[transcribe]`: decoding untrusted audio (the child process's limits) and
//! speech-to-text with whisper.cpp.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

/// `[transcribe]`: decoding and speech-to-text settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscribeConfig {
    /// whisper.cpp ggml model, relative to the models folder (or absolute). When it is
    /// missing and `ct2/whisper-tiny.en/` is there, it is converted on first use.
    pub model: PathBuf,
    /// CPU threads for whisper.cpp.
    pub threads: usize,
    /// Beam search width; 0 decodes greedily (faster, a little less accurate).
    pub beam_size: usize,
    /// Language code, or "auto" to detect it (English-only models always use "en").
    pub language: String,
    /// Longest accepted recording.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// Wall-clock limit for decoding one input (the decoder runs in a child process).
    #[serde(with = "humantime_serde")]
    pub decode_timeout: Duration,
    /// Address-space limit of the decoder child process.
    pub decode_memory: ByteSize,
    /// Audio is transcribed in chunks this long, so memory stays bounded.
    #[serde(with = "humantime_serde")]
    pub chunk: Duration,
    /// Word timestamps: each segment of transcript.json also lists its words with their
    /// times (whisper.cpp's token timestamps); subtitle cues then split at them.
    pub word_timestamps: bool,
}

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("ggml/whisper-tiny.en.bin"),
            threads: 2,
            beam_size: 5,
            language: "auto".to_owned(),
            max_duration: Duration::from_secs(4 * 3600),
            decode_timeout: Duration::from_secs(30 * 60),
            decode_memory: ByteSize::gib(4),
            chunk: Duration::from_secs(300),
            word_timestamps: false,
        }
    }
}

/// A `[transcribe]` value the daemon cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscribeConfigError {
    /// whisper.cpp does not know the language.
    #[error("transcribe.language {given:?} is not a language whisper.cpp knows{}", suggestion.as_ref().map(|code| format!(": did you mean {code:?}?")).unwrap_or_else(|| " (write a code like \"en\" or \"de\", or \"auto\")".to_owned()))]
    Language {
        /// What was written.
        given: String,
        /// The code it most likely meant.
        suggestion: Option<String>,
    },
}

impl TranscribeConfigError {
    /// The keys the error is about, for pointing at their line.
    pub fn keys(&self) -> Vec<String> {
        vec!["transcribe.language".to_owned()]
    }
}

impl TranscribeConfig {
    /// Checks what serde cannot: the language is one whisper.cpp knows (from its own
    /// table; no model is loaded).
    pub fn validate(&self) -> Result<(), TranscribeConfigError> {
        if super::language::is_known(&self.language) {
            return Ok(());
        }
        Err(TranscribeConfigError::Language {
            given: self.language.clone(),
            suggestion: super::language::suggest(&self.language).map(str::to_owned),
        })
    }
}
