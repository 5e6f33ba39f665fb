//! The provider plugin host against real wasmtime components: the test plugins in
//! plugins/tests (built for wasm32-wasip2 by the harness) and local fakes of the
//! provider APIs speaking their real wire formats.
#![allow(clippy::unwrap_used)]

mod cli;
mod compile_cache;
mod compliance;
mod contained;
mod elevenlabs;
mod gemini;
mod generate;
mod google_tts;
mod harness;
mod keys;
mod ledger;
mod longrun;
mod openai;
mod seedance;
#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod spool_harness;
mod steering;
mod veo;
mod whisk;
