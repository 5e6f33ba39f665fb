//! Reloading the configuration (SIGHUP, `systemctl reload chute`): the file the daemon
//! was started with is read and validated again. An invalid file is logged (with its
//! line) and the old configuration stays. A valid one is published on the daemon's
//! config channel: the intake watches new inboxes and claims for new routes, jobs that
//! start afterwards run with it, running jobs keep the one they started with. Keys that
//! only take effect at start ([`RESTART_ONLY`]) keep their old value, each logged.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::intake::IntakeMessage;
use crate::spool::Spool;

/// Reads the configuration again as the daemon was started (the same file, the same
/// `--spool` / `CHUTE_SPOOL` override).
pub type ConfigLoader = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// How a caller asks the daemon to reload: each message on `requests` is one reload
/// (`chute run` sends one per SIGHUP), `load` reads the configuration.
pub struct ReloadTrigger {
    /// One message per reload request.
    pub requests: tokio::sync::mpsc::Receiver<()>,
    /// Reads the configuration.
    pub load: ConfigLoader,
}

/// Sections and keys that need a restart: the spool's layout and scanning, the
/// slot and queue sizes, the plugin host and its providers, the native models' budget.
/// A section name stands for every key in it.
pub const RESTART_ONLY: &[&str] = &[
    "spool",
    "limits.max_running_jobs",
    "limits.max_queue_depth",
    "plugins",
    "providers",
    "budget",
    "native",
];

/// `new` with every restart-only key of `old` put back, and the dotted names of the
/// keys whose new value was therefore not taken.
pub fn keep_restart_only(old: &Config, mut new: Config) -> (Config, Vec<String>) {
    let mut kept = Vec::new();
    if let (Ok(old_value), Ok(new_value)) = (serde_json::to_value(old), serde_json::to_value(&new))
    {
        for key in RESTART_ONLY {
            let path: Vec<&str> = key.split('.').collect();
            let before = lookup(&old_value, &path).unwrap_or(&Value::Null);
            let after = lookup(&new_value, &path).unwrap_or(&Value::Null);
            if before != after {
                differing_keys(key, before, after, &mut kept);
            }
        }
    }
    // Put back by type, not through JSON: every value stays exactly as it was.
    new.spool = old.spool.clone();
    new.limits.max_running_jobs = old.limits.max_running_jobs;
    new.limits.max_queue_depth = old.limits.max_queue_depth;
    new.plugins = old.plugins.clone();
    new.providers = old.providers.clone();
    new.budget = old.budget.clone();
    new.native = old.native.clone();
    (new, kept)
}

fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

/// The keys under `prefix` whose values differ (one level down for tables).
fn differing_keys(prefix: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(before), Value::Object(after)) => {
            let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                if before.get(key.as_str()) != after.get(key.as_str()) {
                    out.push(format!("{prefix}.{key}"));
                }
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

/// What a reload needs from the daemon.
pub struct Reloader {
    /// Reads the configuration.
    pub load: ConfigLoader,
    /// Where the current configuration is published.
    pub current: watch::Sender<Arc<Config>>,
    /// The spool (new routes get their folders).
    pub spool: Spool,
    /// The intake, told about the new routes.
    pub intake: std::sync::mpsc::Sender<IntakeMessage>,
}

impl Reloader {
    /// Reads, validates and applies the configuration; `false` when the old one stays.
    pub async fn reload(&self) -> bool {
        tracing::info!("Reloading the configuration.");
        let load = self.load.clone();
        let loaded = match tokio::task::spawn_blocking(move || load()).await {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(%error, "The configuration could not be read; keeping the old one.");
                return false;
            }
        };
        let mut new = match loaded {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(
                    error = %error,
                    "The new configuration is invalid; keeping the old one (fix the file and reload again)."
                );
                return false;
            }
        };
        if let Ok(root) = std::fs::canonicalize(&new.spool.root) {
            new.spool.root = root;
        }
        let old = self.current.borrow().clone();
        let (merged, kept) = keep_restart_only(&old, new);
        for key in &kept {
            tracing::warn!(
                key = %key,
                "This setting changed but takes effect only after a restart; the old value stays."
            );
        }
        let routes = merged.effective_routes();
        let names: Vec<&str> = routes.iter().map(|route| route.name.as_str()).collect();
        if let Err(error) = self.spool.create_layout(names.iter().copied()) {
            tracing::error!(%error, "Cannot create the folders of the new routes; keeping the old configuration.");
            return false;
        }
        let merged = Arc::new(merged);
        self.current.send_replace(merged.clone());
        let _ = self.intake.send(IntakeMessage::Reload(merged));
        tracing::info!(routes = %names.join(", "), "Configuration reloaded.");
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("chute.toml")).unwrap()
    }

    #[test]
    fn restart_only_keys_keep_their_old_value_and_are_named() {
        let old = parse("[limits]\nmax_running_jobs = 2\n\n[spool]\nroot = \"/a\"\n");
        let new = parse(
            "[limits]\nmax_running_jobs = 8\nclaim_batch = 7\n\n[spool]\nroot = \"/b\"\n\n\
             [[routes]]\nname = \"extra\"\npipeline = \"passthrough\"\n",
        );
        let (merged, kept) = keep_restart_only(&old, new);
        assert_eq!(kept, vec!["spool.root", "limits.max_running_jobs"]);
        assert_eq!(merged.limits.max_running_jobs, 2);
        assert_eq!(merged.spool.root, Path::new("/a"));
        assert_eq!(
            merged.limits.claim_batch, 7,
            "a live key takes its new value"
        );
        assert!(merged.routes.iter().any(|route| route.name == "extra"));
    }

    #[test]
    fn an_unchanged_file_keeps_nothing() {
        let old = parse("[limits]\nmax_running_jobs = 2\n");
        let (_, kept) = keep_restart_only(&old, old.clone());
        assert!(kept.is_empty());
    }
}
