//! Which inboxes the intake watches: all of them at start, and after a reload the
//! inboxes of the new routes too (those of removed routes are let go). Entries already
//! seen keep their progress towards ready when their route stays.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::Sender;

use notify::{RecursiveMode, Watcher};

use super::{Intake, IntakeMessage, Key};
use crate::config::Config;

impl Intake {
    /// Starts watching the inboxes; events arrive on `sender`. The watcher lives as
    /// long as the intake.
    pub fn watch(&mut self, sender: Sender<IntakeMessage>) -> notify::Result<()> {
        let mut watcher = notify::recommended_watcher(move |event| {
            let _ = sender.send(IntakeMessage::Fs(event));
        })?;
        for dir in self.inbox_dirs.keys() {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
        // A job renamed into jobs/ (`chute retry` puts a failed job back) is adopted at
        // once instead of at the next rescan.
        watcher.watch(&self.jobs_dir, RecursiveMode::NonRecursive)?;
        self.watcher = Some(watcher);
        Ok(())
    }

    /// Follows a reloaded configuration: its routes, their inboxes and limits, and
    /// the `[watch]` timings. The inboxes' folders exist already (the reload made them).
    pub(super) fn reload(&mut self, config: Arc<Config>) {
        let routes = config.effective_routes();
        let new_index: HashMap<String, usize> = routes
            .iter()
            .enumerate()
            .map(|(index, route)| (route.name.clone(), index))
            .collect();
        let old_names: Vec<String> = self.routes.iter().map(|route| route.name.clone()).collect();
        let remap = |(index, name): Key| -> Option<Key> {
            let route = old_names.get(index)?;
            Some((*new_index.get(route)?, name))
        };
        self.candidates = std::mem::take(&mut self.candidates)
            .into_iter()
            .filter_map(|(key, candidate)| Some((remap(key)?, candidate)))
            .collect();
        self.ready = std::mem::take(&mut self.ready)
            .into_iter()
            .filter_map(remap)
            .collect();
        let inbox_dirs: HashMap<PathBuf, usize> = routes
            .iter()
            .enumerate()
            .map(|(index, route)| (self.spool.inbox(&route.name), index))
            .collect();
        if let Some(watcher) = &mut self.watcher {
            for dir in self.inbox_dirs.keys() {
                if !inbox_dirs.contains_key(dir) {
                    let _ = watcher.unwatch(dir);
                }
            }
            for dir in inbox_dirs.keys() {
                if !self.inbox_dirs.contains_key(dir)
                    && let Err(error) = watcher.watch(dir, RecursiveMode::NonRecursive)
                {
                    tracing::warn!(
                        inbox = %dir.display(),
                        %error,
                        "Cannot watch a new inbox; its inputs are found by the periodic rescan."
                    );
                }
            }
        }
        let added: Vec<&str> = routes
            .iter()
            .filter(|route| !old_names.contains(&route.name))
            .map(|route| route.name.as_str())
            .collect();
        if !added.is_empty() {
            tracing::info!(routes = %added.join(", "), "Watching the inboxes of new routes.");
        }
        self.inbox_dirs = inbox_dirs;
        self.routes = routes;
        self.config = config;
        self.full_rescan();
    }
}
