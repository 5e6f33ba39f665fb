//! Who owns a job: the daemon process identity recorded in job.json, whether that owner
//! is still alive, and the per-daemon record in `daemons/` that peers on other hosts use
//! as a heartbeat.
//!
//! A job is an orphan only when its lock is free **and** its owner is dead: on this host
//! that is exact (the owner's pid no longer runs with the same start time); for another
//! host it means the owner's daemon record has been silent longer than
//! `spool.owner_lease` (a free lock on a network filesystem does not prove death).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::fsutil;

/// This daemon's node name, once [`set_node`] or [`Owner::current`] fixed it.
static NODE: OnceLock<String> = OnceLock::new();

/// Names this process's node: `spool.node` when set, else [`default_node`]. Must run
/// before the first [`Owner::current`]; returns the name in force (a later call
/// cannot change it).
pub fn set_node(configured: &str) -> &'static str {
    let configured = configured.trim();
    NODE.get_or_init(|| {
        if configured.is_empty() {
            default_node()
        } else {
            configured.to_owned()
        }
    })
}

/// The node name when `spool.node` is not set: the host name, or the machine id where
/// the host name says nothing (`localhost`, empty), since clones of one image often
/// share such a name.
pub fn default_node() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_owned();
    if !host.is_empty() && !host.starts_with("localhost") {
        return host;
    }
    Some(machine_id())
        .filter(|id| !id.is_empty())
        .unwrap_or(host)
}

/// A daemon process, as recorded in job.json and daemons/.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Owner {
    /// The node (`spool.node`; by default the host name): unique per host sharing the
    /// spool. Serialized as `host` (the field's name before nodes were configurable).
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// The kernel boot id (`/proc/sys/kernel/random/boot_id`): pids repeat across boots.
    pub boot_id: String,
    /// Process start time in clock ticks since boot: pids repeat within a boot.
    pub process_start: u64,
    /// Incremented each time the job changes owner (a stale owner can tell it lost the job).
    pub epoch: u32,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Owner {
                    host: set_node("").to_owned(),
                    pid,
                    boot_id: boot_id(),
                    process_start: process_start(pid).unwrap_or(0),
                    epoch: 0,
                }
            })
            .clone()
    }

    /// Whether this record names the same process as `other` (epoch aside).
    pub fn same_process(&self, other: &Owner) -> bool {
        self.host == other.host
            && self.pid == other.pid
            && self.boot_id == other.boot_id
            && self.process_start == other.process_start
    }

    /// The file name of this daemon's record in `daemons/`.
    pub fn record_name(&self) -> String {
        format!("{}--{}.json", self.host.replace(['/', '\0'], "_"), self.pid)
    }

    /// The file name of the key health this daemon publishes beside its record.
    pub fn key_health_name(&self) -> String {
        key_health_name(&self.record_name())
    }
}

/// `<host>--<pid>.keys.json` beside the record `<host>--<pid>.json`.
fn key_health_name(record_name: &str) -> String {
    format!("{}.keys.json", record_name.trim_end_matches(".json"))
}

/// Every daemon record in `daemons_dir` that parses, with its file name (key-health
/// files and hidden temporaries are not records).
fn daemon_records(daemons_dir: &Path) -> Vec<(String, DaemonRecord)> {
    let Ok(entries) = std::fs::read_dir(daemons_dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            if !name.ends_with(".json") || name.ends_with(".keys.json") || name.starts_with('.') {
                return None;
            }
            let record = fsutil::read_json::<DaemonRecord>(&entry.path()).ok()??;
            Some((name, record))
        })
        .collect()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|text| text.trim().to_owned())
        .unwrap_or_default()
}

/// Start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.nth(19)?.parse().ok()
}

/// The fields of a `/proc/<pid>/stat` line after the command name (field 3 onwards).
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// Whether `pid` runs (or could run) code: a zombie (`Z`, exited but not reaped by its
/// parent) or a dying process (`X`) holds no locks and writes nothing any more.
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat_fields(&stat)?.next().map(str::to_owned))
        .is_some_and(|state| state != "Z" && state != "X")
}

