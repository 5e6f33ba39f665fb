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
                let executable = crate::pipeline::child_executable()?;
                let speaker = voice::Speaker {
                    executable: &executable,
                    timeout: ESPEAK_TIMEOUT,
                    cpu_cores: context.config.limits.child_cpu_cores,
                };
                voice::speak(speaker, text, &espeak, &path)
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

/// Speaks through the remote chain; the audio lands in `dir/<stem>.<ext>` (raw PCM as
/// a WAV file).
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
    // Raw PCM arrives here already wrapped into a WAV file by `materialize`.
    let path = file.path;
    let provider = file.record.provider.clone();
    let record = serde_json::to_value(&file.record).unwrap_or_default();
    Ok((path, provider, vec![record], words))
}

/// The length of an audio file, decoded in the decoder child (remote audio is
/// untrusted).
async fn measure(context: &StageContext, path: &Path, index: usize) -> Result<f64, StageError> {
    let executable = crate::pipeline::child_executable()?;
    let limits = DecodeLimits {
        max_seconds: 600,
        max_memory: context.config.transcribe.decode_memory.as_u64(),
        timeout: context.config.transcribe.decode_timeout,
        cpu_cores: context.config.limits.child_cpu_cores,
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
