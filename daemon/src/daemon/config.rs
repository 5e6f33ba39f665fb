//! `[limits]`: how many jobs the daemon runs at once, how many may wait, how many inputs
//! one claim batch takes, and how long a shutdown waits for checkpoints.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[limits]`: how much runs at once and how much may wait.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Jobs running at once (across all routes).
    pub max_running_jobs: usize,
    /// Claimed jobs waiting to run; at this depth claiming stops and inputs wait in the inbox.
    pub max_queue_depth: usize,
    /// Inputs claimed per group commit (one filesystem sync per batch).
    pub claim_batch: usize,
    /// On SIGTERM/SIGINT, how long running stages get to reach a checkpoint.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The CPU time (RLIMIT_CPU) of a child that reads untrusted bytes (decoder, render,
    /// llama.cpp worker, espeak-ng) is its wall-clock limit (the worker's: its whole
    /// life's budget, [`crate::summary::worker::WORKER_WALL_BUDGET`]) times this many
    /// cores; 0: the cores of this machine.
    pub child_cpu_cores: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_running_jobs: 4,
            max_queue_depth: 1000,
            claim_batch: 128,
            shutdown_grace: Duration::from_secs(30),
            child_cpu_cores: 0,
        }
    }
}

impl LimitsConfig {
    /// Checks what serde cannot: a limit of 0 would stop all work.
    pub fn validate(&self) -> Result<(), LimitsConfigError> {
        for (key, value) in [
            ("max_running_jobs", self.max_running_jobs),
            ("max_queue_depth", self.max_queue_depth),
            ("claim_batch", self.claim_batch),
        ] {
            if value == 0 {
                return Err(LimitsConfigError::Zero(key));
            }
        }
        Ok(())
    }
}

/// A `[limits]` value that would stop all work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsConfigError {
    /// The named limit is 0.
    #[error("limits.{0} must be at least 1")]
    Zero(&'static str),
}

impl LimitsConfigError {
    /// The keys the error is about, the likeliest culprit first (for pointing at a line).
    pub fn keys(&self) -> Vec<String> {
        match self {
            LimitsConfigError::Zero(key) => vec![format!("limits.{key}")],
        }
    }
}
