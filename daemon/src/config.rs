//! Operator configuration: the root of the TOML file, its loading, and errors that point
//! at the line.
//!
//! Operator config is strict (`deny_unknown_fields`, errors point at the line); every key
//! has a default so `chute run --spool DIR` needs no file. `config/chute.toml` documents
//! every key and a test checks that it parses and covers them all.
//!
//! Each section lives beside the code it configures, with its defaults and its
//! validation (Vector's per-component config): `[spool]`, `[retention]`, `[disk]` in
//! `spool/config.rs`; `[watch]` in `intake/config.rs`; `[limits]` in `daemon/config.rs`;
//! `[dedupe]` in `dedupe.rs`; `[models]` in `models/config.rs`; `[transcribe]` in
//! `media/config.rs`; `[summarize]` in `summary/config.rs`; `[native]` and `[[routes]]`
//! in `pipeline/config.rs`; `[plugins]`, `[providers.NAME]`, `[budget]` in
//! `provider/config.rs`. This module only assembles them; none of them imports from here.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{daemon, dedupe, intake, media, models, pipeline, provider, spool, summary};

/// Environment variable that overrides the spool root (like `--spool`).
pub const SPOOL_ENV: &str = "CHUTE_SPOOL";
/// Environment variable naming the configuration file (like `--config`).
pub const CONFIG_ENV: &str = "CHUTE_CONFIG";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the spool lives and how it is scanned.
    pub spool: spool::config::SpoolConfig,
    /// How inbox files are judged complete.
    pub watch: intake::config::WatchConfig,
    /// Concurrency and backpressure.
    pub limits: daemon::config::LimitsConfig,
    /// Duplicate detection.
    pub dedupe: dedupe::DedupeConfig,
    /// How long finished results are kept (applied by `chute gc`, a later issue).
    pub retention: spool::config::RetentionConfig,
    /// Disk-usage thresholds (applied by housekeeping, a later issue).
    pub disk: spool::config::DiskConfig,
    /// Where models live.
    pub models: models::config::ModelsConfig,
    /// The transcribe pipeline (audio → transcript).
    pub transcribe: media::config::TranscribeConfig,
    /// The summary of a transcript (llama.cpp).
    pub summarize: summary::config::SummarizeConfig,
    /// The native models' shared memory budget.
    pub native: pipeline::config::NativeConfig,
    /// Routes added to (or overriding) the built-in `briefs` and `audio` routes.
    pub routes: Vec<pipeline::config::RouteConfig>,
    /// The provider plugin host: where plugins live and the sandbox every call runs in.
    pub plugins: provider::config::PluginsConfig,
    /// One table per provider (`[providers.gemini]`): keys, limits, base URL, settings.
    pub providers: BTreeMap<String, provider::config::ProviderConfig>,
    /// Spending caps for paid provider calls.
    pub budget: provider::config::BudgetConfig,
    /// The file this configuration was read from (`None`: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// A configuration problem; the message points at the line when it came from a file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The values parsed but do not make sense together.
    #[error("{path}: {message}")]
    Invalid {
        /// The file (or `<defaults>`).
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl Config {
    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| {
            let (line, column) = error
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: error.message().trim().to_owned(),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::parse(&text, path)?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Checks what serde cannot express; each section checks itself, in file order.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |error: &dyn Display| ConfigError::Invalid {
            path: path.to_owned(),
            message: error.to_string(),
        };
        pipeline::config::validate_routes(&self.routes).map_err(|error| invalid(&error))?;
        self.limits.validate().map_err(|error| invalid(&error))?;
        self.spool.validate().map_err(|error| invalid(&error))?;
        self.summarize.validate().map_err(|error| invalid(&error))?;
        provider::config::validate(&self.plugins, &self.providers, &self.budget)
            .map_err(|error| invalid(&error))?;
        self.disk.validate().map_err(|error| invalid(&error))?;
        Ok(())
    }

    /// The effective routes: the built-in `briefs` and `audio` routes, overridden or
    /// extended by the configured ones, sorted by name.
    pub fn effective_routes(&self) -> Vec<pipeline::config::RouteConfig> {
        pipeline::config::effective_routes(&self.routes)
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |tail| tail.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeSet;
    use std::time::Duration;

    use bytesize::ByteSize;

    use super::*;
    use crate::pipeline::config::{PipelineKind, RouteConfig};
    use crate::provider::config::ProviderConfig;

    #[test]
    fn empty_file_gives_defaults_and_builtin_routes() {
        let config = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(config.limits.max_running_jobs, 4);
        let names: Vec<_> = config
            .effective_routes()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["audio", "briefs"]);
    }

    #[test]
    fn unknown_key_points_at_its_line() {
        let error = Config::parse(
            "[limits]\nmax_running_jobs = 2\nbogus = 1\n",
            Path::new("c.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("c.toml:3:"), "{error}");
        assert!(error.contains("bogus"), "{error}");
    }

    #[test]
    fn configured_route_overrides_builtin() {
        let text = "[[routes]]\nname = \"audio\"\npipeline = \"passthrough\"\n";
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        let audio = config
            .effective_routes()
            .into_iter()
            .find(|r| r.name == "audio")
            .unwrap();
        assert_eq!(audio.pipeline, PipelineKind::Passthrough);
    }

    fn key_paths(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
        match value {
            toml::Value::Table(table) => {
                for (key, child) in table {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    out.insert(path.clone());
                    key_paths(child, &path, out);
                }
            }
            toml::Value::Array(items) => {
                for item in items.iter().filter(|item| item.is_table()) {
                    key_paths(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    /// config/chute.toml must parse and mention every key the daemon understands.
    #[test]
    fn example_config_parses_and_covers_every_key() {
        let text = include_str!("../../config/chute.toml");
        Config::parse(text, Path::new("config/chute.toml")).unwrap();
        let mut full = Config::default();
        let mut route = RouteConfig::new("archive", PipelineKind::Passthrough);
        route.max_size = Some(ByteSize::gib(1));
        route.simulate_work = Some(Duration::from_secs(1));
        full.routes.push(route);
        full.providers.insert(
            "gemini".into(),
            ProviderConfig {
                requests_per_minute: Some(10),
                requests_per_day: Some(250),
                max_concurrent_polls: Some(4),
                prices: BTreeMap::from([("generate-text".to_owned(), 0.001)]),
                ..ProviderConfig::default()
            },
        );
        let mut expected = BTreeSet::new();
        key_paths(&toml::Value::try_from(&full).unwrap(), "", &mut expected);
        let mut documented = BTreeSet::new();
        key_paths(
            &toml::from_str::<toml::Value>(text).unwrap(),
            "",
            &mut documented,
        );
        let missing: Vec<_> = expected.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "config/chute.toml does not document {missing:?}"
        );
    }

    #[test]
    fn hostile_route_names_are_rejected() {
        for name in ["..", "a/b", "", ".hidden", "-x", "a b"] {
            let text = format!("[[routes]]\nname = {name:?}\npipeline = \"passthrough\"\n");
            assert!(Config::parse(&text, Path::new("c.toml")).is_err(), "{name}");
        }
    }

    /// Each section checks itself; the messages name the key and what to write.
    #[test]
    fn invalid_values_are_refused_with_the_key_named() {
        let cases = [
            (
                "[[routes]]\nname = \"a\"\npipeline = \"passthrough\"\n[[routes]]\nname = \"a\"\npipeline = \"generate\"\n",
                "route \"a\" is defined twice: keep one [[routes]] entry per name",
            ),
            (
                "[limits]\nclaim_batch = 0\n",
                "limits.claim_batch must be at least 1",
            ),
            (
                "[spool]\nrescan_interval = \"0s\"\n",
                "spool.rescan_interval and spool.heartbeat_interval must be longer than 0s",
            ),
            (
                "[summarize]\ntemperature = 3.0\n",
                "summarize.temperature must be between 0 and 2, not 3",
            ),
            (
                "[plugins]\nattempts = 0\n",
                "plugins.call_timeout must be longer than 0s, plugins.attempts at least 1 and plugins.memory at least 1 MiB",
            ),
            (
                "[providers.gemini]\nkeys = [\"AIzaSyExample\"]\n",
                "providers.gemini.keys: \"AIza\"… is not a key reference: write env:NAME, file:PATH or credential:NAME, never the key itself",
            ),
            (
                "[providers.gemini]\napi_key = \"x\"\n",
                "providers.gemini.api_key: settings are handed to the plugin, so a credential must not be one; put key references in keys = [\"env:NAME\"]",
            ),
            (
                "[budget]\nper_day = -1.0\n",
                "budget.per_job and budget.per_day must be 0 (no cap) or more",
            ),
            (
                "[providers.gemini]\nprices = { \"dance\" = 1.0 }\n",
                "providers.gemini.prices.dance: prices are 0 or more, for generate-text, generate-image, speak or submit-video",
            ),
            (
                "[disk]\nresume_percent = 95\n",
                "disk.resume_percent (95) must not exceed disk.pause_percent (90), which must not exceed 100",
            ),
        ];
        for (text, message) in cases {
            let error = Config::parse(text, Path::new("c.toml")).unwrap_err();
            assert_eq!(error.to_string(), format!("c.toml: {message}"), "{text}");
        }
    }
}
