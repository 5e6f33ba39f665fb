//! The provider plugin host against real wasmtime components: the test plugins in
//! plugins/tests (built for wasm32-wasip2 by the harness) and a local fake of the
//! Gemini API speaking its real wire format.
#![allow(clippy::unwrap_used)]

mod cli;
mod contained;
mod gemini;
mod harness;
mod keys;
mod ledger;
mod longrun;
#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod spool_harness;
mod veo;
