//! The filesystem under the spool: its type and mount options (from
//! `/proc/self/mountinfo`), and whether several hosts can share it safely.
//!
//! A shared spool relies on locks that hold across hosts, on atomic renames and on a
//! lock being released some time after its holder dies (see ARCHITECTURE.md, "one
//! spool, several hosts"). Mount options that make locks host-local are refused at
//! start unless `spool.shared = false` says only one host uses the spool; settings
//! shorter than the filesystem needs are warned about.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::SpoolConfig;

/// The mount a path lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem type (`ext4`, `nfs4`, `fuse.glusterfs`, …).
    pub fstype: String,
    /// What is mounted (a device, `server:/export`, a volume name).
    pub source: String,
    /// Per-mount and per-superblock options together.
    pub options: Vec<String>,
}

/// What a network filesystem needs from chute's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkNeeds {
    /// The filesystem's name, for people.
    pub name: &'static str,
    /// How long a dead client's lock outlives it: `spool.owner_lease` must be longer.
    pub lock_release: Duration,
    /// How long other hosts' changes may stay invisible (attribute and directory
    /// caches): rescans and `watch.settle` shorter than this see stale listings.
    pub cache: Duration,
}

/// The verdict on a spool's filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountVerdict {
    /// `None` on a local filesystem.
    pub network: Option<NetworkNeeds>,
    /// Why the daemon must not start on it (with the remedy).
    pub refusal: Option<String>,
    /// Settings to change.
    pub warnings: Vec<String>,
}

/// The mount holding `path` (which should be canonical): the last-mounted entry with
/// the longest mount point above it.
pub fn mount_of(path: &Path) -> std::io::Result<SpoolMount> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")?;
    parse_mountinfo(&table)
        .into_iter()
        .filter(|mount| path.starts_with(&mount.mount_point))
        .fold(None::<SpoolMount>, |best, mount| match best {
            Some(best)
                if best.mount_point.as_os_str().len() > mount.mount_point.as_os_str().len() =>
            {
                Some(best)
            }
            _ => Some(mount),
        })
        .ok_or_else(|| std::io::Error::other(format!("no mount holds {}", path.display())))
}

