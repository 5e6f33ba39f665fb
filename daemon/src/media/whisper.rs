//! Speech to text with whisper.cpp (whisper-rs): loading a ggml model safely and
//! transcribing a decoded sample file in bounded chunks.
//!
//! whisper.cpp aborts the process on some malformed inputs, so everything is validated
//! before a call crosses into C++: the model file's magic and size, the sample file's
//! length, the settings.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use super::decode::SAMPLE_RATE;
use super::seam::{self, OVERLAP_SECONDS};
use super::transcript::{Segment, Transcript};
use super::vad::{SpeechCut, VadModel, VadSettings};
use super::whisper_abort::full_until_stopped;

/// Magic number of whisper.cpp's legacy ggml model files ("ggml", little-endian).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// How to transcribe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscribeSettings {
    /// CPU threads for whisper.cpp.
    pub threads: usize,
    /// Language code, or `None` to detect it (English-only models always say `en`).
    pub language: Option<String>,
    /// Beam search width; `None` decodes greedily.
    pub beam_size: Option<usize>,
    /// Audio is transcribed in chunks of this many seconds, so memory stays bounded
    /// however long the recording is.
    pub chunk_seconds: u32,
    /// Give each segment its words with their times (whisper.cpp's token timestamps).
    #[serde(default)]
    pub word_timestamps: bool,
    /// Voice activity detection: when set, whisper hears only the speech the Silero
    /// model finds in each chunk (times still refer to the original audio).
    #[serde(default)]
    pub vad: Option<VadSettings>,
}

impl Default for TranscribeSettings {
    fn default() -> Self {
        Self {
            threads: 2,
            language: None,
            // whisper.cpp's own default; greedy (None) is faster and a little less accurate.
            beam_size: Some(5),
            chunk_seconds: 300,
            word_timestamps: false,
            vad: None,
        }
    }
}

/// Why transcription failed.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// The model file is missing or not a whisper.cpp ggml model.
    #[error("the whisper model {path} is not usable: {reason}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong (and what to do).
        reason: String,
    },
    /// The voice activity model is missing or not a ggml Silero model.
    #[error("the voice activity model {path} is not usable: {reason}")]
    VadModel {
        /// The model file.
        path: PathBuf,
        /// What is wrong (and what to do).
        reason: String,
    },
    /// Reading the decoded samples failed.
    #[error("cannot read the decoded audio: {0}")]
    Samples(#[from] io::Error),
    /// whisper.cpp reported an error.
    #[error("whisper.cpp failed: {0}")]
    Whisper(String),
    /// A finished chunk could not be checkpointed.
    #[error("cannot checkpoint a finished chunk: {0}")]
    Checkpoint(io::Error),
    /// Stopped by cancellation or shutdown.
    #[error("transcription was stopped")]
    Stopped,
}

/// One finished chunk of a transcription, as its checkpoint keeps it: a chunk is
/// taken from a checkpoint only when its `source` matches, i.e. it was made from the
/// same decoded audio (size and mtime) by the same model file (name and size) with the
/// same settings (chunk length, language, beam, word timestamps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChunkTranscript {
    /// The model's file name.
    pub model: String,
    /// The chunk length it was cut with.
    pub chunk_seconds: u32,
    /// The language whisper detected (or was told).
    pub language: String,
    /// What it was made from (see the type's doc); other checkpoints are ignored.
    pub source: String,
    /// Its segments, in seconds from the start of the whole recording.
    pub segments: Vec<Segment>,
    /// Samples whisper was given for this chunk (its speech only, with VAD).
    pub processed_samples: u64,
    /// Samples of speech the voice activity model found (0 without VAD).
    pub speech_samples: u64,
}

/// A transcript and how much audio whisper really processed.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcription {
    /// The transcript.
    pub transcript: Transcript,
    /// Samples of the whole recording.
    pub total_samples: u64,
    /// Samples handed to whisper (all chunks, overlaps and padding included).
    pub processed_samples: u64,
    /// Samples of speech found by voice activity detection; `None` when it did not run.
    pub speech_samples: Option<u64>,
}

/// Called with each chunk as it finishes (its index and transcript), to checkpoint
/// it; an error stops the transcription.
pub type OnChunk<'a> = &'a mut dyn FnMut(u64, &ChunkTranscript) -> io::Result<()>;

/// A loaded whisper model; share it (behind an `Arc`) between jobs.
pub struct WhisperModel {
    context: WhisperContext,
    path: PathBuf,
    english_only: bool,
}

