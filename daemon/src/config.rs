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
//!
//! Errors name the file, line and column, show the line with a caret under the key or
//! value, and say in plain words what to write (`plain.rs` rewrites serde's messages;
//! `document.rs` finds keys by span and spans by key, also for the sections' own checks,
//! which name the keys they are about; `excerpt.rs` draws the line and caret).

mod document;
mod excerpt;
mod plain;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::document::{Document, Part};
pub use self::excerpt::Place;
use crate::{
    brief, daemon, dedupe, deliver, intake, media, metrics, models, pipeline, provider, spool,
    summary,
};

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
    /// Permissions of delivered files.
    pub deliver: deliver::config::DeliverConfig,
    /// How long ended material is kept (applied by `housekeeping/` and `chute gc`).
    pub retention: spool::config::RetentionConfig,
    /// Disk-usage thresholds (applied by the disk monitor in `housekeeping/`).
    pub disk: spool::config::DiskConfig,
    /// Where models live.
    pub models: models::config::ModelsConfig,
    /// The transcribe pipeline (audio → transcript).
    pub transcribe: media::config::TranscribeConfig,
    /// The summary of a transcript (llama.cpp).
    pub summarize: summary::config::SummarizeConfig,
    /// The native models' shared memory budget.
    pub native: pipeline::config::NativeConfig,
    /// How briefs become scenes (the sales-video pipeline).
    pub sales_video: brief::config::SalesVideoConfig,
    /// Routes added to (or overriding) the built-in `briefs` and `audio` routes.
    pub routes: Vec<pipeline::config::RouteConfig>,
    /// The provider plugin host: where plugins live and the sandbox every call runs in.
    pub plugins: provider::config::PluginsConfig,
    /// One table per provider (`[providers.gemini]`): keys, limits, base URL, settings.
    pub providers: BTreeMap<String, provider::config::ProviderConfig>,
    /// Spending caps for paid provider calls.
    pub budget: provider::config::BudgetConfig,
    /// Prometheus metrics: a loopback endpoint and/or a node-exporter textfile.
    pub metrics: metrics::config::MetricsConfig,
    /// The file this configuration was read from (`None`: built-in defaults).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// A configuration problem; the message points at the line when it came from a file:
///
/// ```text
/// chute.toml:2:20: limits.max_running_jobs: expected a whole number, like 4
///   2 | max_running_jobs = "four"
///     |                    ^^^^^^
/// ```
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
    #[error("{}:{}:{}: {message}\n{place}", path.display(), place.line, place.column)]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where in the file, with the offending line.
        place: Box<Place>,
        /// What is wrong, in plain words.
        message: String,
    },
    /// The values parsed but do not make sense together.
    #[error("{}", invalid(path, place.as_deref(), message))]
    Invalid {
        /// The file (or `<defaults>`).
        path: PathBuf,
        /// The keys the problem is about (dotted), the likeliest culprit first.
        keys: Vec<String>,
        /// Where the first of those keys is written, when the file writes one.
        place: Option<Box<Place>>,
        /// What is wrong and what to do.
        message: String,
    },
}

fn invalid(path: &Path, place: Option<&Place>, message: &str) -> String {
    match place {
        Some(place) => format!(
            "{}:{}:{}: {message}\n{place}",
            path.display(),
            place.line,
            place.column
        ),
        None => format!("{}: {message}", path.display()),
    }
}

impl ConfigError {
    /// A semantic error pointed at the line of its key in `document`.
    fn locate(self, document: &Document<'_>, text: &str) -> Self {
        match self {
            ConfigError::Invalid {
                path,
                keys,
                place: None,
                message,
            } => {
                // The whole `key = value`, so the caret covers both.
                let place = keys.iter().find_map(|key| {
                    let start = document.span_of(key, Part::Key)?.start;
                    let end = document.span_of(key, Part::Value)?.end;
                    Some(Box::new(Place::new(text, &(start..end.max(start)))))
                });
                ConfigError::Invalid {
                    path,
                    keys,
                    place,
                    message,
                }
            }
            other => other,
        }
    }
}

