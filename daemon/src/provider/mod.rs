//! The provider plugin host: remote AI providers as sandboxed WebAssembly
//! components (`wit/provider.wit`, `chute:provider@0.2.0`).
//!
//! Modules depend downward only, in this order (each uses only those listed before it):
//! - `config.rs` — `[plugins]`, `[providers.NAME]` and `[budget]`, with their checks.
//! - `bindings.rs` — the WIT contract as Rust types (wasmtime bindgen).
//! - `exchange.rs` — the record of one HTTP exchange and the retry hints read from it.
//! - `media_type.rs` — the one table of media types: MIME ↔ extension ↔ magic bytes.
//! - `private_fs.rs` — files only this user can have written: `O_NOFOLLOW` opens,
//!   owner and mode judged by `fstat` of the opened descriptor, atomic writes.
//! - `compile_cache.rs` — compiled components per host and user, outside the spool,
//!   used only when the folder is private and the HMAC under this user's key matches.
//! - `engine.rs` — the shared wasmtime engine, its epoch clock, loading a component.
//! - `secret.rs` — key values and references (`env:`, `file:`, `credential:`),
//!   fingerprints.
//! - `allow.rs` — which hosts and addresses a plugin may reach.
//! - `keys.rs` — key pools: per-key rate limits and health, cooldowns on tokio time.
//! - `http.rs` — the plugin's network: allowlist, refused headers, key injection,
//!   size/time caps, streamed downloads.
//! - `plugin.rs` — one plugin: the per-call sandbox (memory cap, deadline, empty
//!   WASI), the host imports (`send`, `log`, `config`), answer checks.
//! - `cache.rs` — provider results by (plugin, version, request), size-bounded.
//! - `budget.rs` — per-job and per-day cost caps; owns (and prunes) the ledger files.
//! - `registry.rs` — discovery of `NAME.wasm`, version check, provider table.
//! - `call.rs` — a call with cache, budget, retries over keys; fallback chains.
//! - `handle.rs` — the typed, versioned handle of a remote operation and its store.
//! - `poll.rs` — when the next status check is due (hint, backoff, deadline).
//! - `operation.rs` (+ `operation_error.rs`) — the remote operation driver stages use:
//!   submit or resume, poll, materialize a checked file.
//!
//! Stages use [`Providers::call_chain`] for one-shot calls and
//! [`Providers::operations`] for everything long-running or file-producing; the
//! status-check semaphore, the result cache and per-key calls stay inside this module.

pub mod allow;
pub mod auth;
pub mod bindings;
pub mod budget;
pub mod cache;
pub mod call;
pub mod compile_cache;
pub mod config;
pub mod declared;
pub mod engine;
pub mod exchange;
pub mod handle;
pub mod http;
pub mod keys;
pub mod manifest;
pub mod media_type;
pub mod operation;
mod operation_error;
pub mod pcm;
pub mod plugin;
mod poll;
pub mod private_fs;
pub mod registry;
pub mod scrub;
pub mod secret;
pub mod untrusted;

pub use call::{CallError, CallRecord, ServeError, Served};
pub use handle::{HandleStore, HandleStoreError, RemoteHandle};
pub use media_type::MediaKind;
pub use operation::{
    Consequence, Finished, MaterializedFile, OperationError, OperationLimits, RemoteOperation,
    RemoteOperations, Submitted,
};
pub use plugin::{Answer, CallOperation, Operation};
pub use registry::{Provider, Providers};
