//! Confining the child processes that touch untrusted bytes: the decoder (`chute
//! decode`), the render (`chute render`), the llama.cpp worker (`chute-llm`) and
//! espeak-ng.
//!
//! # Shape: a trampoline
//!
//! Every such child is started as `chute confine [LIMITS] -- PROGRAM ARGS…` (the
//! running chute binary, see [`own_executable`]): the trampoline confines itself and
//! then `exec`s the program, which inherits everything it set up (resource limits,
//! `no_new_privs`, the Landlock domain and the seccomp filter all survive `execve`).
//! One way for all four children, two of which (espeak-ng, chute-llm) are programs
//! the chute binary does not contain. The confinement is in force before the program
//! runs its first instruction, so before it reads an untrusted byte; the parent does
//! nothing between `fork` and `exec` but what `tokio::process::Command` does itself
//! (no `pre_exec` hook, so nothing allocates after the fork).
//!
//! What the trampoline sets up (`apply.rs`):
//! - resource limits: no core files, CPU seconds (derived from the child's wall-clock
//!   limit, see [`cpu_seconds`]), the largest file it may write, 256 open files, and
//!   the address space where the child has a memory limit;
//! - `PR_SET_NO_NEW_PRIVS`, so nothing it starts can gain privileges;
//! - a Landlock ruleset (best effort: on kernels without Landlock it degrades and the
//!   degradation is reported): reading and executing stay allowed everywhere, writing
//!   only beneath the folders the child must write in (`filesystem.rs`);
//! - a seccomp filter: `socket()` for anything but `AF_UNIX` fails with `EPERM`, and so
//!   do a few calls none of these programs make (io_uring, ptrace, bpf, …;
//!   `seccomp.rs`).
//!
//! What the parent sets up (`command.rs`): an environment cleared and rebuilt from an
//! allow-list (no key, no credentials folder, no HOME), its own process group that is
//! killed as a whole on timeout, cancel or drop, stdin closed unless used, and stderr
//! read in lines of bounded length (`lines.rs`).
//!
//! [`probe`] runs the trampoline on nothing and returns what the kernel granted; the
//! daemon logs it once and `chute doctor` shows it.

mod apply;
mod command;
mod filesystem;
pub mod gstreamer;
pub mod lines;
mod seccomp;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use apply::{ConfineError, Limits, enforce};
pub use command::{ConfinedChild, Policy, SAFE_PATH, describe_status};

/// Open files a confined child may hold (RLIMIT_NOFILE).
pub const OPEN_FILES: u64 = 256;

/// The least CPU time a child gets, whatever its wall-clock limit: starting the
/// trampoline and the program takes some.
pub const MIN_CPU_SECONDS: u64 = 10;

/// The exit code of `chute confine` when it could not confine itself.
pub const EXIT_NOT_CONFINED: u8 = 125;

/// The exit code of `chute confine` when the program exists but cannot be run.
pub const EXIT_CANNOT_RUN: u8 = 126;

/// The exit code of `chute confine` when the program to run does not exist.
pub const EXIT_NOT_FOUND: u8 = 127;

/// The running chute binary, for starting children. `/proc/self/exe` names the file
/// this process was started from even after an upgrade replaced or removed it on disk,
/// so children keep working until the daemon restarts into the new version (a path
/// from `current_exe()` would then name a deleted file).
pub fn own_executable() -> std::io::Result<PathBuf> {
    let proc_self = Path::new("/proc/self/exe");
    if proc_self.exists() {
        Ok(proc_self.to_path_buf())
    } else {
        std::env::current_exe()
    }
}

/// The CPU seconds (RLIMIT_CPU) of a child whose wall-clock limit is `wall`: what it
/// could use running on `cores` cores for all of that time (0: every core of this
/// machine), and at least [`MIN_CPU_SECONDS`]. The kernel then stops a child that
/// spins even when its parent cannot (the parent's own timer stops it first otherwise).
pub fn cpu_seconds(wall: Duration, cores: u32) -> u64 {
    let cores = if cores == 0 { machine_cores() } else { cores };
    let seconds = wall.as_secs_f64().ceil() * f64::from(cores);
    (seconds as u64).max(MIN_CPU_SECONDS)
}

