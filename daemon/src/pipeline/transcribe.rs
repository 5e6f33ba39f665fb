//! The transcribe pipeline's own stages: `decode` (GStreamer, in a child process) and
//! `transcribe` (whisper.cpp under the native lease). `summarize` lives in
//! [`super::summarize`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::job::ItemCheckpoints;
use crate::media::child::{self, DecodeLimits};
use crate::media::decode::DecodeError;
use crate::media::decode::SAMPLE_RATE;
use crate::media::transcript::Transcript;
use crate::media::whisper::{ChunkTranscript, TranscribeError, TranscribeSettings, Transcription};
use crate::spool::fsutil;

/// Least wall time between two decode progress events.
const DECODE_EVENT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// GStreamer decode of the input into `work/audio.f32` (16 kHz mono f32le).
pub struct Decode;

impl Stage for Decode {
    fn name(&self) -> &'static str {
        "decode"
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            context.simulate_work().await?;
            let input_name = context.input_name()?;
            if context.record.input.kind != crate::spool::entry::InputKind::File {
                return Err(StageError::job(
                    "a folder is not an audio recording",
                    "drop a single audio or video file",
                ));
            }
            let input = context.job.input_path(&input_name);
            let work = context.job.work_dir();
            std::fs::create_dir_all(&work)?;
            let output = child::samples_path(&work);
            let settings = &context.config.transcribe;
            let limits = DecodeLimits {
                max_seconds: settings.max_duration.as_secs(),
                max_memory: settings.decode_memory.as_u64(),
                timeout: settings.decode_timeout,
                cpu_cores: context.config.limits.child_cpu_cores,
            };
            let executable = crate::pipeline::child_executable()?;
            // The output's room is reserved before anything is written, so decodes
            // running at once never fill the disk together.
            let expected = expected_samples_bytes(&executable, &input, &limits).await;
            let reservation = context.reserve_space(expected, &output).await?;
            let started = Instant::now();
            // The child reports every few seconds of audio; the log gets a line at most
            // every two seconds of wall time (a 4 h recording once wrote ~2,900).
            let mut last_event: Option<Instant> = None;
            let info = child::decode_in_child(&executable, &input, &output, &limits, |seconds| {
                if last_event.is_none_or(|at| at.elapsed() >= DECODE_EVENT_EVERY) {
                    last_event = Some(Instant::now());
                    context.progress(50, &format!("decoded {seconds:.0} s of audio"));
                }
            })
            .await
            .map_err(decode_failure)?;
            drop(reservation);
            let wall = started.elapsed().as_secs_f64();
            context.progress(
                100,
                &format!(
                    "decoded {:.1} s of audio in {wall:.2} s",
                    info.duration_seconds
                ),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert("samples_file".into(), json!("work/audio.f32"));
            outputs.insert("duration_seconds".into(), json!(info.duration_seconds));
            outputs.insert("elements".into(), json!(info.elements));
            outputs.insert("wall_seconds".into(), json!(wall));
            outputs.insert(
                "realtime_factor".into(),
                json!(wall / info.duration_seconds.max(1e-9)),
            );
            Ok(outputs)
        })
    }
}

/// The bytes the decode of `input` will write: the duration its header declares (read
/// by a probe child), or, when it declares none, eight bytes per input byte (a
/// compressed recording at 64 kbit/s), never more than `transcribe.max_duration` allows.
async fn expected_samples_bytes(
    executable: &std::path::Path,
    input: &std::path::Path,
    limits: &DecodeLimits,
) -> u64 {
    let ceiling = limits.max_output_bytes();
    match child::probe_in_child(executable, input, limits).await {
        Ok(Some(seconds)) => child::expected_output_bytes(seconds).min(ceiling),
        outcome => {
            if let Err(error) = outcome {
                // The decode itself says what is wrong with the input.
                tracing::debug!(%error, "The probe could not read the input.");
            }
            let size = std::fs::metadata(input).map_or(0, |metadata| metadata.len());
            size.saturating_mul(8).min(ceiling)
        }
    }
}

