//! `[transcribe]`: decoding untrusted audio (the child process's limits) and
//! speech-to-text with whisper.cpp.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::whisper::TranscribeSettings;
use crate::models::config::ModelsConfig;
use crate::models::quantize::Weights;

/// The bundled faster-whisper model (from scripts/fetch-test-models.sh), inside the
/// models folder; the default model is converted from it.
pub const BUNDLED_CT2_MODEL: &str = "ct2/whisper-tiny.en";

/// `[transcribe]`: decoding and speech-to-text settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TranscribeConfig {
    /// whisper.cpp ggml model, relative to the models folder (or absolute). When it is
    /// missing and `ct2/whisper-tiny.en/` is there, it is converted on first use.
    pub model: PathBuf,
    /// How the matrices of the converted default model are stored (`f16`, `q8_0`,
    /// `q5_1`, `q5_0`); each has its own file, so changing it converts once more.
    pub weights: Weights,
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
    /// `[transcribe.vad]`: voice activity detection before whisper.
    pub vad: VadConfig,
}

/// Whether voice activity detection runs: `"auto"` (when the model is there), `true`
/// (a missing or broken model fails the stage), `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VadEnabled {
    /// On when the Silero model is present (or can be converted), else off with a log line.
    #[default]
    Auto,
    /// Always on; without a usable model the transcribe stage fails.
    On,
    /// Off.
    Off,
}

impl Serialize for VadEnabled {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VadEnabled::Auto => serializer.serialize_str("auto"),
            VadEnabled::On => serializer.serialize_bool(true),
            VadEnabled::Off => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for VadEnabled {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Flag(bool),
            Word(String),
        }
        match Written::deserialize(deserializer) {
            Ok(Written::Flag(true)) => Ok(VadEnabled::On),
            Ok(Written::Flag(false)) => Ok(VadEnabled::Off),
            Ok(Written::Word(word)) if word == "auto" => Ok(VadEnabled::Auto),
            _ => Err(serde::de::Error::custom(
                "transcribe.vad.enabled takes true, false or \"auto\"",
            )),
        }
    }
}

/// `[transcribe.vad]`: voice activity detection with the Silero model; whisper then hears
/// only the speech (times still refer to the original audio). whisper.cpp's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VadConfig {
    /// `"auto"`, `true` or `false`.
    pub enabled: VadEnabled,
    /// The ggml Silero model, relative to the models folder (or absolute). When it is the
    /// default and missing, it is converted from `silero/silero_vad_16k.safetensors`.
    pub model: PathBuf,
    /// Speech probability above which a 32 ms window counts as speech (0–1, exclusive).
    pub threshold: f32,
    /// Shorter speech is dropped (milliseconds).
    pub min_speech_ms: u32,
    /// A pause must be this long to end a stretch of speech (milliseconds).
    pub min_silence_ms: u32,
    /// Audio kept before and after each stretch of speech (milliseconds).
    pub padding_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        let defaults = super::vad::VadSettings::default();
        Self {
            enabled: VadEnabled::Auto,
            model: PathBuf::from(DEFAULT_VAD_MODEL),
            threshold: defaults.threshold,
            min_speech_ms: defaults.min_speech_ms,
            min_silence_ms: defaults.min_silence_ms,
            padding_ms: defaults.padding_ms,
        }
    }
}

/// The default ggml Silero model, inside the models folder.
pub const DEFAULT_VAD_MODEL: &str = "silero/silero_vad_16k.ggml.bin";
/// The published weights it is converted from, inside the models folder.
pub const VAD_SAFETENSORS: &str = "silero/silero_vad_16k.safetensors";
/// Longest accepted `min_speech_ms`, `min_silence_ms` and `padding_ms` (one minute).
const MAX_VAD_MS: u32 = 60_000;

