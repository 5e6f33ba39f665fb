//! Voice activity detection before whisper: the Silero model (through whisper.cpp's VAD)
//! finds the speech in a chunk, only that speech is handed to whisper, and every time
//! whisper reports is mapped back to the original audio.
//!
//! The speech spans of a chunk are joined into one buffer with a short silence between
//! them (spans closer than [`MERGE_GAP_SECONDS`] are kept together with the pause between
//! them), so whisper runs once per chunk on less audio; [`SpeechCut`] remembers where
//! each piece came from.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use whisper_rs::{WhisperVadContext, WhisperVadContextParams, WhisperVadParams};

use super::decode::SAMPLE_RATE;
use super::whisper::TranscribeError;

/// Spans of speech whose gap is shorter than this are kept together, pause included.
pub const MERGE_GAP_SECONDS: f64 = 0.5;

/// Seconds of audio given to the detector at once: a stop is noticed between blocks,
/// so a whole chunk (300 s by default) never outlasts a short stop grace. Speech across
/// a block's end is joined again by the merge.
pub const BLOCK_SECONDS: f64 = 30.0;
/// Threads the detector runs on. Silero's graph for one 32 ms window is tiny, so a
/// second thread only adds a hand-over per window, which costs more than it saves: on
/// the 62 s benchmark paragraph one thread took 0.24 s, two took 0.57–4.4 s.
pub const VAD_THREADS: i32 = 1;
/// Silence put between two joined spans, so whisper hears them as separate phrases.
pub const JOIN_SILENCE_SECONDS: f64 = 0.1;

/// How to find speech (whisper.cpp's defaults, see [`Default`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VadSettings {
    /// The ggml Silero model (see [`crate::models::silero`]).
    pub model: PathBuf,
    /// Probability above which a 32 ms window counts as speech.
    pub threshold: f32,
    /// Speech shorter than this is dropped (clicks, coughs).
    pub min_speech_ms: u32,
    /// A pause must last this long to end a stretch of speech.
    pub min_silence_ms: u32,
    /// Audio kept on both sides of each stretch of speech.
    pub padding_ms: u32,
}

impl Default for VadSettings {
    fn default() -> Self {
        Self {
            model: PathBuf::new(),
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 100,
            padding_ms: 30,
        }
    }
}

impl VadSettings {
    /// What the settings are, for a chunk checkpoint's `source`: a chunk made with other
    /// settings or another model file is transcribed again.
    pub fn describe(&self) -> String {
        let model_bytes = std::fs::metadata(&self.model).map_or(0, |model| model.len());
        format!(
            "vad {} ({model_bytes} bytes) threshold {} speech {} ms silence {} ms padding {} ms",
            self.model_name(),
            self.threshold,
            self.min_speech_ms,
            self.min_silence_ms,
            self.padding_ms
        )
    }

    /// The model's file name.
    pub fn model_name(&self) -> String {
        self.model
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A loaded Silero model; one per transcription (it keeps state between windows).
pub struct VadModel {
    context: WhisperVadContext,
}

impl std::fmt::Debug for VadModel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("VadModel").finish_non_exhaustive()
    }
}

impl VadModel {
    /// Loads the ggml Silero model at `path` after checking the whole file (whisper.cpp's
    /// loader trusts it). It runs on one thread (see [`VAD_THREADS`]).
    pub fn load(path: &Path) -> Result<VadModel, TranscribeError> {
        let model_error = |reason: String| TranscribeError::VadModel {
            path: path.to_owned(),
            reason,
        };
        crate::models::silero::check_ggml(path).map_err(|error| model_error(error.to_string()))?;
        let text = path
            .to_str()
            .filter(|text| !text.contains('\0'))
            .ok_or_else(|| model_error("the path is not valid UTF-8".into()))?;
        whisper_rs::install_logging_hooks();
        let mut params = WhisperVadContextParams::new();
        params.set_n_threads(VAD_THREADS);
        params.set_use_gpu(false);
        let context = WhisperVadContext::new(text, params)
            .map_err(|error| model_error(format!("whisper.cpp could not load it: {error}")))?;
        Ok(VadModel { context })
    }

    /// The speech in `samples` (16 kHz), as sample ranges in order, padded by
    /// `padding_ms` and merged when closer than [`MERGE_GAP_SECONDS`]. The samples are
    /// read in blocks of [`BLOCK_SECONDS`], and `stop` is checked before each, so a stop
    /// or cancel is not held up by a long chunk.
    pub fn speech(
        &mut self,
        samples: &[f32],
        settings: &VadSettings,
        stop: &AtomicBool,
    ) -> Result<Vec<Range<usize>>, TranscribeError> {
        let mut spans = Vec::new();
        let block = seconds_to_samples(BLOCK_SECONDS);
        for (index, piece) in samples.chunks(block).enumerate() {
            if stop.load(Ordering::Relaxed) {
                return Err(TranscribeError::Stopped);
            }
            let start = index * block;
            spans.extend(
                self.block_speech(piece, settings)?
                    .into_iter()
                    .map(|span| span.start + start..span.end + start),
            );
        }
        Ok(merge(spans, seconds_to_samples(MERGE_GAP_SECONDS)))
    }