impl Config {
    /// Parses TOML text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let at = |span: Option<std::ops::Range<usize>>, message: String, help| ConfigError::Parse {
            path: path.to_owned(),
            place: Box::new(Place::new(text, &span.unwrap_or(0..0)).with_help(help)),
            message,
        };
        let document = Document::parse(text).map_err(|error| {
            let spanned = error
                .span()
                .and_then(|span| text.get(span))
                .unwrap_or_default();
            at(error.span(), plain::syntax(error.message(), spanned), None)
        })?;
        let config = Config::deserialize(document.deserializer()).map_err(|error| {
            let found = error.span().and_then(|span| document.find(&span));
            let plain = plain::explain(error.message(), found.as_ref(), &home_of);
            at(error.span(), plain.message, plain.help)
        })?;
        config
            .validate(path)
            .map_err(|error| error.locate(&document, text))?;
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
    /// The error names its keys but no line (`parse` adds the line).
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: &dyn Display, keys: Vec<String>| ConfigError::Invalid {
            path: path.to_owned(),
            keys,
            place: None,
            message: message.to_string(),
        };
        pipeline::config::validate_routes(&self.routes)
            .map_err(|error| invalid(&error, error.keys()))?;
        self.limits
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.spool
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.summarize
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        provider::config::validate(&self.plugins, &self.providers, &self.budget)
            .map_err(|error| invalid(&error, error.keys()))?;
        self.retention
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.disk
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.deliver
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.transcribe
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.sales_video
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        self.metrics
            .validate()
            .map_err(|error| invalid(&error, error.keys()))?;
        Ok(())
    }

    /// The effective routes: the built-in `briefs` and `audio` routes, overridden or
    /// extended by the configured ones, sorted by name.
    pub fn effective_routes(&self) -> Vec<pipeline::config::RouteConfig> {
        pipeline::config::effective_routes(&self.routes)
    }
}