fn decode_failure(error: DecodeError) -> StageError {
    let hint = match &error {
        // The partial output is already removed (`decode_in_child`).
        DecodeError::NoSpace(_) => return StageError::OutOfSpace(error.to_string()),
        DecodeError::Setup(_) => return StageError::Transient(error.to_string()),
        DecodeError::Output(_) => return StageError::Transient(error.to_string()),
        DecodeError::TooLong(_) => "split the recording or raise transcribe.max_duration",
        DecodeError::DeclaredTooLong { .. } => {
            "check the file: its header claims more audio than transcribe.max_duration (raise it only if the recording really is that long)"
        }
        DecodeError::Silent => "check the recording's input level and microphone",
        DecodeError::NoAudio => "the file has no sound track; drop the audio itself",
        DecodeError::NotAllowed(_) => {
            "convert the file to a common format (wav, mp3, m4a, ogg, opus, flac)"
        }
        DecodeError::Empty | DecodeError::Unreadable(_) => {
            "check that the file is a complete audio or video recording in a common format"
        }
    };
    StageError::job(error.to_string(), hint)
}

/// whisper.cpp speech to text; writes `out/transcript.{txt,srt,vtt,json}`.
pub struct Transcribe;

impl Stage for Transcribe {
    fn name(&self) -> &'static str {
        "transcribe"
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            context.simulate_work().await?;
            let samples = child::samples_path(&context.job.work_dir());
            if !samples.exists() {
                return Err(StageError::job(
                    "the decoded audio is missing",
                    "run `chute retry ID --from decode`",
                ));
            }
            let settings = &context.config.transcribe;
            // Only the default model is made from the bundled faster-whisper model: a
            // configured model that is missing is an error, never silently replaced.
            let (model_path, fallback) = settings.model_file(&context.config.models);
            let vad = super::vad::choose(&context.config).await?;
            let signals = context.signals();
            let lease = context
                .native_lease(super::lease::ModelKind::Whisper)
                .await?;
            let model = context
                .natives
                .whisper(&lease, &model_path, fallback.as_deref(), settings.weights)
                .await
                .map_err(transcribe_failure)?;
            let transcribe_settings = TranscribeSettings {
                vad: vad.settings.clone(),
                ..settings.settings()
            };
            let events = context.job.events();
            let stage = context.stage;
            let last = Arc::new(std::sync::atomic::AtomicU8::new(0));
            let progress = Arc::new(move |fraction: f64| {
                let percent = (fraction * 100.0).clamp(0.0, 99.0) as u8;
                // One event per 10 %, so the log stays short.
                if percent / 10 > last.load(std::sync::atomic::Ordering::Relaxed) / 10 {
                    last.store(percent, std::sync::atomic::Ordering::Relaxed);
                    let _ = events.append(stage, percent, "transcribing");
                }
            });
            let stop = Arc::new(AtomicBool::new(false));
            let watcher = {
                let stop = stop.clone();
                let signals = signals.clone();
                tokio::spawn(async move {
                    let _ = signals.run(std::future::pending::<()>()).await;
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                })
            };
            // Each finished chunk is a checkpoint: a restart or a retry transcribes only
            // the chunks after the last one.
            let chunks = context.items();
            let loader = chunks.clone();
            let finished: BTreeMap<u64, ChunkTranscript> =
                tokio::task::spawn_blocking(move || loader.load::<ChunkTranscript>())
                    .await
                    .map_err(|error| {
                        StageError::Transient(format!("reading chunk checkpoints failed: {error}"))
                    })??
                    .into_iter()
                    .filter_map(|(item, chunk)| Some((item.parse().ok()?, chunk)))
                    .collect();
            if !finished.is_empty() {
                context.progress(
                    0,
                    &format!("resuming after {} finished chunks", finished.len()),
                );
            }
            let started = Instant::now();
            let worker_model = model.clone();
            let weights = model.weights();
            // The worker's log lines name the job and the stage, like the stage's own.
            let span = tracing::Span::current();
            let result = tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                // A chunk whose checkpoint meets a full disk is kept here, not
                // transcribed again: whisper goes on, and the chunk is saved later.
                let mut unsaved = UnsavedChunks::default();
                let mut record = |index: u64, chunk: &ChunkTranscript| {
                    tracing::info!(chunk = index, "Transcribed a chunk.");
                    unsaved.record(&chunks, index, chunk)
                };
                let transcript = worker_model.transcribe_resumable(
                    &samples,
                    &transcribe_settings,
                    progress,
                    stop,
                    &finished,
                    &mut record,
                );
                (transcript, unsaved, chunks)
            })
            .await;
            watcher.abort();
            let (transcription, mut unsaved, chunks) = match result {
                Ok((Ok(transcription), unsaved, chunks)) => (transcription, unsaved, chunks),
                Ok((Err(TranscribeError::Stopped), ..)) => {
                    context.check_stop()?;
                    return Err(StageError::Interrupted);
                }
                Ok((Err(error), ..)) => return Err(transcribe_failure(error)),
                Err(error) => {
                    return Err(StageError::Transient(format!(
                        "transcription task failed: {error}"
                    )));
                }
            };
            // The native work is over: other jobs may use the model while this one
            // waits for room to save what it made.
            drop(model);
            drop(lease);
            if !unsaved.is_empty() {
                context
                    .write_when_space("the transcribed chunks", || unsaved.save(&chunks))
                    .await?;
            }
            let wall = started.elapsed().as_secs_f64();
            let transcript = &transcription.transcript;
            log_decoder_work(&transcription, &vad);
            context
                .write_when_space("the transcript", || {
                    write_transcript(
                        &context.job.out_dir(),
                        transcript,
                        context.config.spool.fsync,
                    )
                })
                .await?;
            context.progress(
                100,
                &format!("{} segments in {wall:.2} s", transcript.segments.len()),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert("model".into(), json!(transcript.model));
            outputs.insert("weights".into(), json!(weights));
            outputs.insert("language".into(), json!(transcript.language));
            outputs.insert("segments".into(), json!(transcript.segments.len()));
            outputs.insert("threads".into(), json!(settings.threads));
            outputs.insert(
                "decoding".into(),
                json!(if settings.beam_size > 0 {
                    format!("beam {}", settings.beam_size)
                } else {
                    "greedy".to_owned()
                }),
            );
            outputs.insert(
                "device".into(),
                json!(if cfg!(feature = "cuda") {
                    "cuda"
                } else {
                    "cpu"
                }),
            );
            let realtime_factor = wall / transcript.duration_seconds.max(1e-9);
            tracing::info!(
                audio_seconds = transcript.duration_seconds,
                wall_seconds = wall,
                realtime_factor,
                weights = %weights,
                "Transcribed the recording."
            );
            outputs.insert("wall_seconds".into(), json!(wall));
            outputs.insert("realtime_factor".into(), json!(realtime_factor));
            outputs.insert("total_samples".into(), json!(transcription.total_samples));
            outputs.insert(
                "processed_samples".into(),
                json!(transcription.processed_samples),
            );
            outputs.insert("vad".into(), vad_report(&transcription, &vad));
            outputs.insert(
                "files".into(),
                json!([
                    "transcript.txt",
                    "transcript.srt",
                    "transcript.vtt",
                    "transcript.json"
                ]),
            );
            Ok(outputs)
        })
    }
}

