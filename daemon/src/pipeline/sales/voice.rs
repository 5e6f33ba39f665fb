//! Each scene's voiceover (part of the `scenes` stage), spoken into `out/scenes/scene-NN-voice.*`
//! and measured. Remote speech providers go first when the chain names any; espeak-ng
//! speaks offline otherwise, or when every provider failed (result.json says why).
//! The measured durations set the scene lengths of the render.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::scenes::SceneWork;
use super::{relative, scene_stem};
use crate::media::child::{self, DecodeLimits};
use crate::pipeline::{StageContext, StageError};
use crate::provider::plugin::{Media, SpeechRequest};
use crate::provider::{Answer, CallOperation, Consequence, MediaKind, OperationError};
use crate::video::render::plan::CaptionWord;
use crate::video::voice;

/// Longest an espeak-ng run may take for one scene.
const ESPEAK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One scene's voiceover, as checkpointed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SceneVoice {
    /// The audio file, relative to the job folder.
    pub file: String,
    /// Its measured length in seconds.
    pub seconds: f64,
    /// Who spoke it: a provider name, or `espeak-ng`.
    pub provider: String,
    /// The provider calls made (result.json).
    #[serde(default)]
    pub calls: Vec<serde_json::Value>,
    /// Why remote providers were not used, when they were tried.
    #[serde(default)]
    pub fell_back: Option<String>,
    /// When each word is spoken, when the provider aligned its speech (captions follow
    /// them); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<CaptionWord>,
}

impl SceneWork<'_> {
    /// Scene `index`'s voiceover, spoken and measured: from the remote chain, else by
    /// espeak-ng.
    pub async fn voice(&self, index: usize) -> Result<SceneVoice, StageError> {
        let context = self.context;
        let text = &self.script.scenes[index].voiceover;
        let stem = format!("{}-voice", scene_stem(index));
        let mut fell_back = None;
        let mut spoken = None;
        if !self.voice_chain.is_empty() {
            let request = SpeechRequest {
                text: text.clone(),
                voice: self.brief.voice.clone(),
                language: Some(self.brief.language.clone()),
            };
            match speak_remote(context, &self.voice_chain, request, &self.dir, &stem).await {
                Ok(done) => spoken = Some(done),
                Err(error) => match error.consequence() {
                    Consequence::Stopped(stopped) => return Err(stopped.into()),
                    _ => {
                        tracing::warn!(job_id = %context.job.id, scene = index + 1, "Speech providers failed; espeak-ng speaks this scene: {error}");
                        fell_back = Some(error.to_string());
                    }
                },
            }
        }
        let (path, provider, calls, words) = match spoken {
            Some(done) => done,
            None => {
                let path = self.dir.join(format!("{stem}.wav"));
                let espeak = voice::espeak_voice(&self.brief.language, self.brief.voice.as_deref());
                voice::speak(text, &espeak, &path, ESPEAK_TIMEOUT)
                    .await
                    .map_err(|error| {
                        StageError::job(
                            error.to_string(),
                            "install espeak-ng (`chute doctor` checks it), or configure a speech provider for this language",
                        )
                    })?;
                (path, "espeak-ng".to_owned(), Vec::new(), Vec::new())
            }
        };
        let seconds = measure(context, &path, index).await?;
        Ok(SceneVoice {
            file: relative(context, &path),
            seconds,
            provider,
            calls,
            fell_back,
            words,
        })
    }
}

/// Speaks through the remote chain; the audio lands in `dir/<stem>.<ext>` (raw PCM is
/// wrapped into a WAV file).
async fn speak_remote(
    context: &StageContext,
    remote: &[String],
    request: SpeechRequest,
    dir: &Path,
    stem: &str,
) -> Result<(PathBuf, String, Vec<serde_json::Value>, Vec<CaptionWord>), OperationError> {
    let driver = context.remote_operations();
    let served = driver.call(remote, CallOperation::Speak(request)).await?;
    let Answer::Speech(speech) = served.answer else {
        return Err(OperationError::Io(std::io::Error::other(
            "the speech provider answered with the wrong kind of result",
        )));
    };
    let words = speech
        .words
        .iter()
        .map(|timed| CaptionWord {
            word: timed.word.clone(),
            start: f64::from(timed.start_ms) / 1000.0,
            end: f64::from(timed.end_ms) / 1000.0,
        })
        .collect();
    let media: Media = speech.audio;
    let finished = driver.finished(served.record, media);
    let file = driver
        .materialize(finished, dir, stem, MediaKind::Audio)
        .await?;
    let path = if file.mime.to_ascii_lowercase().starts_with("audio/l16") {
        let wav = dir.join(format!("{stem}.wav"));
        pcm_to_wav(&file.path, &wav, &file.mime).map_err(OperationError::Io)?;
        std::fs::remove_file(&file.path).map_err(OperationError::Io)?;
        wav
    } else {
        file.path
    };
    let provider = file.record.provider.clone();
    let record = serde_json::to_value(&file.record).unwrap_or_default();
    Ok((path, provider, vec![record], words))
}

/// Wraps headerless signed 16-bit little-endian PCM (`audio/L16;rate=24000`, as
/// Gemini TTS sends it) into a WAV file.
fn pcm_to_wav(pcm: &Path, wav: &Path, mime: &str) -> std::io::Result<()> {
    let parameter = |name: &str| {
        mime.split(';')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.trim().parse::<u32>().ok())
    };
    let spec = hound::WavSpec {
        channels: parameter("channels").unwrap_or(1).clamp(1, 8) as u16,
        sample_rate: parameter("rate").unwrap_or(24_000).clamp(8_000, 192_000),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let bytes = std::fs::read(pcm)?;
    let mut writer = hound::WavWriter::create(wav, spec).map_err(std::io::Error::other)?;
    for pair in bytes.chunks_exact(2) {
        writer
            .write_sample(i16::from_le_bytes([pair[0], pair[1]]))
            .map_err(std::io::Error::other)?;
    }
    writer.finalize().map_err(std::io::Error::other)
}

/// The length of an audio file, decoded in the decoder child (remote audio is
/// untrusted).
async fn measure(context: &StageContext, path: &Path, index: usize) -> Result<f64, StageError> {
    let executable = crate::pipeline::child_executable()?;
    let limits = DecodeLimits {
        max_seconds: 600,
        max_memory: context.config.transcribe.decode_memory.as_u64(),
        timeout: context.config.transcribe.decode_timeout,
    };
    let info = child::decode_in_child(&executable, path, Path::new("/dev/null"), &limits, |_| {})
        .await
        .map_err(|error| {
            StageError::job(
                format!(
                    "the voiceover of scene {} cannot be decoded: {error}",
                    index + 1
                ),
                "check the speech provider's output format, or remove it from the voice chain",
            )
        })?;
    if info.duration_seconds < 0.2 {
        return Err(StageError::job(
            format!("the voiceover of scene {} is silent or empty", index + 1),
            "check the scene's voiceover text in script.json and the speech provider",
        ));
    }
    Ok(info.duration_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_pcm_becomes_a_wav_with_its_rate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pcm = dir.path().join("speech.bin");
        let samples: Vec<u8> = (0..2400i16).flat_map(|s| (s * 10).to_le_bytes()).collect();
        std::fs::write(&pcm, &samples).expect("pcm");
        let wav = dir.path().join("speech.wav");
        pcm_to_wav(&pcm, &wav, "audio/L16;codec=pcm;rate=24000").expect("wav");
        let reader = hound::WavReader::open(&wav).expect("reads");
        assert_eq!(reader.spec().sample_rate, 24_000);
        assert_eq!(reader.duration(), 2400);
    }
}
