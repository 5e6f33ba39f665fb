//! The spool on disk: folder layout, safe file operations, inbox entries, owners, what
//! has ended, and the disk it lives on.
//!
//! Every folder under the spool root is named here ([`Spool`]), and nothing else joins
//! spool paths, so the layout in README.md and the code cannot drift apart.
//!
//! - `config.rs` — `[spool]`, `[retention]` and `[disk]`.
//! - `fsutil.rs` — atomic writes, fsync, group commit, verified rename.
//! - `entry.rs` — inbox entries: waiting names, `lstat` classification, route limits.
//! - `tree.rs` — dropped folders walked through open folder descriptors.
//! - `snapshot.rs` — the claimed input replaced by a daemon-owned copy (or reflink).
//! - `owner.rs` — daemon identity (the node name) and "is the owner alive".
//! - `mount.rs` — the spool's filesystem and mount options: refused when locks would
//!   stay on one host of several, warned about when settings are too short for it.
//! - `inventory.rs` — the ended folders (outbox, failed, trash) in one list.
//! - `disk.rs` — how full the spool's filesystem is.
//! - `space.rs` — out-of-space errors, reservations for large outputs, the emergency
//!   reserve that keeps records writable on a full disk.

pub mod config;
pub mod disk;
pub mod entry;
pub mod fsutil;
pub mod inventory;
pub mod mount;
pub mod owner;
pub mod reprocess;
pub mod snapshot;
pub mod space;
pub mod tree;

use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Paths of one spool root.
#[derive(Debug, Clone)]
pub struct Spool {
    root: PathBuf,
}

impl Spool {
    /// A spool rooted at `root` (nothing is created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The spool root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `inbox/`.
    pub fn inbox_root(&self) -> PathBuf {
        self.root.join("inbox")
    }

    /// `inbox/<route>/`: where users drop inputs.
    pub fn inbox(&self, route: &str) -> PathBuf {
        self.inbox_root().join(route)
    }

    /// `jobs/`: one folder per live (not yet final) job.
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// `jobs/<id>/`.
    pub fn job_dir(&self, id: Uuid) -> PathBuf {
        self.jobs().join(id.to_string())
    }

    /// `outbox/`: delivered results, one folder per route.
    pub fn outbox_root(&self) -> PathBuf {
        self.root.join("outbox")
    }

    /// `outbox/<route>/`.
    pub fn outbox(&self, route: &str) -> PathBuf {
        self.outbox_root().join(route)
    }

    /// `failed/`: failed inputs with their error.json, one folder per route.
    pub fn failed_root(&self) -> PathBuf {
        self.root.join("failed")
    }

    /// `failed/<route>/`.
    pub fn failed(&self, route: &str) -> PathBuf {
        self.failed_root().join(route)
    }

    /// `index/<route>/`: the dedupe index of one route.
    pub fn dedupe_index(&self, route: &str) -> PathBuf {
        self.dedupe_root().join(route)
    }

    /// `daemons/`: one record per running daemon.
    pub fn daemons(&self) -> PathBuf {
        self.root.join("daemons")
    }

    /// `daemons/<record name>`: one daemon's record (its mtime is the heartbeat), or a
    /// file published beside it, such as the key health (`<host>--<pid>.keys.json`).
    pub fn daemon_file(&self, name: &str) -> PathBuf {
        self.daemons().join(name)
    }

    /// `daemons/<host>--<pid>.keys.json`: the key health (keys by fingerprint only)
    /// daemon `owner` publishes beside its record, read by `chute doctor`.
    pub fn key_health(&self, owner: &owner::Owner) -> PathBuf {
        self.daemon_file(&owner.key_health_name())
    }

    /// `controls/`: the operator's persisted controls (`chute pause`, `resume`,
    /// `drain`), one file per host and one for every host.
    pub fn controls(&self) -> PathBuf {
        self.root.join("controls")
    }

