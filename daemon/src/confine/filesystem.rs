//! The Landlock ruleset of a confined child (crate `landlock`, best effort): reading
//! and executing stay allowed everywhere (the rights are not handled), every kind of
//! write — creating, writing, truncating, removing, renaming, linking, device ioctls —
//! is denied but beneath the child's writable paths and on `/dev/null`. Where the
//! kernel's Landlock is new enough, TCP bind and connect are denied too (under the
//! seccomp filter that already refuses the sockets), and so are signals to processes
//! and connections to abstract UNIX sockets outside the child's own domain: a child
//! cannot signal the daemon.
//!
//! On a kernel without Landlock the ruleset is not enforced and [`restrict_writes`]
//! says so instead of failing: the child still runs, with the other layers.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, LandlockStatus, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, path_beneath_rules,
};

use super::{ConfineError, LandlockLevel};

/// The Landlock ABI whose rights chute asks for (6: Linux 6.12 — write rights with
/// truncation and device ioctls, TCP, scopes). Older kernels enforce what they know.
const TARGET: ABI = ABI::V6;

/// Paths every child may write: programs open `/dev/null` for writing (`> /dev/null`).
const ALWAYS_WRITABLE: &[&str] = &["/dev/null"];

/// Restricts writes of the calling thread (and what it starts and `exec`s) to
/// `writable`; returns how far the kernel enforced it and its Landlock ABI (0: none).
pub fn restrict_writes(writable: &[PathBuf]) -> Result<(LandlockLevel, u32), ConfineError> {
    let failed = |error: landlock::RulesetError| ConfineError::Landlock(error.to_string());
    let write = AccessFs::from_write(TARGET);
    let status = Ruleset::default()
        .handle_access(write)
        .map_err(failed)?
        .handle_access(AccessNet::from_all(TARGET))
        .map_err(failed)?
        .scope(Scope::from_all(TARGET))
        .map_err(failed)?
        .create()
        .map_err(failed)?
        .add_rules(path_beneath_rules(writable, write))
        .map_err(failed)?
        .add_rules(path_beneath_rules(ALWAYS_WRITABLE, write))
        .map_err(failed)?
        .restrict_self()
        .map_err(failed)?;
    let level = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockLevel::Full,
        RulesetStatus::PartiallyEnforced => LandlockLevel::Partial,
        RulesetStatus::NotEnforced => LandlockLevel::None,
    };
    let abi = match status.landlock {
        LandlockStatus::Available {
            effective_abi,
            kernel_abi,
        } => kernel_abi.unwrap_or(effective_abi as i32),
        _ => 0,
    };
    Ok((level, u32::try_from(abi).unwrap_or(0)))
}
