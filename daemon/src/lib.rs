//! chute: a daemon that turns files dropped into watched folders into finished media.
//!
//! # Layout
//! - [`config`]: the TOML file's root, loading and line-pointing errors (each section
//!   lives beside the code it configures).
//! - [`spool`]: the folder layout, atomic file operations, inbox entries, the inventory
//!   of ended folders, disk usage, owners.
//! - [`intake`]: watching inboxes, judging entries complete, adopting orphaned jobs.
//! - [`claim`]: moving complete entries into job folders (batched, group-committed).
//! - [`queue`]: claimed jobs waiting for a slot (backpressure).
//! - [`job`]: one job folder: job.json, state.json, per-item checkpoints, events, lock.
//! - [`runner`]: running one job's stages with checkpoints; [`pipeline`]: the stages.
//! - [`deliver`]: the transitions that end a job (outbox / failed) and their records.
//! - [`dedupe`]: duplicate inputs; [`stop`]: cancel and shutdown signals for waits.
//! - [`provider`]: the provider plugin host (wasmtime), keys, budgets, remote operations.
//! - [`media`]: decoding (GStreamer) and transcription (whisper.cpp); [`summary`]:
//!   summaries with llama.cpp (in the `chute-llm` worker); [`models`]: model files.
//! - [`brief`]: the sales-video brief contract (formats, fields, files, schema);
//!   [`video`]: what a brief becomes: the script (its schema, the offline writer) and
//!   the render of its scenes into the finished video (in a child process).
//! - [`confine`]: how every child that reads untrusted bytes is started: a cleared
//!   environment, its own process group, resource limits, Landlock and seccomp.
//! - [`catalog`] and [`control`]: what the CLI reads and changes in the spool.
//! - [`hooks`]: completion hooks (a command, a signed webhook) when a job ends;
//!   [`metrics`]: Prometheus metrics (endpoint, textfile); [`integrations`] starts both
//!   services at daemon start.
//! - [`housekeeping`]: the disk monitor (watermarks, emergency cleanup) and retention
//!   (the daemon's schedule and `chute gc`).
//! - [`daemon`]: `run(config, shutdown)`, the whole daemon; [`status`]: what holds
//!   claiming (pause, drain, a full disk) and what reports show, shared by the daemon,
//!   the intake, the housekeeper and the metrics; [`logging`]: log set-up.
//!
//! The data path: drop → intake → claim → queue → runner (stages) → deliver.

pub mod brief;
pub mod catalog;
pub mod claim;
pub mod config;
pub mod confine;
pub mod control;
pub mod daemon;
pub mod dedupe;
pub mod deliver;
pub mod digest;
pub mod hooks;
pub mod housekeeping;
pub mod intake;
pub mod integrations;
pub mod job;
pub mod logging;
pub mod media;
pub mod metrics;
pub mod models;
pub mod pipeline;
pub mod provider;
pub mod queue;
pub mod runner;
pub mod spool;
pub mod status;
pub mod stop;
pub mod summary;
pub mod video;

pub use daemon::run;

mod cli;

/// Entry point of the `chute` binary: parses the command line and runs it.
pub fn cli_main() -> std::process::ExitCode {
    cli::main()
}