/// result.json's `vad`: whether it ran, the model, the speech it found (or why it did
/// not run).
fn vad_report(transcription: &Transcription, vad: &super::vad::VadChoice) -> serde_json::Value {
    let model = vad
        .model
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    match (&vad.settings, transcription.speech_samples) {
        (Some(settings), Some(speech)) => json!({
            "ran": true,
            "model": model,
            "threshold": settings.threshold,
            "min_speech_ms": settings.min_speech_ms,
            "min_silence_ms": settings.min_silence_ms,
            "padding_ms": settings.padding_ms,
            "speech_seconds": speech as f64 / f64::from(SAMPLE_RATE),
        }),
        _ => json!({
            "ran": false,
            "model": model,
            "reason": vad.skipped,
        }),
    }
}

fn log_decoder_work(transcription: &Transcription, vad: &super::vad::VadChoice) {
    let speech_seconds = transcription
        .speech_samples
        .map(|speech| speech as f64 / f64::from(SAMPLE_RATE));
    tracing::info!(
        vad = transcription.speech_samples.is_some(),
        vad_model = %vad.model.display(),
        speech_seconds,
        processed_samples = transcription.processed_samples,
        total_samples = transcription.total_samples,
        "Transcribed."
    );
}

fn transcribe_failure(error: TranscribeError) -> StageError {
    match error {
        TranscribeError::Model { .. } => StageError::job(
            error.to_string(),
            "fetch it with `chute models pull NAME` (`chute models list` shows the names), or set transcribe.model to a whisper.cpp ggml file you have",
        ),
        TranscribeError::VadModel { .. } => {
            StageError::job(error.to_string(), super::vad::MODEL_REMEDY)
        }
        TranscribeError::Samples(_)
        | TranscribeError::Whisper(_)
        | TranscribeError::Checkpoint(_) => StageError::Transient(error.to_string()),
        TranscribeError::Stopped => StageError::Interrupted,
    }
}