impl std::fmt::Debug for WhisperModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WhisperModel")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl WhisperModel {
    /// Loads a ggml model after checking that the file really is one.
    pub fn load(path: &Path, use_gpu: bool) -> Result<WhisperModel, TranscribeError> {
        let model_error = |reason: String| TranscribeError::Model {
            path: path.to_owned(),
            reason,
        };
        let mut magic = [0u8; 4];
        File::open(path)
            .and_then(|mut file| file.read_exact(&mut magic))
            .map_err(|error| {
                model_error(format!(
                    "{error} (fetch it with `chute models pull`, or convert a faster-whisper model)"
                ))
            })?;
        if u32::from_le_bytes(magic) != GGML_MAGIC {
            return Err(model_error(
                "not a whisper.cpp ggml model (wrong magic number)".into(),
            ));
        }
        whisper_rs::install_logging_hooks();
        let mut params = WhisperContextParameters::default();
        params.use_gpu(use_gpu);
        let path_text = path
            .to_str()
            .ok_or_else(|| model_error("the path is not valid UTF-8".into()))?;
        let context = WhisperContext::new_with_params(path_text, params)
            .map_err(|error| model_error(format!("whisper.cpp could not load it: {error}")))?;
        let english_only = !context.is_multilingual();
        Ok(WhisperModel {
            context,
            path: path.to_owned(),
            english_only,
        })
    }

    /// The model's file name, as recorded in transcripts.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// How the model's matrices are stored (`f16`, `q8_0`, `q5_1`, …), from its file.
    pub fn weights(&self) -> String {
        crate::models::quantize::ftype_name(self.context.model_ftype())
    }

    /// Transcribes a file of 16 kHz mono f32le samples. `progress` gets the fraction done
    /// (0.0–1.0); setting `stop` ends the work within about a second (whisper.cpp
    /// checks it after every encoder pass and decoder step).
    pub fn transcribe(
        &self,
        samples_path: &Path,
        settings: &TranscribeSettings,
        progress: Arc<dyn Fn(f64) + Send + Sync>,
        stop: Arc<AtomicBool>,
    ) -> Result<Transcript, TranscribeError> {
        self.transcribe_counted(samples_path, settings, progress, stop)
            .map(|done| done.transcript)
    }

    /// Like [`transcribe`](Self::transcribe), also saying how many samples whisper
    /// processed.
    pub fn transcribe_counted(
        &self,
        samples_path: &Path,
        settings: &TranscribeSettings,
        progress: Arc<dyn Fn(f64) + Send + Sync>,
        stop: Arc<AtomicBool>,
    ) -> Result<Transcription, TranscribeError> {
        self.transcribe_resumable(
            samples_path,
            settings,
            progress,
            stop,
            &BTreeMap::new(),
            &mut |_, _| Ok(()),
        )
    }

    /// Like [`transcribe`](Self::transcribe), but chunks in `finished` (by index, from
    /// an earlier run's checkpoints) are taken as they are instead of transcribed again,
    /// and every chunk transcribed now is handed to `on_chunk` before the next starts.
    pub fn transcribe_resumable(
        &self,
        samples_path: &Path,
        settings: &TranscribeSettings,
        progress: Arc<dyn Fn(f64) + Send + Sync>,
        stop: Arc<AtomicBool>,
        finished: &BTreeMap<u64, ChunkTranscript>,
        on_chunk: OnChunk<'_>,
    ) -> Result<Transcription, TranscribeError> {
        let mut vad = match &settings.vad {
            Some(vad_settings) => Some((VadModel::load(&vad_settings.model)?, vad_settings)),
            None => None,
        };
        let mut processed_samples = 0u64;
        let mut speech_samples = 0u64;
        let total_samples = std::fs::metadata(samples_path)?.len() / 4;
        let chunk_samples = u64::from(settings.chunk_seconds.max(30)) * u64::from(SAMPLE_RATE);
        let chunks = total_samples.div_ceil(chunk_samples).max(1);
        let mut reader = BufReader::with_capacity(1 << 20, File::open(samples_path)?);
        let mut state = self
            .context
            .create_state()
            .map_err(|error| TranscribeError::Whisper(error.to_string()))?;
        let mut transcript = Transcript {
            language: String::new(),
            model: self.name(),
            duration_seconds: total_samples as f64 / f64::from(SAMPLE_RATE),
            segments: Vec::new(),
        };
        let overlap_samples = u64::from(OVERLAP_SECONDS) * u64::from(SAMPLE_RATE);
        let mut bytes = vec![0u8; ((chunk_samples + overlap_samples) * 4) as usize];
        let model_name = self.name();
        let source = self.chunk_source(samples_path, settings)?;
        for chunk in 0..chunks {
            if stop.load(Ordering::Relaxed) {
                return Err(TranscribeError::Stopped);
            }
            if let Some(done) = finished.get(&chunk).filter(|done| done.source == source) {
                if transcript.language.is_empty() {
                    transcript.language = done.language.clone();
                }
                transcript.segments.extend(done.segments.iter().cloned());
                processed_samples += done.processed_samples;
                speech_samples += done.speech_samples;
                progress((chunk + 1) as f64 / chunks as f64);
                continue;
            }
            // Each chunk after the first starts OVERLAP_SECONDS early, so a word cut by
            // the boundary is heard whole; the seam drops what it repeats.
            let boundary = chunk * chunk_samples;
            let first_sample = boundary.saturating_sub(overlap_samples);
            let wanted = ((boundary + chunk_samples - first_sample) * 4) as usize;
            reader.seek(SeekFrom::Start(first_sample * 4))?;
            let read = read_up_to(&mut reader, &mut bytes[..wanted])?;
            let samples: Vec<f32> = bytes[..read - read % 4]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            // With VAD, whisper hears only the chunk's speech, joined (see `vad`).
            let (mut samples, cut) = match vad.as_mut() {
                Some((model, vad_settings)) => {
                    let spans = model.speech(&samples, vad_settings, &stop)?;
                    let (joined, cut) = SpeechCut::join(&samples, &spans);
                    (joined, Some(cut))
                }
                None => (samples, None),
            };
            let chunk_speech = cut.as_ref().map_or(0, SpeechCut::speech_samples);
            let offset = first_sample as f64 / f64::from(SAMPLE_RATE);
            let to_recording = |seconds: f64, is_start: bool| {
                offset
                    + cut
                        .as_ref()
                        .map_or(seconds, |cut| cut.to_source(seconds, is_start))
            };
            let silent = cut.as_ref().is_some_and(SpeechCut::is_empty);
            let mut heard = Vec::new();
            let mut chunk_processed = 0u64;
            if !silent {
                // whisper.cpp needs at least one second of audio per call; pad short tails.
                if samples.len() < SAMPLE_RATE as usize + SAMPLE_RATE as usize / 10 {
                    samples.resize(SAMPLE_RATE as usize * 11 / 10, 0.0);
                }
                chunk_processed = samples.len() as u64;
                let params = self.params(settings, &transcript.language, chunk, chunks, &progress);
                let ran = full_until_stopped(&mut state, params, &samples, &stop);
                if stop.load(Ordering::Relaxed) {
                    return Err(TranscribeError::Stopped);
                }
                ran.map_err(|error| TranscribeError::Whisper(error.to_string()))?;
                self.detect_language(&mut transcript, &state);
                heard = self.heard(&state, settings, &to_recording, transcript.duration_seconds)?;
            }
            drop(samples);
            let boundary_seconds = boundary as f64 / f64::from(SAMPLE_RATE);
            let this_chunk = ChunkTranscript {
                model: model_name.clone(),
                chunk_seconds: settings.chunk_seconds.max(30),
                language: transcript.language.clone(),
                source: source.clone(),
                segments: seam::trim_repeats(transcript.segments.last(), boundary_seconds, heard),
                processed_samples: chunk_processed,
                speech_samples: chunk_speech,
            };
            on_chunk(chunk, &this_chunk).map_err(TranscribeError::Checkpoint)?;
            processed_samples += chunk_processed;
            speech_samples += chunk_speech;
            transcript.segments.extend(this_chunk.segments);
            progress((chunk + 1) as f64 / chunks as f64);
        }
        if transcript.language.is_empty() {
            // No chunk had speech: the configured language, else "und" (undetermined).
            transcript.language = if self.english_only {
                "en".to_owned()
            } else {
                settings
                    .language
                    .clone()
                    .filter(|code| code != "auto")
                    .unwrap_or_else(|| "und".to_owned())
            };
        }
        Ok(Transcription {
            transcript,
            total_samples,
            processed_samples,
            speech_samples: settings.vad.is_some().then_some(speech_samples),
        })
    }

    /// Records the language whisper detected (or was told) in its first run.
    fn detect_language(&self, transcript: &mut Transcript, state: &whisper_rs::WhisperState) {
        if transcript.language.is_empty() {
            transcript.language = if self.english_only {
                "en".to_owned()
            } else {
                whisper_rs::get_lang_str(state.full_lang_id_from_state())
                    .unwrap_or("und")
                    .to_owned()
            };
        }
    }

    /// The segments of whisper's last run, timed in the recording by `to_recording`
    /// (seconds in what whisper heard, and whether it is a start).
    fn heard(
        &self,
        state: &whisper_rs::WhisperState,
        settings: &TranscribeSettings,
        to_recording: &dyn Fn(f64, bool) -> f64,
        duration_seconds: f64,
    ) -> Result<Vec<Segment>, TranscribeError> {
        let mut heard = Vec::new();
        for segment in state.as_iter() {
            let text = segment
                .to_str_lossy()
                .map_err(|error| TranscribeError::Whisper(error.to_string()))?
                .trim()
                .to_owned();
            if text.is_empty() {
                continue;
            }
            let start = to_recording(segment.start_timestamp() as f64 / 100.0, true);
            let end = to_recording(segment.end_timestamp() as f64 / 100.0, false);
            let end = end.min(duration_seconds).max(start);
            heard.push(Segment {
                start: start.min(end),
                end,
                text,
                words: if settings.word_timestamps {
                    segment_words(&segment, to_recording, start.min(end), end)
                } else {
                    Vec::new()
                },
            });
        }
        Ok(heard)
    }

    /// What a chunk checkpoint must have been made from to be reused: the decoded
    /// audio (size, mtime), the model file (name, size) and the settings.
    fn chunk_source(
        &self,
        samples_path: &Path,
        settings: &TranscribeSettings,
    ) -> Result<String, TranscribeError> {
        let audio = std::fs::metadata(samples_path)?;
        let modified = audio
            .modified()
            .ok()
            .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        let model_bytes = std::fs::metadata(&self.path).map_or(0, |model| model.len());
        // Named only when on, so checkpoints made before the setting existed (without
        // words) still match a run without words.
        let words = if settings.word_timestamps {
            "; word timestamps"
        } else {
            ""
        };
        // Likewise named only when on.
        let vad = settings
            .vad
            .as_ref()
            .map(|vad| format!("; {}", vad.describe()))
            .unwrap_or_default();
        Ok(format!(
            "audio {} bytes @{modified}; model {} ({model_bytes} bytes); chunk {} s, overlap {OVERLAP_SECONDS} s; language {:?}; beam {:?}{words}{vad}",
            audio.len(),
            self.name(),
            settings.chunk_seconds.max(30),
            settings.language,
            settings.beam_size,
        ))
    }

    fn params<'a>(
        &self,
        settings: &'a TranscribeSettings,
        detected: &'a str,
        chunk: u64,
        chunks: u64,
        progress: &Arc<dyn Fn(f64) + Send + Sync>,
    ) -> FullParams<'a, 'a> {
        let strategy = match settings.beam_size {
            Some(beam_size) => SamplingStrategy::BeamSearch {
                beam_size: beam_size.clamp(1, 16) as i32,
                patience: -1.0,
            },
            None => SamplingStrategy::Greedy { best_of: 1 },
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(settings.threads.clamp(1, 64) as i32);
        let language = if self.english_only {
            Some("en")
        } else if !detected.is_empty() {
            Some(detected)
        } else {
            settings.language.as_deref().filter(|code| *code != "auto")
        };
        params.set_language(language.or(Some("auto")));
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_token_timestamps(settings.word_timestamps);
        let progress = progress.clone();
        params.set_progress_callback_safe(move |percent: i32| {
            let within = f64::from(percent.clamp(0, 100)) / 100.0;
            progress((chunk as f64 + within) / chunks as f64);
        });
        params
    }
}

/// The words of one whisper.cpp segment from its token timestamps, in seconds from the
/// start of the recording (`to_recording` maps whisper's times), within `start..end`.
fn segment_words(
    segment: &whisper_rs::WhisperSegment<'_>,
    to_recording: &dyn Fn(f64, bool) -> f64,
    start: f64,
    end: f64,
) -> Vec<super::transcript::Word> {
    use super::words::{TimedToken, words_from_tokens};
    let tokens = (0..segment.n_tokens())
        .filter_map(|index| segment.get_token(index))
        .filter_map(|token| {
            let data = token.token_data();
            Some(TimedToken {
                bytes: token.to_bytes().ok()?,
                start: to_recording(data.t0 as f64 / 100.0, true),
                end: to_recording(data.t1 as f64 / 100.0, false),
            })
        });
    words_from_tokens(tokens, start, end)
}

/// Fills `buffer` as far as the reader allows; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}
