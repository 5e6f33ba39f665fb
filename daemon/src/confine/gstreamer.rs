//! The GStreamer plugin registry of confined children.
//!
//! `gst::init()` reads a cache of every plugin's features (the registry) and rebuilds
//! it — loading every plugin, seconds of work — when it is missing or stale. A child
//! cannot write outside its own folders, so it could never save a rebuilt registry
//! and would rebuild it on every start. Instead chute keeps one registry per user and
//! host, `<cache>/gstreamer-1.0/registry.<arch>.bin` (`<cache>`: systemd's
//! `$CACHE_DIRECTORY`, else `$XDG_CACHE_HOME/chute`, else `~/.cache/chute`), brings it
//! up to date once per process in a confined child that reads no untrusted byte and
//! may write only there ([`prepare`]), and gives every decoder and render child its
//! path read-only: a child that a hostile file took over cannot plant plugins for the
//! next one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::OnceCell;

use super::{ConfinedChild, Policy};

/// How long rebuilding the registry may take (every plugin is loaded once).
const PREPARE_TIMEOUT: Duration = Duration::from_secs(120);

/// The registry file children use, when there is a cache folder for it.
pub fn registry_path() -> Option<PathBuf> {
    cache_root().map(|root| {
        root.join("gstreamer-1.0")
            .join(format!("registry.{}.bin", std::env::consts::ARCH))
    })
}

/// `$CACHE_DIRECTORY` (its first entry), `$XDG_CACHE_HOME/chute` or `~/.cache/chute`.
fn cache_root() -> Option<PathBuf> {
    let set = |key: &str| std::env::var_os(key).filter(|value| !value.is_empty());
    if let Some(dirs) = set("CACHE_DIRECTORY") {
        return std::env::split_paths(&dirs).next();
    }
    if let Some(cache) = set("XDG_CACHE_HOME") {
        return Some(PathBuf::from(cache).join("chute"));
    }
    set("HOME").map(|home| PathBuf::from(home).join(".cache/chute"))
}

/// Brings the registry up to date once per process (later calls wait for the first
/// one). A failure is logged and not an error: children then read a stale registry
/// or rebuild it in memory, slower but correct.
pub async fn prepare(executable: &Path) {
    static PREPARED: OnceCell<()> = OnceCell::const_new();
    PREPARED
        .get_or_init(|| async {
            if let Err(why) = refresh(executable).await {
                tracing::warn!(%why, "Cannot prepare the GStreamer registry for the decoder and render children; each of them may rebuild it, which is slower.");
            }
        })
        .await;
}

async fn refresh(executable: &Path) -> Result<(), String> {
    let Some(registry) = registry_path() else {
        return Err("no cache folder (set HOME, XDG_CACHE_HOME or CACHE_DIRECTORY)".into());
    };
    let folder = registry
        .parent()
        .ok_or_else(|| format!("{} has no folder", registry.display()))?;
    std::fs::create_dir_all(folder)
        .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    let policy = Policy::new(PREPARE_TIMEOUT, 0, 1 << 30)
        .gstreamer()
        .writable(folder);
    let mut command = policy.trampoline(executable);
    command
        .arg("--prepare-gstreamer")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = ConfinedChild::spawn(&mut command)
        .map_err(|error| format!("cannot start {}: {error}", executable.display()))?;
    let output = match tokio::time::timeout(PREPARE_TIMEOUT, child.output(16 << 10)).await {
        Ok(output) => output.map_err(|error| error.to_string())?,
        Err(_) => return Err(format!("it took longer than {PREPARE_TIMEOUT:?}")),
    };
    if output.status.success() {
        tracing::debug!(registry = %registry.display(), "The GStreamer registry is up to date.");
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            super::describe_status(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
