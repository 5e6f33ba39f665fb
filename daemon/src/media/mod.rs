//! Native media work: decoding untrusted audio with GStreamer in a child process,
//! speech to text with whisper.cpp (after voice activity detection), and the transcript formats.
//!
//! The transcribe pipeline (issue 4) builds on this: `decode` turns any common format
//! into 16 kHz mono f32 samples in the job's work folder.

pub mod child;
pub mod config;
pub mod decode;
pub mod language;
pub mod seam;
pub mod subtitles;
pub mod transcript;
pub mod vad;
pub mod whisper;
mod whisper_abort;
pub mod words;
