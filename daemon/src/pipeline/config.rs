//! `[[routes]]` and `[native]`: which pipeline each inbox folder feeds, the built-in
//! routes, and the memory budget the native model stages share.

use std::collections::BTreeSet;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::spool::is_valid_route_name;

/// The pipelines a route can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PipelineKind {
    /// brief -> script -> images -> clips -> voiceover -> render -> deliver.
    SalesVideo,
    /// audio -> decode -> transcribe -> summarize -> deliver.
    Transcribe,
    /// The input delivered unchanged.
    Passthrough,
    /// A request file (`*.toml`: text, image, speech or video) sent to a provider
    /// chain; the answer delivered as a file.
    Generate,
}

impl PipelineKind {
    /// The name used in config files and job records.
    pub fn name(self) -> &'static str {
        match self {
            PipelineKind::SalesVideo => "sales-video",
            PipelineKind::Transcribe => "transcribe",
            PipelineKind::Passthrough => "passthrough",
            PipelineKind::Generate => "generate",
        }
    }
}

/// `[[routes]]`: one inbox folder and the pipeline its inputs go through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The folder name under `inbox/`, `outbox/` and `failed/`.
    pub name: String,
    /// Which pipeline processes this route's inputs.
    pub pipeline: PipelineKind,
    /// Inputs larger than this (a folder: its total) are rejected at claim.
    #[serde(default)]
    pub max_size: Option<ByteSize>,
    /// Allowed file extensions (case-insensitive, without the dot); empty means any.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Whether folders (a brief with its images) are accepted.
    #[serde(default = "default_true")]
    pub allow_directories: bool,
    /// Artificial time spent in each pipeline stage, reported as progress — for demos and
    /// for tests that need jobs to take a while.
    #[serde(default, with = "humantime_serde")]
    pub simulate_work: Option<Duration>,
    /// Whether the input is delivered too, in the result folder's `input/` (a
    /// passthrough route always delivers it: it is the result).
    #[serde(default = "default_true")]
    pub keep_input: bool,
    /// Command run when a job of this route is done: argv, no shell; the program an
    /// absolute path. The job's facts are in `CHUTE_*` variables ([`crate::hooks`]).
    #[serde(default)]
    pub on_done: Vec<String>,
    /// Command run when a job of this route failed or was cancelled.
    #[serde(default)]
    pub on_failed: Vec<String>,
    /// How long a hook command may run (it is then killed), and one webhook request.
    #[serde(
        default = "crate::hooks::config::default_hook_timeout",
        with = "humantime_serde"
    )]
    pub hook_timeout: Duration,
    /// URL the job's event is POSTed to when a job of this route ends; empty: none.
    #[serde(default)]
    pub webhook: String,
    /// The HMAC key signing webhook requests: `env:NAME`, `credential:NAME` or
    /// `file:PATH`; empty: unsigned.
    #[serde(default)]
    pub webhook_secret: String,
    /// Attempts at delivering one webhook event before giving up.
    #[serde(default = "crate::hooks::config::default_webhook_attempts")]
    pub webhook_attempts: u32,
    /// No webhook attempt starts later than this after the job ended.
    #[serde(
        default = "crate::hooks::config::default_webhook_give_up_after",
        with = "humantime_serde"
    )]
    pub webhook_give_up_after: Duration,
}

fn default_true() -> bool {
    true
}

impl RouteConfig {
    /// What this route's inbox accepts, for inspecting entries.
    pub fn entry_limits(&self) -> crate::spool::entry::EntryLimits<'_> {
        crate::spool::entry::EntryLimits {
            max_size: self.max_size.map(|size| size.as_u64()),
            extensions: &self.extensions,
            allow_directories: self.allow_directories,
        }
    }

    /// The route's hook keys, for checking them.
    pub fn hook_keys(&self) -> crate::hooks::config::HookKeys<'_> {
        crate::hooks::config::HookKeys {
            on_done: &self.on_done,
            on_failed: &self.on_failed,
            hook_timeout: self.hook_timeout,
            webhook: self.webhook_url(),
            webhook_secret: self.webhook_secret_reference(),
            webhook_attempts: self.webhook_attempts,
            webhook_give_up_after: self.webhook_give_up_after,
        }
    }

    /// The webhook's URL, when one is configured.
    pub fn webhook_url(&self) -> Option<&str> {
        Some(self.webhook.trim()).filter(|url| !url.is_empty())
    }

    /// The webhook secret's reference, when one is configured.
    pub fn webhook_secret_reference(&self) -> Option<&str> {
        Some(self.webhook_secret.trim()).filter(|reference| !reference.is_empty())
    }

    /// A route with only a name and a pipeline.
    pub fn new(name: &str, pipeline: PipelineKind) -> Self {
        Self {
            name: name.to_owned(),
            pipeline,
            max_size: None,
            extensions: Vec::new(),
            allow_directories: true,
            simulate_work: None,
            keep_input: true,
            on_done: Vec::new(),
            on_failed: Vec::new(),
            hook_timeout: crate::hooks::config::default_hook_timeout(),
            webhook: String::new(),
            webhook_secret: String::new(),
            webhook_attempts: crate::hooks::config::default_webhook_attempts(),
            webhook_give_up_after: crate::hooks::config::default_webhook_give_up_after(),
        }
    }
}

