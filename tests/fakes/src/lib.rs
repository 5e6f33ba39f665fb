//! Local fakes of the remote provider APIs chute's plugins call. Each speaks its
//! provider's real wire format (paths, auth, request checks, answers with real media,
//! error bodies and retry hints), can be told to fail in the provider's own ways
//! ([`faults`]), and records every request ([`record`]) so tests can assert what was
//! sent, with which key, how often.
//!
//! Tests start one fake per provider on a loopback port and point the provider's
//! `base_url` at it; `chute-fakes --port N` serves them all at once for trying chute
//! by hand.

// A refusal is a whole HTTP response carried as the error; fakes are not hot paths.
#![allow(clippy::result_large_err)]

pub mod elevenlabs;
pub mod faults;
pub mod garbage;
pub mod gemini;
pub mod google;
pub mod google_tts;
pub mod media;
pub mod openai;
pub mod raw;
pub mod record;
pub mod schema_answer;
pub mod seedance;
pub mod server;
pub mod whisk;

/// The base64 codec the fakes use (tests decode request bodies with it).
pub use base64;
pub use elevenlabs::FakeElevenLabs;
pub use faults::{Call, Fault, Faults};
pub use garbage::{FakeGarbage, Garbage};
pub use gemini::{FakeGemini, VideoOutcome};
pub use google_tts::FakeGoogleTts;
pub use openai::{FakeOpenAi, Flavor};
pub use record::{Recorder, Seen, fingerprint};
pub use seedance::{FakeSeedance, TaskOutcome};
pub use server::{Exchange, Fake, KeyMode, Keys};
pub use whisk::{FakeWhisk, Retired};
