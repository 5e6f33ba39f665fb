//! End-to-end tests: each test starts the real `chute` binary on a temporary spool,
//! drops inputs and checks what lands in outbox/, failed/ and jobs/ (see
//! docs/test-contract.md). No mocks; every wait polls a condition with a deadline.
#![allow(clippy::unwrap_used)]

mod cli;
mod concurrency;
mod crash;
mod dedupe;
mod drops;
mod harness;
mod rejects;