/// Checks the configured routes: safe folder names, each defined once.
pub fn validate_routes(routes: &[RouteConfig]) -> Result<(), RouteConfigError> {
    let mut seen = BTreeSet::new();
    for (index, route) in routes.iter().enumerate() {
        let name = route.name.clone();
        if !is_valid_route_name(&route.name) {
            return Err(RouteConfigError::Name { index, name });
        }
        if !seen.insert(route.name.as_str()) {
            return Err(RouteConfigError::Duplicate { index, name });
        }
        crate::hooks::config::validate(index, &route.hook_keys())
            .map_err(RouteConfigError::Hook)?;
    }
    Ok(())
}

/// The effective routes: the built-in `briefs` and `audio` routes, overridden or
/// extended by the configured ones, sorted by name.
pub fn effective_routes(configured: &[RouteConfig]) -> Vec<RouteConfig> {
    let mut routes = vec![
        RouteConfig::new("audio", PipelineKind::Transcribe),
        RouteConfig::new("briefs", PipelineKind::SalesVideo),
    ];
    for route in configured {
        routes.retain(|existing| existing.name != route.name);
        routes.push(route.clone());
    }
    routes.sort_by(|a, b| a.name.cmp(&b.name));
    routes
}

/// A `[[routes]]` entry the daemon cannot serve; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteConfigError {
    /// The name is not safe as a folder name.
    #[error(
        "route name {name:?} is not allowed: use letters, digits, '-' and '_' (at most 64), not starting with '.' or '-'"
    )]
    Name {
        /// The entry's position among the `[[routes]]`.
        index: usize,
        /// The name as written.
        name: String,
    },
    /// Two entries share a name.
    #[error("route {name:?} is defined twice: keep one [[routes]] entry per name")]
    Duplicate {
        /// The position of the second entry among the `[[routes]]`.
        index: usize,
        /// The shared name.
        name: String,
    },
    /// A completion-hook key (`on_done`, `webhook`, …) cannot be used.
    #[error(transparent)]
    Hook(crate::hooks::config::HookConfigError),
}

impl RouteConfigError {
    /// The keys the error is about, the likeliest culprit first (for pointing at a line).
    pub fn keys(&self) -> Vec<String> {
        match self {
            RouteConfigError::Name { index, .. } | RouteConfigError::Duplicate { index, .. } => {
                vec![format!("routes.{index}.name"), format!("routes.{index}")]
            }
            RouteConfigError::Hook(error) => error.keys(),
        }
    }
}

/// `[native]`: how whisper.cpp and llama.cpp share one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NativeConfig {
    /// Memory the loaded native models may take together (VRAM in a `cuda` build, RAM
    /// otherwise). Before a model is loaded, resident ones are unloaded until it fits.
    /// A model is estimated at its file size plus `working_memory`. "0B" = no limit.
    pub model_budget: ByteSize,
    /// Working memory added to each model's file size when estimating its footprint.
    pub working_memory: ByteSize,
}

impl Default for NativeConfig {
    fn default() -> Self {
        Self {
            model_budget: ByteSize::gib(4),
            working_memory: ByteSize::mib(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::hooks::config::validate;

    #[test]
    fn each_bad_hook_key_is_named() {
        let good = || {
            let mut route = RouteConfig::new("archive", PipelineKind::Passthrough);
            route.on_done = vec!["/usr/bin/true".into()];
            route.webhook = "https://example.com/hook".into();
            route.webhook_secret = "env:CHUTE_WEBHOOK_SECRET".into();
            route
        };
        assert_eq!(validate(0, &good().hook_keys()), Ok(()));
        type Spoil = fn(&mut RouteConfig);
        let cases: [(&str, Spoil); 7] = [
            ("on_done", |route| route.on_done = vec!["true".into()]),
            ("on_failed", |route| {
                route.on_failed = vec!["/bin/echo".into(), "a\0b".into()]
            }),
            ("hook_timeout", |route| route.hook_timeout = Duration::ZERO),
            ("webhook", |route| {
                route.webhook = "ftp://example.com/x".into()
            }),
            ("webhook", |route| {
                route.webhook = "https://user:pw@example.com/x".into()
            }),
            ("webhook_secret", |route| {
                route.webhook_secret = "hunter2".into()
            }),
            ("webhook_attempts", |route| route.webhook_attempts = 0),
        ];
        for (key, spoil) in cases {
            let mut route = good();
            spoil(&mut route);
            let error = validate(3, &route.hook_keys()).expect_err(key);
            assert_eq!(error.key, key, "{error}");
            assert_eq!(error.keys()[0], format!("routes.3.{key}"));
        }
        let mut route = good();
        route.webhook.clear();
        assert_eq!(
            validate(0, &route.hook_keys()).map_err(|error| error.key),
            Err("webhook_secret")
        );
    }
}