impl Default for TranscribeConfig {
    fn default() -> Self {
        Self {
            model: PathBuf::from("ggml/whisper-tiny.en.bin"),
            weights: DEFAULT_WEIGHTS,
            threads: 2,
            beam_size: 5,
            language: "auto".to_owned(),
            max_duration: Duration::from_secs(4 * 3600),
            decode_timeout: Duration::from_secs(30 * 60),
            decode_memory: ByteSize::gib(4),
            chunk: Duration::from_secs(300),
            word_timestamps: false,
            vad: VadConfig::default(),
        }
    }
}

/// The weights of the converted default model. Measured greedily on tiny.en (WER on
/// the benchmark's paragraph at 140 wpm / the same read by en-gb+f3 at 180 wpm): f16
/// 0.050 / 0.118, q8_0 0.050 / 0.124, q5_1 0.044 / 0.124, q5_0 0.037 / 0.130; every
/// quantized file ran about twice as fast as f16, with no clear order among them. q5_1
/// heard one of the audio tests' sentences wrong where q8_0 did not, so q8_0: f16's
/// accuracy at the quantized speed, and 44 MB instead of 78.
pub const DEFAULT_WEIGHTS: Weights = Weights::Q8_0;

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
    /// A `[transcribe.vad]` value is out of range.
    #[error("transcribe.vad.{key} {message}")]
    Vad {
        /// The key inside `[transcribe.vad]`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl TranscribeConfigError {
    /// The keys the error is about, for pointing at their line.
    pub fn keys(&self) -> Vec<String> {
        match self {
            TranscribeConfigError::Language { .. } => vec!["transcribe.language".to_owned()],
            TranscribeConfigError::Vad { key, .. } => vec![format!("transcribe.vad.{key}")],
        }
    }
}

impl TranscribeConfig {
    /// What the transcribe stage hands whisper.cpp for these settings (the benchmark
    /// measures the defaults through this, as the daemon runs them). Voice activity
    /// detection is left off here: whether it runs depends on the model file, which the
    /// stage checks (`pipeline::vad::choose`) before it fills `vad` in.
    pub fn settings(&self) -> TranscribeSettings {
        TranscribeSettings {
            threads: self.threads,
            language: Some(self.language.clone()),
            beam_size: (self.beam_size > 0).then_some(self.beam_size),
            chunk_seconds: self.chunk.as_secs().clamp(30, u64::from(u32::MAX)) as u32,
            word_timestamps: self.word_timestamps,
            vad: None,
        }
    }

    /// The whisper model file to load, and the faster-whisper folder to convert it
    /// from when it is missing. Only the default model is ever converted (a configured
    /// model that is missing is an error, never silently replaced): while the bundled
    /// faster-whisper model is there, into `ggml/whisper-tiny.en-WEIGHTS.bin` (f16 keeps
    /// the plain name); without it, the default name is used as it is (a pulled model).
    pub fn model_file(&self, models: &ModelsConfig) -> (PathBuf, Option<PathBuf>) {
        let configured = models.resolve(&self.model);
        if self.model != Self::default().model {
            return (configured, None);
        }
        let ct2 = models.dir().join(BUNDLED_CT2_MODEL);
        if !ct2.join("model.bin").is_file() {
            return (configured, None);
        }
        let converted = match self.weights {
            Weights::F16 => configured,
            weights => converted_name(&configured, weights),
        };
        (converted, Some(ct2))
    }

    /// Checks what serde cannot: the language is one whisper.cpp knows (from its own
    /// table; no model is loaded).
    pub fn validate(&self) -> Result<(), TranscribeConfigError> {
        self.vad.validate()?;
        if super::language::is_known(&self.language) {
            return Ok(());
        }
        Err(TranscribeConfigError::Language {
            given: self.language.clone(),
            suggestion: super::language::suggest(&self.language).map(str::to_owned),
        })
    }
}

/// `dir/name.bin` → `dir/name-WEIGHTS.bin`.
fn converted_name(path: &Path, weights: Weights) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}-{}.bin", weights.name()))
}