/// The record a running daemon keeps in `daemons/`; its mtime is the heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct DaemonRecord {
    /// The daemon process.
    #[serde(flatten)]
    pub owner: Owner,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// chute version.
    pub version: String,
    /// `/etc/machine-id` of its machine: tells a daemon of an earlier boot of this
    /// machine from one of another machine that was given the same node name.
    pub machine_id: String,
    /// The operator's mode as the daemon applies it: `running`, `paused`, `draining`
    /// or `drained` (empty: a daemon from before operator controls).
    pub mode: String,
    /// When the control instruction the daemon applies was given (`controls/`), so
    /// `chute pause` can tell the daemon has seen its instruction.
    pub control_set_at: Option<DateTime<Utc>>,
    /// Jobs claimed and waiting for a slot.
    pub queued: usize,
    /// Jobs running.
    pub running: usize,
}

/// Answers "is the owner of this job still alive?".
#[derive(Debug, Clone)]
pub struct Liveness {
    daemons_dir: PathBuf,
    lease: Duration,
    me: Owner,
}

impl Liveness {
    /// Liveness checks against the records in `daemons_dir`.
    pub fn new(daemons_dir: &Path, lease: Duration) -> Self {
        Self {
            daemons_dir: daemons_dir.to_owned(),
            lease,
            me: Owner::current(),
        }
    }

    /// Whether `owner` may still be working on its jobs.
    pub fn is_alive(&self, owner: &Owner) -> bool {
        if owner.host == self.me.host && owner.boot_id == self.me.boot_id {
            return process_start(owner.pid) == Some(owner.process_start) && is_running(owner.pid);
        }
        beats_within(&self.daemons_dir.join(owner.record_name()), self.lease)
    }
}

/// Whether the daemon record at `record` was refreshed less than `lease` ago (its mtime
/// is the heartbeat); a missing record never is.
fn beats_within(record: &Path, lease: Duration) -> bool {
    std::fs::metadata(record)
        .and_then(|meta| meta.modified())
        .is_ok_and(|heartbeat| {
            SystemTime::now()
                .duration_since(heartbeat)
                .unwrap_or_default()
                < lease
        })
}

/// The daemons running on this spool, as their `daemons/` records say (this host:
/// the process is alive; other hosts: the record is younger than `lease`).
pub fn live_daemons(daemons_dir: &Path, lease: Duration) -> Vec<DaemonRecord> {
    let liveness = Liveness::new(daemons_dir, lease);
    daemon_records(daemons_dir)
        .into_iter()
        .map(|(_, record)| record)
        .filter(|record| liveness.is_alive(&record.owner))
        .collect()
}