/// The cores of this machine (1 when unknown).
pub fn machine_cores() -> u32 {
    std::thread::available_parallelism()
        .map(|cores| u32::try_from(cores.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// How far Landlock confined a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LandlockLevel {
    /// Every restriction asked for is enforced.
    Full,
    /// The kernel's Landlock is older than the rules: some are enforced.
    Partial,
    /// The kernel has no Landlock (or it is disabled): writes are not restricted.
    None,
}

/// What confinement the kernel granted a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Achieved {
    /// The Landlock ruleset's enforcement.
    pub landlock: LandlockLevel,
    /// The kernel's Landlock ABI version (0 without Landlock).
    pub landlock_abi: u32,
    /// Whether the seccomp filter is installed.
    pub seccomp: bool,
}

impl Achieved {
    /// Whether every layer is in force.
    pub fn is_complete(&self) -> bool {
        self.landlock == LandlockLevel::Full && self.seccomp
    }

    /// What is missing and how to get it, when something is.
    pub fn remedy(&self) -> Option<&'static str> {
        match (self.landlock, self.seccomp) {
            (LandlockLevel::Full, true) => None,
            (LandlockLevel::None, _) => Some(
                "the kernel lacks Landlock (Linux 5.13+ with landlock in the lsm= boot parameter): children may write wherever chute's user can",
            ),
            (LandlockLevel::Partial, _) => Some(
                "the kernel's Landlock is older than chute's rules: some writes (renames across folders, truncation) are not restricted; a newer kernel enforces them",
            ),
            (LandlockLevel::Full, false) => Some(
                "the kernel lacks seccomp filters (CONFIG_SECCOMP_FILTER): children may open network sockets",
            ),
        }
    }
}

impl std::fmt::Display for Achieved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let landlock = match self.landlock {
            LandlockLevel::Full => format!("landlock v{}", self.landlock_abi),
            LandlockLevel::Partial => format!("landlock v{} (partial)", self.landlock_abi),
            LandlockLevel::None => "no landlock".to_owned(),
        };
        let seccomp = if self.seccomp {
            "seccomp"
        } else {
            "no seccomp"
        };
        write!(f, "{landlock}, {seccomp}")
    }
}

/// Why a probe gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The trampoline could not be started.
    #[error("cannot start `{program} confine --probe`: {error}")]
    Spawn {
        /// The chute binary.
        program: String,
        /// Why.
        error: std::io::Error,
    },
    /// It ran but did not answer with what it achieved.
    #[error("`chute confine --probe` failed: {0}")]
    Failed(String),
}

/// Starts `executable confine --probe` under the same confinement children get and
/// returns what the kernel granted it.
pub async fn probe(executable: &Path) -> Result<Achieved, ProbeError> {
    let policy = Policy::new(Duration::from_secs(30), 0, 0);
    let mut command = policy.trampoline(executable);
    command
        .arg("--probe")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let spawn_error = |error| ProbeError::Spawn {
        program: executable.display().to_string(),
        error,
    };
    let mut child = ConfinedChild::spawn(&mut command).map_err(spawn_error)?;
    let output = tokio::time::timeout(Duration::from_secs(30), child.output(64 << 10))
        .await
        .map_err(|_| ProbeError::Failed("it did not answer within 30 s".into()))?
        .map_err(|error| ProbeError::Failed(error.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(ProbeError::Failed(format!(
            "{}: {}",
            describe_status(output.status),
            stderr.trim().chars().take(500).collect::<String>()
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|error| ProbeError::Failed(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_follows_the_wall_clock_limit_and_the_cores() {
        assert_eq!(cpu_seconds(Duration::from_secs(600), 2), 1200);
        assert_eq!(cpu_seconds(Duration::from_millis(1500), 4), MIN_CPU_SECONDS);
        assert_eq!(cpu_seconds(Duration::from_secs(100), 1), 100);
        assert_eq!(
            cpu_seconds(Duration::from_secs(100), 0),
            100 * u64::from(machine_cores())
        );
    }

    #[test]
    fn what_was_achieved_reads_as_a_short_phrase() {
        let full = Achieved {
            landlock: LandlockLevel::Full,
            landlock_abi: 6,
            seccomp: true,
        };
        assert_eq!(full.to_string(), "landlock v6, seccomp");
        assert!(full.is_complete() && full.remedy().is_none());
        let none = Achieved {
            landlock: LandlockLevel::None,
            landlock_abi: 0,
            seccomp: true,
        };
        assert_eq!(none.to_string(), "no landlock, seccomp");
        assert!(
            none.remedy()
                .is_some_and(|remedy| remedy.contains("Landlock"))
        );
    }
}