/// The sections that take `key` (`[watch]`), for a key written in the wrong one.
fn home_of(key: &str) -> Option<String> {
    let mut example = Config::default();
    example.routes.push(pipeline::config::RouteConfig::new(
        "example",
        pipeline::config::PipelineKind::Passthrough,
    ));
    let toml::Value::Table(root) = toml::Value::try_from(&example).ok()? else {
        return None;
    };
    let homes: Vec<String> = root
        .iter()
        .filter_map(|(section, value)| match value {
            toml::Value::Table(table) if table.contains_key(key) => Some(format!("[{section}]")),
            toml::Value::Array(items)
                if items
                    .first()
                    .and_then(toml::Value::as_table)
                    .is_some_and(|table| table.contains_key(key)) =>
            {
                Some(format!("[[{section}]]"))
            }
            _ => None,
        })
        .collect();
    (!homes.is_empty()).then(|| homes.join(" or "))
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
                enabled: Some(true),
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
                "[providers.gemini]\nkey_origins = [\"https://upload.example.com/v1\"]\n",
                "providers.gemini.key_origins: \"https://upload.example.com/v1\" is not an origin: write https://host or https://host:port, with no path",
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
            (
                "[transcribe]\nlanguage = \"German\"\n",
                "transcribe.language \"German\" is not a language whisper.cpp knows: did you mean \"de\"?",
            ),
            (
                "[deliver]\nmode = \"0400\"\n",
                "deliver.mode \"0400\" must be an octal file mode like \"0640\" or \"0664\" that keeps read and write for the owner (no setuid, setgid or sticky bits)",
            ),
        ];
        for (text, message) in cases {
            let error = Config::parse(text, Path::new("c.toml")).unwrap_err();
            let shown = error.to_string();
            let first = shown.lines().next().unwrap_or_default();
            let (place, said) = first.split_once(": ").unwrap();
            assert_eq!(said, message, "{text}");
            // Every one points at the line of its key.
            let ConfigError::Invalid {
                place: Some(at), ..
            } = &error
            else {
                panic!("no line for {text}: {error:?}");
            };
            assert_eq!(place, format!("c.toml:{}:{}", at.line, at.column));
            assert!(
                text.lines()
                    .nth(at.line - 1)
                    .unwrap()
                    .contains(at.text.as_str())
            );
        }
    }

    fn error_of(text: &str) -> String {
        Config::parse(text, Path::new("chute.toml"))
            .unwrap_err()
            .to_string()
    }

    /// The errors of the issue, as an operator sees them: place, plain words, the line
    /// and a caret, and the accepted forms.
    #[test]
    fn errors_show_the_line_a_caret_and_plain_words() {
        let cases: [(&str, &str); 9] = [
            (
                "[limits]\nmax_running_jobs = \"four\"\n",
                "chute.toml:2:20: limits.max_running_jobs: expected a whole number, like 4
  2 | max_running_jobs = \"four\"
    |                    ^^^^^^",
            ),
            (
                "[limits]\nmax_running_jobs = 2.5\n",
                "chute.toml:2:20: limits.max_running_jobs: expected a whole number, like 4
  2 | max_running_jobs = 2.5
    |                    ^^^
    = write it without a decimal point",
            ),
            (
                "[native]\nmodel_budget = \"4 gigs\"\n",
                "chute.toml:2:16: native.model_budget: expected a size like 4GiB or 512MiB
  2 | model_budget = \"4 gigs\"
    |                ^^^^^^^^
    = sizes: \"512KiB\", \"64MiB\", \"4GiB\", \"1TiB\" (or \"4GB\" for powers of 1000); a bare whole number counts bytes",
            ),
            (
                "[limits]\nshutdown_grace = \"30\"\n",
                "chute.toml:2:18: limits.shutdown_grace: expected a duration like 30s or 5m
  2 | shutdown_grace = \"30\"
    |                  ^^^^
    = a duration needs its unit, in quotes: \"30s\" (units: ms, s, m, h, d)",
            ),
            (
                "[limits]\nmax_runing_jobs = 3\n",
                "chute.toml:2:1: unknown key `max_runing_jobs` in [limits]: did you mean `max_running_jobs`?
  2 | max_runing_jobs = 3
    | ^^^^^^^^^^^^^^^
    = [limits] takes `max_running_jobs`, `max_queue_depth`, `claim_batch`, `shutdown_grace`, `child_cpu_cores`",
            ),
            (
                "[spool]\nfsync = true\n\n[limts]\nmax_running_jobs = 3\n",
                "chute.toml:4:2: unknown section [limts]: did you mean [limits]?
  4 | [limts]
    |  ^^^^^
    = the sections are [spool], [watch], [limits], [dedupe], [deliver], [retention], [disk], [models], [transcribe], [summarize], [native], [sales_video], [[routes]], [plugins], [providers.NAME], [budget], [metrics]",
            ),
            (
                "[watch]\nmax_running_jobs = 3\n",
                "chute.toml:2:1: unknown key `max_running_jobs` in [watch]: it belongs in [limits]
  2 | max_running_jobs = 3
    | ^^^^^^^^^^^^^^^^
    = [watch] takes `settle`, `open_file_timeout`",
            ),
            (
                "[[routes]]\nname = \"a\"\npipeline = \"passthrough\"\n\n[[routes]]\nname = \"a\"\npipeline = \"generate\"\n",
                "chute.toml:6:1: route \"a\" is defined twice: keep one [[routes]] entry per name
  6 | name = \"a\"
    | ^^^^^^^^^^",
            ),
            (
                "[disk]\npause_percent = 80\nresume_percent = 85\n",
                "chute.toml:3:1: disk.resume_percent (85) must not exceed disk.pause_percent (80), which must not exceed 100
  3 | resume_percent = 85
    | ^^^^^^^^^^^^^^^^^^^",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error_of(text), expected, "{text}");
        }
    }

    /// No serde wording (`usize`, `invalid type`, `struct`) reaches the operator.
    #[test]
    fn serde_words_do_not_leak() {
        for text in [
            "[limits]\nmax_running_jobs = \"four\"\n",
            "[limits]\nmax_running_jobs = -3\n",
            "[disk]\npause_percent = 300\n",
            "[spool]\nfsync = \"yes\"\n",
            "[summarize]\ntemperature = \"hot\"\n",
            "[spool]\nroot = 3\n",
            "limits = 3\n",
            "routes = 3\n",
            "[[routes]]\nname = \"a\"\n",
            "[[routes]]\nname = \"a\"\npipeline = \"passthru\"\n",
            "[native]\nworking_memory = true\n",
            "[transcribe]\nchunk = 300\n",
        ] {
            let error = error_of(text);
            for word in [
                "invalid type",
                "invalid value",
                "usize",
                "u8",
                "struct ",
                "unknown variant",
                "parsable",
                "missing field",
            ] {
                assert!(!error.contains(word), "{word:?} in {error}");
            }
            assert!(error.contains("\n  "), "no excerpt in {error}");
        }
    }

    /// A key written where the file only has the default still finds a line: the other
    /// key of the pair.
    #[test]
    fn a_pair_points_at_the_key_the_file_writes() {
        let error = error_of("[disk]\nwarn_percent = 70\npause_percent = 80\n");
        assert!(
            error.starts_with("chute.toml:3:1: disk.resume_percent (85)"),
            "{error}"
        );
        assert!(error.contains("  3 | pause_percent = 80\n"), "{error}");
    }
}