    /// `controls/host-<host>.json`: the control for the daemons of host `host` (the
    /// name as `daemons/` records spell it; characters other than letters, digits,
    /// `.`, `-` and `_` become `_`).
    pub fn host_control(&self, host: &str) -> PathBuf {
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.controls().join(format!("host-{host}.json"))
    }

    /// `controls/all-hosts.json`: the control for every daemon on the spool
    /// (`--all-hosts`).
    pub fn all_hosts_control(&self) -> PathBuf {
        self.controls().join("all-hosts.json")
    }

    /// `jobs/.restoring-<id>/`: a failed job being put back by `chute retry` (hidden,
    /// so no daemon takes it before it is whole).
    pub fn restoring_job(&self, id: Uuid) -> PathBuf {
        self.jobs().join(format!(".restoring-{id}"))
    }

    /// `trash/`: finished job folders are renamed here and then deleted.
    pub fn trash(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// `trash/<id>/`: where a finished job's folder goes on its way out.
    pub fn trashed_job(&self, id: Uuid) -> PathBuf {
        self.trash().join(id.to_string())
    }

    /// `trash/.gc-<id>`: a folder or file taken aside by housekeeping to be removed (the
    /// rename is the claim: of several daemons removing the same thing, one wins).
    pub fn removal_claim(&self, id: Uuid) -> PathBuf {
        self.trash()
            .join(format!("{REMOVAL_CLAIM_PREFIX}{}", id.simple()))
    }

    /// `index/`: the dedupe indexes, one folder per route.
    pub fn dedupe_root(&self) -> PathBuf {
        self.root.join("index")
    }

    /// `plugins/`: the default folder of provider plugins (`NAME.wasm`, `NAME.toml`).
    pub fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// `cache/`: material that can be made again (provider results).
    pub fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }

    /// `cache/components/`: where earlier releases cached compiled plugins. Nothing
    /// reads or writes it now (compiled plugins are native code, cached per host and
    /// user outside the spool: `plugins.compile_cache`); an old one may be deleted.
    pub fn component_cache(&self) -> PathBuf {
        self.cache().join("components")
    }

    /// `cache/results/`: provider answers by request key, size-bounded.
    pub fn result_cache(&self) -> PathBuf {
        self.cache().join("results")
    }

    /// `hooks/pending/`: webhook events not yet delivered (one `<event_id>.json` each),
    /// sent again by the next daemon that starts when their sender died.
    pub fn pending_webhooks(&self) -> PathBuf {
        self.root.join("hooks").join("pending")
    }

    /// `ledger/`: what paid provider calls cost, per day and per job.
    pub fn ledger(&self) -> PathBuf {
        self.root.join("ledger")
    }

    /// Creates every folder the daemon needs for these routes.
    pub fn create_layout<'a>(
        &self,
        routes: impl IntoIterator<Item = &'a str>,
    ) -> std::io::Result<()> {
        for dir in [self.jobs(), self.daemons(), self.trash()] {
            std::fs::create_dir_all(dir)?;
        }
        for route in routes {
            for dir in [
                self.inbox(route),
                self.outbox(route),
                self.failed(route),
                self.dedupe_index(route),
            ] {
                std::fs::create_dir_all(dir)?;
            }
        }
        Ok(())
    }

    /// A location relative to the spool root (as records store it, e.g.
    /// `outbox/<route>/<stem>--<short-id>`) as a path; an absolute one stays as it is.
    pub fn resolve(&self, location: impl AsRef<Path>) -> PathBuf {
        self.root.join(location)
    }

    /// `path` relative to the spool root, for messages and JSON output.
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// The name prefix of [`Spool::removal_claim`] folders in trash/.
pub const REMOVAL_CLAIM_PREFIX: &str = ".gc-";

/// Whether `name` is safe as a folder name under inbox/, outbox/ and failed/ (routes)
/// and as a file name in the plugins folder (providers).
pub fn is_valid_route_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The short form of a job id shown in folder names: its last 8 hex digits (the random
/// part of a UUID v7, so jobs claimed in the same minute still differ).
pub fn short_id(id: Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_owned()
}