impl VadConfig {
    /// Checks the ranges serde cannot.
    pub fn validate(&self) -> Result<(), TranscribeConfigError> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(TranscribeConfigError::Vad {
                key: "threshold",
                message: format!(
                    "is {}: write a probability between 0 and 1 (exclusive), e.g. 0.5",
                    self.threshold
                ),
            });
        }
        for (key, value) in [
            ("min_speech_ms", self.min_speech_ms),
            ("min_silence_ms", self.min_silence_ms),
            ("padding_ms", self.padding_ms),
        ] {
            if value > MAX_VAD_MS {
                return Err(TranscribeConfigError::Vad {
                    key,
                    message: format!("is {value}: at most {MAX_VAD_MS} milliseconds"),
                });
            }
        }
        if self.model.as_os_str().is_empty() {
            return Err(TranscribeConfigError::Vad {
                key: "model",
                message: "is empty: name the ggml Silero model file".to_owned(),
            });
        }
        Ok(())
    }

    /// The settings whisper gets for the model at `model` (already resolved).
    pub fn settings(&self, model: PathBuf) -> super::vad::VadSettings {
        super::vad::VadSettings {
            model,
            threshold: self.threshold,
            min_speech_ms: self.min_speech_ms,
            min_silence_ms: self.min_silence_ms,
            padding_ms: self.padding_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_default_model_is_converted_with_its_weights_only_when_the_bundle_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let models = ModelsConfig {
            dir: dir.path().to_owned(),
            ..ModelsConfig::default()
        };
        let mut config = TranscribeConfig {
            weights: Weights::Q5_0,
            ..TranscribeConfig::default()
        };
        let plain = dir.path().join("ggml/whisper-tiny.en.bin");
        assert_eq!(config.model_file(&models), (plain.clone(), None));

        let ct2 = dir.path().join(BUNDLED_CT2_MODEL);
        std::fs::create_dir_all(&ct2).unwrap();
        std::fs::write(ct2.join("model.bin"), b"x").unwrap();
        let quantized = dir.path().join("ggml/whisper-tiny.en-q5_0.bin");
        assert_eq!(config.model_file(&models), (quantized, Some(ct2.clone())));
        config.weights = Weights::F16;
        assert_eq!(config.model_file(&models), (plain, Some(ct2)));

        config.model = PathBuf::from("/elsewhere/whisper-base.bin");
        let configured = (PathBuf::from("/elsewhere/whisper-base.bin"), None);
        assert_eq!(config.model_file(&models), configured);
    }

    #[test]
    fn weights_are_named_in_the_config() {
        let config: TranscribeConfig = toml::from_str("weights = \"q8_0\"").unwrap();
        assert_eq!(config.weights, Weights::Q8_0);
        let error = toml::from_str::<TranscribeConfig>("weights = \"q4\"").unwrap_err();
        assert!(error.to_string().contains("q5_1"), "{error}");
    }

    fn parse(toml_text: &str) -> Result<TranscribeConfig, String> {
        let config: TranscribeConfig =
            toml::from_str(toml_text).map_err(|error| error.to_string())?;
        config.validate().map_err(|error| error.to_string())?;
        Ok(config)
    }

    #[test]
    fn vad_settings_parse_and_bad_ones_name_their_key() {
        assert_eq!(parse("").unwrap().vad.enabled, VadEnabled::Auto);
        assert_eq!(
            parse("[vad]\nenabled = true").unwrap().vad.enabled,
            VadEnabled::On
        );
        assert_eq!(
            parse("[vad]\nenabled = false").unwrap().vad.enabled,
            VadEnabled::Off
        );
        assert_eq!(
            parse("[vad]\nenabled = \"auto\"").unwrap().vad.enabled,
            VadEnabled::Auto
        );
        let error = parse("[vad]\nenabled = \"yes\"").unwrap_err();
        assert!(error.contains("transcribe.vad.enabled"), "{error}");
        let error = parse("[vad]\nthreshold = 1.5").unwrap_err();
        assert!(error.contains("transcribe.vad.threshold"), "{error}");
        let error = parse("[vad]\npadding_ms = 600000").unwrap_err();
        assert!(error.contains("transcribe.vad.padding_ms"), "{error}");
        let error = parse("[vad]\nmodel = \"\"").unwrap_err();
        assert!(error.contains("transcribe.vad.model"), "{error}");
    }
}
