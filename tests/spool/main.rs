//! End-to-end tests: each test starts the daemon on a temporary spool (in-process
//! through `chute::daemon::run_notifying`, or the real `chute` binary where a test
//! needs a process: kill -9, several daemons, signals, logs), drops inputs and checks
//! what lands in outbox/, failed/ and jobs/ (see docs/test-contract.md). No mocks;
//! every wait polls a condition with a deadline.
#![allow(clippy::unwrap_used)]

mod cli;
mod cli_output;
mod concurrency;
mod config_check;
mod controls;
mod crash;
mod dedupe;
mod drops;
mod fencing;
mod hardening;
mod harness;
mod hooks;
mod in_process;
mod inputs;
mod logs;
mod metrics;
mod rejects;
mod systemd;
mod unrunnable;
mod watch;