/// Every mount in a `/proc/self/mountinfo` text.
pub fn parse_mountinfo(table: &str) -> Vec<SpoolMount> {
    table
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let before: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let fstype = after.next()?.to_owned();
            let source = unescape(after.next()?);
            let super_options = after.next().unwrap_or("");
            let options = before
                .get(5)?
                .split(',')
                .chain(super_options.split(','))
                .filter(|option| !option.is_empty())
                .map(str::to_owned)
                .collect();
            Some(SpoolMount {
                mount_point: PathBuf::from(unescape(before.get(4)?)),
                fstype,
                source,
                options,
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest
            .get(at + 1..at + 4)
            .and_then(|digits| u8::from_str_radix(digits, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl SpoolMount {
    /// The value of option `key=value`, if present.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find_map(|option| option.strip_prefix(key)?.strip_prefix('='))
    }

    /// Whether the bare option `flag` is present.
    pub fn has(&self, flag: &str) -> bool {
        self.options.iter().any(|option| option == flag)
    }

    /// One line for people: `fuse.glusterfs 198.18.0.1:/spool on /mnt/spool`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} on {}",
            self.fstype,
            self.source,
            self.mount_point.display()
        )
    }

    /// What this filesystem needs, when it is a network filesystem.
    pub fn network_needs(&self) -> Option<NetworkNeeds> {
        let seconds = Duration::from_secs;
        let needs = |name, lock_release, cache| {
            Some(NetworkNeeds {
                name,
                lock_release,
                cache,
            })
        };
        match self.fstype.as_str() {
            "nfs" | "nfs4" => needs("NFS", seconds(180), self.nfs_attribute_cache()),
            "ceph" | "fuse.ceph-fuse" | "fuse.ceph" => needs("CephFS", seconds(300), seconds(1)),
            "fuse.glusterfs" | "glusterfs" => needs("GlusterFS", seconds(42), seconds(1)),
            "fuse.juicefs" | "juicefs" => needs("JuiceFS", seconds(60), seconds(1)),
            "lustre" => needs("Lustre", seconds(150), Duration::ZERO),
            "cifs" | "smb3" => needs("SMB", seconds(120), seconds(1)),
            "9p" | "fuse.sshfs" | "afs" | "gfs2" | "ocfs2" | "beegfs" | "gpfs" => {
                needs("a network filesystem", seconds(300), seconds(60))
            }
            _ => None,
        }
    }

    /// NFS's directory attribute cache: `acdirmax`/`actimeo` (0 with `noac`), else
    /// the kernel's 60 s.
    fn nfs_attribute_cache(&self) -> Duration {
        if self.has("noac") {
            return Duration::ZERO;
        }
        self.option("acdirmax")
            .or_else(|| self.option("actimeo"))
            .and_then(|value| value.parse().ok())
            .map_or(Duration::from_secs(60), Duration::from_secs)
    }

    /// Why several hosts cannot share this mount safely (locks that stay on one host),
    /// with the remedy; `None` when they can.
    pub fn unsafe_for_sharing(&self) -> Option<String> {
        let fstype = self.fstype.as_str();
        let nfs_version = self
            .option("vers")
            .or_else(|| self.option("nfsvers"))
            .unwrap_or(if fstype == "nfs4" { "4" } else { "" });
        if matches!(fstype, "nfs" | "nfs4") {
            if self.has("nolock") {
                return Some("it is NFS mounted with `nolock`: locks stay on this host, so two hosts would run the same job; remount without `nolock`".into());
            }
            if let Some(scope) = self.option("local_lock").filter(|scope| *scope != "none") {
                return Some(format!(
                    "it is NFS mounted with `local_lock={scope}`: those locks stay on this host; remount with `local_lock=none`"
                ));
            }
            if nfs_version.starts_with('2') || nfs_version.starts_with('3') {
                return Some(format!(
                    "it is NFSv{nfs_version}: a crashed client's locks are held until it reboots and renames may be replayed; mount with `vers=4.2` (4.1 at least)"
                ));
            }
        }
        if matches!(fstype, "cifs" | "smb3") && self.has("nobrl") {
            return Some("it is SMB mounted with `nobrl`: byte-range locks stay on this host; remount without `nobrl`".into());
        }
        if fstype == "lustre" && !self.has("flock") {
            return Some("it is Lustre without `-o flock` (`localflock` or none): locks are not coherent across clients; mount with `-o flock`".into());
        }
        if fstype.contains("juicefs")
            && self
                .options
                .iter()
                .any(|option| option.contains("writeback"))
        {
            return Some("it is JuiceFS with the write-back cache: a rename can be acknowledged before other clients can see it; mount without `--writeback`".into());
        }
        None
    }

    /// The verdict for a daemon configured with `spool`.
    pub fn verdict(&self, spool: &SpoolConfig, settle: Duration) -> MountVerdict {
        let network = self.network_needs();
        let refusal = if spool.shared {
            self.unsafe_for_sharing().map(|why| {
                format!(
                    "the spool {} cannot be shared by several hosts: {why}. If only this host uses the spool, set `shared = false` under [spool]",
                    self.describe()
                )
            })
        } else {
            None
        };
        let mut warnings = Vec::new();
        if let (Some(needs), true) = (network, spool.shared) {
            if spool.owner_lease <= needs.lock_release {
                warnings.push(format!(
                    "spool.owner_lease ({}) is not longer than {} needs to release a dead client's locks (about {}): a host that is only slow could lose its jobs to another; set it to {} or more",
                    show(spool.owner_lease),
                    needs.name,
                    show(needs.lock_release),
                    show(needs.lock_release + needs.lock_release / 2),
                ));
            }
            if spool.rescan_interval < needs.cache {
                warnings.push(format!(
                    "spool.rescan_interval ({}) is shorter than {}'s attribute cache ({}): rescans, the only way to see other hosts' drops, would see stale listings; set it to {} or more",
                    show(spool.rescan_interval),
                    needs.name,
                    show(needs.cache),
                    show(needs.cache),
                ));
            }
            if settle < needs.cache {
                warnings.push(format!(
                    "watch.settle ({}) is shorter than {}'s attribute cache ({}): a file another host still writes could look finished; set it to {} or more (or have producers write a temporary name and rename it in)",
                    show(settle),
                    needs.name,
                    show(needs.cache),
                    show(needs.cache * 2),
                ));
            }
        }
        MountVerdict {
            network,
            refusal,
            warnings,
        }
    }
}

/// A duration as people write it in the config (`42s`, `5m`).
fn show(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs().max(1))).to_string()
}

/// Whether `error` says the spool's filesystem cannot be reached right now (a network
/// filesystem cut off from its servers) rather than anything about the job.
pub fn is_unreachable(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(code) if [
            rustix::io::Errno::NOTCONN,
            rustix::io::Errno::STALE,
            rustix::io::Errno::HOSTDOWN,
            rustix::io::Errno::HOSTUNREACH,
            rustix::io::Errno::TIMEDOUT,
            rustix::io::Errno::CONNABORTED,
        ]
        .iter()
        .any(|errno| errno.raw_os_error() == code)
    )
}

#[cfg(test)]
#[path = "mount_tests.rs"]
mod tests;
