//! The child's side, run by `chute confine` on itself before it `exec`s the program:
//! resource limits, `no_new_privs`, Landlock, seccomp — in that order, each before the
//! program exists.

use std::path::PathBuf;

use rustix::process::{Resource, Rlimit};

use super::{Achieved, filesystem, seccomp};

/// The limits `chute confine` sets on itself (and so on the program it starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU seconds (RLIMIT_CPU soft limit: SIGXCPU; the hard limit is a little above).
    pub cpu_seconds: u64,
    /// Largest file it may write (RLIMIT_FSIZE: a larger write gets SIGXFSZ).
    pub file_size: u64,
    /// Open files (RLIMIT_NOFILE).
    pub open_files: u64,
    /// Address space (RLIMIT_AS), when limited.
    pub memory: Option<u64>,
    /// Folders (or files) it may write beneath; nothing else is writable.
    pub writable: Vec<PathBuf>,
}

/// Why `chute confine` refused to start the program.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// A resource limit could not be set.
    #[error("cannot set {resource}: {error}")]
    Limit {
        /// Which limit.
        resource: &'static str,
        /// Why.
        error: rustix::io::Errno,
    },
    /// `PR_SET_NO_NEW_PRIVS` failed.
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(rustix::io::Errno),
    /// The Landlock ruleset could not be built or enforced (its absence from the
    /// kernel is not an error).
    #[error("cannot restrict writes with Landlock: {0}")]
    Landlock(String),
    /// The seccomp filter could not be built or installed (its absence from the
    /// kernel is not an error).
    #[error("cannot install the seccomp filter: {0}")]
    Seccomp(String),
}

/// Confines the calling process (and every process it starts or becomes) as
/// `limits` say; returns what the kernel granted. Call it while the process is one
/// thread: Landlock and seccomp apply to the calling thread and what it `exec`s.
pub fn enforce(limits: &Limits) -> Result<Achieved, ConfineError> {
    set_limit(Resource::Core, "RLIMIT_CORE", 0, 0)?;
    // SIGXCPU at the soft limit (the parent can say why it died), SIGKILL at the hard.
    set_limit(
        Resource::Cpu,
        "RLIMIT_CPU",
        limits.cpu_seconds,
        limits.cpu_seconds.saturating_add(5),
    )?;
    set_limit(
        Resource::Fsize,
        "RLIMIT_FSIZE",
        limits.file_size,
        limits.file_size,
    )?;
    set_limit(
        Resource::Nofile,
        "RLIMIT_NOFILE",
        limits.open_files,
        limits.open_files,
    )?;
    if let Some(memory) = limits.memory {
        set_limit(Resource::As, "RLIMIT_AS", memory, memory)?;
    }
    rustix::thread::set_no_new_privs(true).map_err(ConfineError::NoNewPrivs)?;
    let (landlock, landlock_abi) = filesystem::restrict_writes(&limits.writable)?;
    let seccomp = seccomp::install()?;
    Ok(Achieved {
        landlock,
        landlock_abi,
        seccomp,
    })
}

/// Lowers a limit to `soft`/`hard`, never above the hard limit already in force (an
/// unprivileged process cannot raise it, and a lower one is stricter anyway).
fn set_limit(
    resource: Resource,
    name: &'static str,
    soft: u64,
    hard: u64,
) -> Result<(), ConfineError> {
    let current = rustix::process::getrlimit(resource);
    let ceiling = current.maximum.unwrap_or(u64::MAX);
    let hard = hard.min(ceiling);
    let limit = Rlimit {
        current: Some(soft.min(hard)),
        maximum: Some(hard),
    };
    rustix::process::setrlimit(resource, limit).map_err(|error| ConfineError::Limit {
        resource: name,
        error,
    })
}