/// Finished chunks whose checkpoints could not be written yet (the disk was full), in
/// the order they finished.
#[derive(Debug, Default)]
struct UnsavedChunks {
    chunks: Vec<(u64, ChunkTranscript)>,
}

impl UnsavedChunks {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Checkpoints `chunk` (and any kept before it); on a full disk it is kept in
    /// memory instead. Other errors stop the transcription.
    fn record(
        &mut self,
        checkpoints: &ItemCheckpoints,
        index: u64,
        chunk: &ChunkTranscript,
    ) -> std::io::Result<()> {
        self.chunks.push((index, chunk.clone()));
        match self.save(checkpoints) {
            Err(error) if crate::spool::space::is_out_of_space(&error) => {
                tracing::warn!(
                    chunk = index,
                    kept = self.chunks.len(),
                    "The disk is full; the chunk's checkpoint is kept in memory."
                );
                Ok(())
            }
            other => other,
        }
    }

    /// Writes every kept chunk, oldest first; stops at the first error (what is not
    /// written stays kept).
    fn save(&mut self, checkpoints: &ItemCheckpoints) -> std::io::Result<()> {
        while let Some((index, chunk)) = self.chunks.first() {
            checkpoints.record(&ItemCheckpoints::indexed(*index as usize), chunk)?;
            self.chunks.remove(0);
        }
        Ok(())
    }
}

/// Writes the four transcript files into `out/` atomically.
fn write_transcript(
    out: &std::path::Path,
    transcript: &Transcript,
    durable: bool,
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    fsutil::write_atomic(
        &out.join("transcript.txt"),
        transcript.to_txt().as_bytes(),
        durable,
    )?;
    fsutil::write_atomic(
        &out.join("transcript.srt"),
        transcript.to_srt().as_bytes(),
        durable,
    )?;
    fsutil::write_atomic(
        &out.join("transcript.vtt"),
        transcript.to_vtt().as_bytes(),
        durable,
    )?;
    fsutil::write_json_atomic(&out.join("transcript.json"), transcript, durable)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::spool::space::test_fs::{Unmount, fill, small_tmpfs};

    fn chunk(index: u64) -> ChunkTranscript {
        ChunkTranscript {
            model: "ggml-tiny.en.bin".into(),
            chunk_seconds: 30,
            language: "en".into(),
            source: "audio".into(),
            processed_samples: 0,
            speech_samples: 0,
            segments: vec![crate::media::transcript::Segment {
                start: index as f64 * 30.0,
                end: index as f64 * 30.0 + 2.0,
                text: format!("chunk {index} {}", "words ".repeat(200)),
                words: Vec::new(),
            }],
        }
    }

    /// Chunks finished while the disk is full stay in memory (whisper goes on) and are
    /// saved, in order, once space returns; nothing is transcribed twice.
    #[test]
    fn chunks_finished_on_a_full_disk_are_kept_and_saved_when_space_returns() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mount) = small_tmpfs(dir.path(), "2m") else {
            return;
        };
        let _unmount = Unmount(mount.clone());
        let checkpoints = ItemCheckpoints::new(&mount.join("job"), "transcribe", true);
        let mut unsaved = UnsavedChunks::default();
        unsaved.record(&checkpoints, 0, &chunk(0)).unwrap();
        assert!(unsaved.is_empty());
        let ballast = fill(&mount);
        unsaved.record(&checkpoints, 1, &chunk(1)).unwrap();
        unsaved.record(&checkpoints, 2, &chunk(2)).unwrap();
        assert_eq!(unsaved.chunks.len(), 2, "kept in memory, not an error");
        let error = unsaved.save(&checkpoints).unwrap_err();
        assert!(crate::spool::space::is_out_of_space(&error));
        std::fs::remove_file(ballast).unwrap();
        unsaved.save(&checkpoints).unwrap();
        assert!(unsaved.is_empty());
        let saved = checkpoints.load::<ChunkTranscript>().unwrap();
        assert_eq!(saved.len(), 3);
        assert_eq!(saved["00002"], chunk(2));
    }
}
