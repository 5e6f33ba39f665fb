//! The seccomp filter of a confined child (seccompiler, pure Rust): everything is
//! allowed except
//! - `socket()` for any family but `AF_UNIX`, which fails with `EPERM`: a decoder,
//!   renderer, language model or speech synthesiser has no business on the network,
//!   while glib, glibc and GStreamer do use local sockets (socketpair, nscd);
//! - calls none of these programs make and an attacker would want: io_uring (it could
//!   open a socket without calling `socket()`), ptrace and cross-process memory access,
//!   bpf, perf events, userfaultfd, the kernel keyring, mounts, modules, kexec, swap and
//!   reboot — each fails with `EPERM`.
//!
//! Namespaces and `clone3` are left alone: denying `clone3` would need `ENOSYS` for
//! glibc to fall back to `clone`, and one filter has one answer for every match.
//! System calls of another architecture (a 32-bit `int 0x80` from a 64-bit process)
//! kill the process; x86-64's x32 numbers of the calls above are denied as well.

use std::collections::BTreeMap;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::ConfineError;

/// Calls denied whatever their arguments.
const DENIED: &[i64] = &[
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_keyctl,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
];

/// The bit x86-64's x32 ABI sets on its system call numbers (same audit architecture,
/// so the filter's architecture check does not catch them).
#[cfg(target_arch = "x86_64")]
const X32_BIT: i64 = 0x4000_0000;

/// The filter's rules: system call number → conditions (none: always).
fn rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let not_unix = SeccompRule::new(vec![SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Ne,
        libc::AF_UNIX as u64,
    )?])?;
    rules.insert(libc::SYS_socket, vec![not_unix]);
    for &call in DENIED {
        rules.insert(call, Vec::new());
    }
    #[cfg(target_arch = "x86_64")]
    for &call in DENIED.iter().chain([&libc::SYS_socket]) {
        rules.insert(call | X32_BIT, Vec::new());
    }
    Ok(rules)
}

/// The compiled filter for this machine's architecture.
fn program() -> Result<BpfProgram, ConfineError> {
    let failed = |error: BackendError| ConfineError::Seccomp(error.to_string());
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(failed)?;
    let filter = SeccompFilter::new(
        rules().map_err(failed)?,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(failed)?;
    filter.try_into().map_err(failed)
}

/// Installs the filter on the calling thread (inherited by what it starts and
/// `exec`s). `Ok(false)` when the kernel has no seccomp filters; needs
/// `no_new_privs` (set before).
pub fn install() -> Result<bool, ConfineError> {
    let program = program()?;
    match seccompiler::apply_filter(&program) {
        Ok(()) => Ok(true),
        Err(seccompiler::Error::Seccomp(error))
            if matches!(
                error.raw_os_error(),
                Some(libc::EINVAL) | Some(libc::ENOSYS)
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(ConfineError::Seccomp(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_compiles_for_this_machine() {
        let program = program().expect("a filter for this architecture");
        assert!(
            program.len() > DENIED.len(),
            "{} instructions",
            program.len()
        );
    }
}