/// Removes the `daemons/` records (and key-health files beside them) of daemons of
/// this host that are gone: killed without a clean exit, or from an earlier boot.
/// Records of other hosts are left to their owners (they may only be partitioned).
/// Returns how many daemons' records were removed.
pub fn prune_dead_records(daemons_dir: &Path) -> usize {
    let me = Owner::current();
    let liveness = Liveness::new(daemons_dir, Duration::ZERO);
    let mut removed = 0;
    for (name, record) in daemon_records(daemons_dir) {
        let owner = &record.owner;
        let ours = owner.host == me.host;
        let gone = owner.boot_id != me.boot_id || !liveness.is_alive(owner);
        if ours && gone && owner.record_name() == name {
            let _ = std::fs::remove_file(daemons_dir.join(owner.key_health_name()));
            if std::fs::remove_file(daemons_dir.join(&name)).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// This machine's `/etc/machine-id` (empty where there is none).
pub fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

/// A daemon of another machine that runs under this daemon's node name: its record
/// names this node but another machine id, and its heartbeat is younger than
/// `lease`. Two such daemons would each take the other's jobs for their own.
pub fn node_used_elsewhere(daemons_dir: &Path, lease: Duration) -> Option<DaemonRecord> {
    let me = Owner::current();
    let mine = machine_id();
    daemon_records(daemons_dir)
        .into_iter()
        .find(|(name, record)| {
            record.owner.host == me.host
                && !record.machine_id.is_empty()
                && record.machine_id != mine
                && beats_within(&daemons_dir.join(name), lease)
        })
        .map(|(_, record)| record)
}

/// Writes this daemon's record (creating or refreshing it; the mtime is the heartbeat).
pub fn write_daemon_record(daemons_dir: &Path, record: &DaemonRecord) -> std::io::Result<PathBuf> {
    let path = daemons_dir.join(record.owner.record_name());
    fsutil::write_json_atomic(&path, record, false)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn current_process_is_alive_and_a_dead_pid_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let liveness = Liveness::new(dir.path(), Duration::from_secs(60));
        let me = Owner::current();
        assert!(me.process_start > 0);
        assert!(liveness.is_alive(&me));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let dead = Owner {
            pid,
            process_start: 1,
            ..me.clone()
        };
        assert!(!liveness.is_alive(&dead));
    }

    #[test]
    fn records_of_dead_daemons_of_this_host_are_pruned_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::current();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        let dead = Owner {
            pid: dead_pid,
            process_start: 1,
            ..me.clone()
        };
        let earlier_boot = Owner {
            boot_id: "an-earlier-boot".into(),
            pid: 424_242,
            ..me.clone()
        };
        let remote = Owner {
            host: "elsewhere".into(),
            pid: 7,
            ..me.clone()
        };
        for owner in [&me, &dead, &earlier_boot, &remote] {
            write_daemon_record(
                dir.path(),
                &DaemonRecord {
                    owner: owner.clone(),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        let dead_keys = dir.path().join(dead.key_health_name());
        std::fs::write(&dead_keys, b"{}").unwrap();
        assert_eq!(prune_dead_records(dir.path()), 2);
        assert!(!dead_keys.exists());
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![me.record_name(), remote.record_name()];
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn a_fresh_record_of_this_node_from_another_machine_is_a_name_clash() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::current();
        let record = |machine_id: &str, pid: u32| DaemonRecord {
            owner: Owner { pid, ..me.clone() },
            machine_id: machine_id.into(),
            ..Default::default()
        };
        // This machine (an earlier boot or another daemon here) is no clash.
        write_daemon_record(dir.path(), &record(&machine_id(), 11)).unwrap();
        assert!(node_used_elsewhere(dir.path(), Duration::from_secs(60)).is_none());
        write_daemon_record(dir.path(), &record("another-machine", 12)).unwrap();
        let clash = node_used_elsewhere(dir.path(), Duration::from_secs(60)).unwrap();
        assert_eq!(
            (clash.owner.pid, clash.machine_id.as_str()),
            (12, "another-machine")
        );
        // Silent for longer than the lease: that machine is gone, the name is free.
        assert!(node_used_elsewhere(dir.path(), Duration::ZERO).is_none());
    }

    #[test]
    fn a_zombie_owner_is_dead() {
        let dir = tempfile::tempdir().unwrap();
        let liveness = Liveness::new(dir.path(), Duration::from_secs(60));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: the exited child stays a zombie until `wait`.
        let zombie = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat_fields(&stat).and_then(|mut f| f.next()) == Some("Z"))
        });
        assert!(zombie, "the child never became a zombie");
        let owner = Owner {
            pid,
            process_start: process_start(pid).unwrap(),
            ..Owner::current()
        };
        assert!(!liveness.is_alive(&owner));
        child.wait().unwrap();
    }

    #[test]
    fn remote_owner_is_alive_only_while_its_record_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let remote = Owner {
            host: "elsewhere".into(),
            pid: 7,
            boot_id: "b".into(),
            process_start: 1,
            epoch: 0,
        };
        let liveness = Liveness::new(dir.path(), Duration::from_secs(60));
        assert!(!liveness.is_alive(&remote));
        write_daemon_record(
            dir.path(),
            &DaemonRecord {
                owner: remote.clone(),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(liveness.is_alive(&remote));
        let short = Liveness::new(dir.path(), Duration::ZERO);
        assert!(!short.is_alive(&remote));
    }
}
