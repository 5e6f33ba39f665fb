//! The daemon process's own hardening, done first thing by `chute run`: keys live in
//! its memory, so it never dumps core (RLIMIT_CORE 0) and is not dumpable
//! (PR_SET_DUMPABLE 0: no core, no ptrace attach by other processes of its user, its
//! /proc files owned by root); and what it creates is not world-readable (a umask of
//! at least 027, combined with the one it was started with, never loosened).
//!
//! Being undumpable makes `/proc/self/*` root-owned, which chute still reads: a
//! process may always read its own `/proc/self/exe`, `/proc/self/fd` and
//! `/proc/self/status` (the latter is world-readable anyway).

use rustix::fs::Mode;
use rustix::process::{Resource, Rlimit};

/// The bits the daemon's umask always has: nothing for others (files 0640, folders
/// 0750 by default). systemd units set the same with `UMask=0027`.
pub const UMASK: u32 = 0o027;

/// What [`harden_process`] changed, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hardened {
    /// The umask now in force.
    pub umask: u32,
}

/// Why the daemon could not harden itself.
#[derive(Debug, thiserror::Error)]
pub enum HardenError {
    /// The core dump limit could not be set to 0.
    #[error("cannot turn core dumps off (RLIMIT_CORE): {0}")]
    CoreLimit(rustix::io::Errno),
    /// The process could not be made undumpable.
    #[error("cannot make the daemon undumpable (PR_SET_DUMPABLE): {0}")]
    Dumpable(rustix::io::Errno),
}

/// Turns core dumps off, makes the process undumpable and adds [`UMASK`] to the
/// umask. Call it before any thread starts (the umask is the process's).
pub fn harden_process() -> Result<Hardened, HardenError> {
    rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(HardenError::CoreLimit)?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(HardenError::Dumpable)?;
    let before = rustix::process::umask(Mode::from_raw_mode(UMASK));
    let umask = before.as_raw_mode() | UMASK;
    rustix::process::umask(Mode::from_raw_mode(umask));
    Ok(Hardened { umask })
}
