//! Several hosts sharing one spool on a real GlusterFS volume, built by the tests
//! themselves (`lab.sh`: network namespaces on 198.18.0.0/15 joined by veth pairs,
//! glusterd and a volume in one, a FUSE client per "host" in the others, each host's
//! daemon in its own UTS and PID namespaces). Skipped, with the reason, where the
//! machine lacks root, FUSE or network namespaces; CI has them.
//!
//! - `delivery.rs`: 500 drops through each host's mount, every one delivered exactly
//!   once and byte-identical; two hosts' `chute gc` at once remove each result once;
//!   a drop written through one host's mount is claimed by another host's daemon
//!   through its rescans alone.
//! - `takeover.rs`: a killed host's jobs are resumed by the others after the owner
//!   lease, from their checkpoints, with no remote operation submitted twice; a
//!   partitioned host's jobs are taken over and, once its link is back, the stale
//!   owner delivers and writes nothing.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../plugins/harness.rs"]
mod harness;
mod lab;
#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod spool_harness;

mod delivery;
mod takeover;

use std::path::{Path, PathBuf};

use lab::Lab;
use spool_harness::Spool;

/// How long a silent host keeps its jobs: above GlusterFS's lock release as the lab
/// sets it (`network.ping-timeout`), far below the 5 min default to keep tests short.
pub const OWNER_LEASE_SECS: u64 = 8;
/// The rescan interval of the lab's daemons: the only way they see other hosts' drops.
pub const RESCAN_SECS: u64 = 2;

/// Writes host `host`'s config (the lab's rhythms, `routes` and `extra` TOML) and
/// returns the host's view of the shared spool, under its mount.
pub fn host_spool(lab: &Lab, host: &str, routes: &str, extra: &str) -> Spool {
    let config = format!(
        "[spool]\nrescan_interval = \"{RESCAN_SECS}s\"\nheartbeat_interval = \"1s\"\nowner_lease = \"{OWNER_LEASE_SECS}s\"\n\n\
         [watch]\nsettle = \"1s\"\n\n\
         [limits]\nmax_running_jobs = 8\nmax_queue_depth = 2000\nshutdown_grace = \"5s\"\n\n\
         {routes}\n{extra}"
    );
    let local = lab.local(host);
    let config_path = local.join("chute.toml");
    std::fs::write(&config_path, config).unwrap();
    Spool::existing(lab.mount(host).join("spool"), config_path, local)
}

/// Starts host `host`'s daemon on `spool` (as returned by [`host_spool`]).
pub fn start(lab: &Lab, host: &str, spool: &Spool) -> lab::HostDaemon {
    lab.start_daemon(host, &spool.root, &spool.config_path)
}

/// Drops `content` as `name` into `inbox/<route>/` through `spool` (a host's view):
/// written under a hidden name, then renamed in, as producers should on a shared spool.
pub fn drop_through(spool: &Spool, route: &str, name: &str, content: &[u8]) -> PathBuf {
    spool.drop_file(route, name, content)
}

/// The logs of every daemon given, for failure messages.
pub fn logs(daemons: &[&lab::HostDaemon]) -> String {
    daemons
        .iter()
        .map(|daemon| format!("---- {} ----\n{}", daemon.host, tail(&daemon.log(), 80)))
        .collect()
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `route`'s `[[routes]]` table for a passthrough route.
pub fn passthrough(route: &str) -> String {
    format!("[[routes]]\nname = \"{route}\"\npipeline = \"passthrough\"\n")
}

/// The path of a file relative to a folder, for messages.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}