    /// The speech spans of one block, in samples from its start.
    fn block_speech(
        &mut self,
        samples: &[f32],
        settings: &VadSettings,
    ) -> Result<Vec<Range<usize>>, TranscribeError> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let mut params = WhisperVadParams::new();
        params.set_threshold(settings.threshold);
        params.set_min_speech_duration(settings.min_speech_ms.min(i32::MAX as u32) as i32);
        params.set_min_silence_duration(settings.min_silence_ms.min(i32::MAX as u32) as i32);
        params.set_speech_pad(settings.padding_ms.min(i32::MAX as u32) as i32);
        let segments = self
            .context
            .segments_from_samples(params, samples)
            .map_err(|error| {
                TranscribeError::Whisper(format!("voice activity detection: {error}"))
            })?;
        // Centiseconds to samples.
        let per_cs = f64::from(SAMPLE_RATE) / 100.0;
        Ok(segments
            .map(|segment| {
                let start = (f64::from(segment.start) * per_cs).max(0.0) as usize;
                let end = (f64::from(segment.end) * per_cs).max(0.0) as usize;
                start.min(samples.len())..end.min(samples.len())
            })
            .collect())
    }
}

fn seconds_to_samples(seconds: f64) -> usize {
    (seconds * f64::from(SAMPLE_RATE)) as usize
}

/// Sorted, non-empty spans with gaps of at least `gap` samples between them.
pub fn merge(spans: impl IntoIterator<Item = Range<usize>>, gap: usize) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = spans.into_iter().filter(|span| !span.is_empty()).collect();
    spans.sort_by_key(|span| span.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end + gap => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

/// One span of speech in the joined buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Piece {
    joined_start: usize,
    source_start: usize,
    len: usize,
}

/// Where the joined speech came from: maps whisper's times (in the joined buffer) back
/// to times in the chunk it was cut from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeechCut {
    pieces: Vec<Piece>,
}

impl SpeechCut {
    /// The spans of `samples` joined with [`JOIN_SILENCE_SECONDS`] of silence between
    /// them, and the way back.
    pub fn join(samples: &[f32], spans: &[Range<usize>]) -> (Vec<f32>, SpeechCut) {
        let silence = seconds_to_samples(JOIN_SILENCE_SECONDS);
        let mut joined = Vec::new();
        let mut pieces = Vec::with_capacity(spans.len());
        for span in spans {
            let span = span.start.min(samples.len())..span.end.min(samples.len());
            if span.is_empty() {
                continue;
            }
            if !pieces.is_empty() {
                joined.resize(joined.len() + silence, 0.0);
            }
            pieces.push(Piece {
                joined_start: joined.len(),
                source_start: span.start,
                len: span.len(),
            });
            joined.extend_from_slice(&samples[span]);
        }
        (joined, SpeechCut { pieces })
    }

    /// Samples of speech (without the silence put between spans).
    pub fn speech_samples(&self) -> u64 {
        self.pieces.iter().map(|piece| piece.len as u64).sum()
    }

    /// Whether no speech was found.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Seconds in the chunk for `seconds` in the joined buffer. A time in the silence
    /// between two pieces goes to the next piece's start when `toward_next` (a start),
    /// else to the previous piece's end (an end).
    pub fn to_source(&self, seconds: f64, toward_next: bool) -> f64 {
        let rate = f64::from(SAMPLE_RATE);
        let at = (seconds.max(0.0) * rate).round() as usize;
        let mut previous_end = self.pieces.first().map_or(0, |piece| piece.source_start);
        for piece in &self.pieces {
            if at < piece.joined_start {
                let source = if toward_next {
                    piece.source_start
                } else {
                    previous_end
                };
                return source as f64 / rate;
            }
            if at <= piece.joined_start + piece.len {
                return (piece.source_start + at - piece.joined_start) as f64 / rate;
            }
            previous_end = piece.source_start + piece.len;
        }
        previous_end as f64 / rate
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn close_spans_merge_and_far_ones_stay_apart() {
        let merged = merge([30..40, 0..10, 12..20, 8..11], 3);
        assert_eq!(merged, vec![0..20, 30..40]);
    }

    #[test]
    fn joined_times_map_back_to_the_chunk() {
        let rate = SAMPLE_RATE as usize;
        let samples = vec![0.5f32; 40 * rate];
        // Speech at 1–3 s and 32–34 s.
        let spans = [rate..3 * rate, 32 * rate..34 * rate];
        let (joined, cut) = SpeechCut::join(&samples, &spans);
        let silence = seconds_to_samples(JOIN_SILENCE_SECONDS);
        assert_eq!(joined.len(), 4 * rate + silence);
        assert_eq!(cut.speech_samples(), 4 * rate as u64);
        assert!((cut.to_source(0.5, true) - 1.5).abs() < 1e-9);
        // 2.05 s is in the silence: a start goes to 32 s, an end stays at 3 s.
        assert!((cut.to_source(2.05, true) - 32.0).abs() < 1e-9);
        assert!((cut.to_source(2.05, false) - 3.0).abs() < 1e-9);
        assert!((cut.to_source(2.6, true) - 32.5).abs() < 1e-9);
        assert!((cut.to_source(99.0, false) - 34.0).abs() < 1e-9);
    }
}
