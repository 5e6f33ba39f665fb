//! The provider plugin host: remote AI providers as sandboxed WebAssembly
//! components (`wit/provider.wit`, `chute:provider@0.1.0`).
//!
//! - `engine.rs` — the shared wasmtime engine, its epoch clock, the compile cache.
//! - `plugin.rs` — one plugin: bindings, the per-call sandbox (memory cap, deadline,
//!   empty WASI), the host imports (`send`, `log`, `config`).
//! - `http.rs` — the plugin's network: allowlist, refused headers, key injection,
//!   size/time caps, streamed downloads.
//! - `allow.rs` — which hosts and addresses a plugin may reach.
//! - `keys.rs` — key pools: secrets by reference, per-key rate limits and health.
//! - `registry.rs` — discovery of `NAME.wasm`, version check, provider table.
//! - `cache.rs` — provider results by (plugin, version, request), size-bounded.
//! - `budget.rs` — per-job and per-day cost caps from the config's price table.
//! - `call.rs` — a call with cache, budget, retries over keys; fallback chains.

pub mod allow;
pub mod budget;
pub mod cache;
pub mod call;
pub mod config;
pub mod engine;
pub mod http;
pub mod keys;
pub mod plugin;
pub mod registry;

pub use call::{CallRecord, ServeError, Served};
pub use plugin::{Answer, Operation};
pub use registry::{Provider, Providers};

/// The key-health file a daemon writes next to its record in `daemons/`
/// (`<host>--<pid>.keys.json`), read by `chute doctor`.
pub fn key_health_file(record_name: &str) -> String {
    format!("{}.keys.json", record_name.trim_end_matches(".json"))
}
