//! `[plugins]`, `[providers.NAME]` and `[budget]`: where provider plugins live, the
//! sandbox every call runs in, each provider's keys, limits and settings, and the
//! spending caps.
//!
//! Invariant kept here: a key is configured only by reference (`env:`, `file:`,
//! `credential:`), and nothing that looks like a credential is a plugin setting, so no
//! key can reach a plugin through its settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::spool::{Spool, is_valid_route_name};

/// `[plugins]`: where provider plugins live and the limits every call runs under.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Folder of `NAME.wasm` plugins (+ optional `NAME.toml` manifests); empty means
    /// `<spool>/plugins`. Every plugin here serves a provider; one named like a
    /// shipped plugin replaces it.
    pub dir: PathBuf,
    /// Folder of the plugins shipped with chute, used when a `[providers.NAME]` table
    /// asks for one; empty means beside the binary (`../lib/chute/plugins` of a
    /// packaged install, else `plugins/` in the binary's own folder).
    pub shipped_dir: PathBuf,
    /// Wall-clock budget of one plugin call, time in host calls (HTTP) included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Largest memory a plugin may use during one call.
    pub memory: ByteSize,
    /// Largest request body a plugin may send.
    pub max_request: ByteSize,
    /// Largest response body handed to a plugin.
    pub max_response: ByteSize,
    /// Largest result file the host downloads for a plugin (videos).
    pub max_download: ByteSize,
    /// HTTP requests one plugin call may make; a plugin that loops is cut off here.
    pub max_requests: u32,
    /// Connecting to a provider.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// From sending a request to the response headers.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// Silence allowed between two reads of a response body.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Attempts per provider call (429, 5xx, timeouts and refused keys are retried
    /// with exponential backoff and jitter, on another key when there is one).
    pub attempts: u32,
    /// Longest a call waits for a rate-limited or cooling key before giving up.
    #[serde(with = "humantime_serde")]
    pub max_key_wait: Duration,
    /// Size bound of the provider result cache (`<spool>/cache/results`); 0 turns it off.
    pub cache_size: ByteSize,
    /// Folder of compiled plugins on this host for this user, never in the spool (a
    /// compiled plugin is native code): `""` is the default place, `false` no cache.
    pub compile_cache: CompileCacheSetting,
    /// The file of the secret key compiled plugins are authenticated with (outside
    /// `compile_cache`); `""` is the default place.
    pub compile_cache_key: PathBuf,
}

/// `plugins.compile_cache`: where compiled plugins are cached, if anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CompileCacheSetting {
    /// `""` (or `true`): `$CACHE_DIRECTORY/components` under systemd, else
    /// `$XDG_CACHE_HOME/chute/components`, else `~/.cache/chute/components`.
    #[default]
    Default,
    /// `false`: no cache; every start compiles every plugin in memory.
    Off,
    /// This folder.
    Dir(PathBuf),
}

impl Serialize for CompileCacheSetting {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CompileCacheSetting::Default => serializer.serialize_str(""),
            CompileCacheSetting::Off => serializer.serialize_bool(false),
            CompileCacheSetting::Dir(dir) => dir.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for CompileCacheSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = CompileCacheSetting;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a folder, \"\" for the default place, or false for no cache")
            }
            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<Self::Value, E> {
                Ok(if on {
                    CompileCacheSetting::Default
                } else {
                    CompileCacheSetting::Off
                })
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(if text.is_empty() {
                    CompileCacheSetting::Default
                } else {
                    CompileCacheSetting::Dir(PathBuf::from(text))
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            shipped_dir: PathBuf::new(),
            call_timeout: Duration::from_secs(120),
            memory: ByteSize::mib(128),
            max_request: ByteSize::mib(32),
            max_response: ByteSize::mib(64),
            max_download: ByteSize::gib(2),
            max_requests: 64,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(100),
            idle_timeout: Duration::from_secs(30),
            attempts: 5,
            max_key_wait: Duration::from_secs(120),
            cache_size: ByteSize::gib(1),
            compile_cache: CompileCacheSetting::Default,
            compile_cache_key: PathBuf::new(),
        }
    }
}

impl PluginsConfig {
    /// The effective plugins folder for a spool root.
    pub fn dir(&self, spool_root: &Path) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            Spool::new(spool_root).plugins()
        } else {
            self.dir.clone()
        }
    }

    /// The folder of the shipped plugins, when there is one.
    pub fn shipped_dir(&self) -> Option<PathBuf> {
        if !self.shipped_dir.as_os_str().is_empty() {
            return Some(self.shipped_dir.clone());
        }
        let exe = std::env::current_exe().ok()?;
        let bin = exe.parent()?;
        [bin.join("../lib/chute/plugins"), bin.join("plugins")]
            .into_iter()
            .find(|dir| dir.is_dir())
            .map(|dir| dir.canonicalize().unwrap_or(dir))
    }
}

/// `[providers.NAME]`: one provider. Keys other than the ones below are settings the
/// plugin may read (e.g. `model`); keys themselves never reach a plugin.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProviderConfig {
    /// The plugin (`NAME.wasm`) serving this provider; empty means the table's name.
    pub plugin: String,
    /// Replaces the provider's API origin (a proxy, a regional endpoint, a test
    /// fake); its host joins the allowlist and may be a private address.
    pub base_url: String,
    /// Key references: `env:NAME`, `file:PATH` or `credential:NAME`.
    pub keys: Vec<String>,
    /// Host names narrow the plugin's declared hosts to these (https on port 443 and
    /// public addresses still); an origin (`http://10.0.0.5:9000`) adds exactly that
    /// origin, which may be private or plain http but never receives the key.
    pub allow_hosts: Vec<String>,
    /// How the key is attached, pinned by the operator: `bearer`, `header:NAME`,
    /// `query:NAME` or `none`; empty accepts the plugin's own scheme when it is a known
    /// one ([`super::auth::KNOWN_HEADERS`], [`super::auth::KNOWN_QUERY`]).
    pub auth: String,
    /// More origins (`https://host[:port]`) the key may be sent to besides `base_url`'s.
    /// Hosts the plugin declares are never sent the key unless named here.
    pub key_origins: Vec<String>,
    /// Requests per minute per key (overrides the plugin's default).
    pub requests_per_minute: Option<u32>,
    /// Requests per day per key (overrides the plugin's default).
    pub requests_per_day: Option<u32>,
    /// Status checks of long-running work in flight at once (overrides the plugin's default).
    pub max_concurrent_polls: Option<u32>,
    /// Refuse to load the plugin unless its .wasm has this sha256.
    pub sha256: String,
    /// `false` keeps the provider from serving calls; `true` lets a plugin whose
    /// manifest ships it disabled (`disabled = "why"` in `NAME.toml`) serve them.
    pub enabled: Option<bool>,
    /// Price per call, by operation (`generate-text`, `generate-image`, `speak`,
    /// `submit-video`), counted against `[budget]`.
    pub prices: BTreeMap<String, f64>,
    /// Everything else: settings handed to the plugin as strings.
    #[serde(flatten)]
    pub settings: BTreeMap<String, toml::Value>,
}

impl ProviderConfig {
    /// The settings a plugin may read: `base_url` and the free-form keys.
    pub fn plugin_settings(&self) -> BTreeMap<String, String> {
        let mut settings: BTreeMap<String, String> = self
            .settings
            .iter()
            .map(|(name, value)| {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (name.clone(), text)
            })
            .collect();
        if !self.base_url.is_empty() {
            settings.insert("base_url".into(), self.base_url.clone());
        }
        settings
    }

    /// Checks one `[providers.NAME]` table apart from its prices: its name, base URL,
    /// key references, settings and checksum.
    fn validate(&self, name: &str) -> Result<(), ProviderConfigError> {
        let name = name.to_owned();
        if !is_valid_route_name(&name) {
            return Err(ProviderConfigError::Name(name));
        }
        if !self.base_url.is_empty()
            && !self.base_url.starts_with("https://")
            && !self.base_url.starts_with("http://")
        {
            return Err(ProviderConfigError::BaseUrl(name));
        }
        if let Some(origin) = self
            .key_origins
            .iter()
            .find(|origin| !is_bare_origin(origin))
        {
            return Err(ProviderConfigError::KeyOrigin {
                name,
                origin: origin.clone(),
            });
        }
        if let Some(entry) = self.allow_hosts.iter().find(|entry| {
            if entry.contains("://") {
                !is_bare_origin(entry)
            } else {
                let bare = entry.strip_prefix("*.").unwrap_or(entry);
                bare.is_empty() || bare.contains(['/', ':', '@', ' ', '*'])
            }
        }) {
            return Err(ProviderConfigError::AllowHost {
                name,
                entry: entry.clone(),
            });
        }
        if !self.auth.is_empty()
            && let Err(error) = super::auth::parse_pin(&self.auth)
        {
            return Err(ProviderConfigError::Auth { name, error });
        }
        if let Some((index, key)) = self
            .keys
            .iter()
            .enumerate()
            .find(|(_, key)| !super::keys::is_reference(key))
        {
            let shown = key.chars().take(4).collect();
            return Err(ProviderConfigError::KeyNotReference { name, index, shown });
        }
        if let Some(setting) = self.settings.keys().find(|setting| {
            let setting = setting.to_ascii_lowercase();
            ["key", "token", "secret", "password", "credential"]
                .iter()
                .any(|word| setting.contains(word))
        }) {
            return Err(ProviderConfigError::CredentialSetting {
                name,
                setting: setting.clone(),
            });
        }
        if let Some((setting, known)) = self
            .settings
            .keys()
            .find_map(|setting| near_miss(setting).map(|known| (setting.clone(), known)))
        {
            return Err(ProviderConfigError::NearMiss {
                name,
                setting,
                known,
            });
        }
        if !self.sha256.is_empty()
            && (self.sha256.len() != 64 || !self.sha256.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(ProviderConfigError::Sha256(name));
        }
        Ok(())
    }

    /// Checks the price table: known operations, prices of 0 or more.
    fn validate_prices(&self, name: &str) -> Result<(), ProviderConfigError> {
        if let Some((operation, _)) = self.prices.iter().find(|(operation, price)| {
            !matches!(
                operation.as_str(),
                "generate-text" | "generate-image" | "speak" | "submit-video"
            ) || !price.is_finite()
                || **price < 0.0
        }) {
            return Err(ProviderConfigError::Price {
                name: name.to_owned(),
                operation: operation.clone(),
            });
        }
        Ok(())
    }
}

/// Whether `text` is a bare `http(s)://host[:port]` origin, with no path, query or
/// credentials.
fn is_bare_origin(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && reqwest::Url::parse(text).is_ok_and(|url| {
            url.host_str().is_some()
                && matches!(url.path(), "" | "/")
                && url.query().is_none()
                && url.username().is_empty()
                && url.password().is_none()
        })
}

/// The keys of a `[providers.NAME]` table that chute itself reads.
const PROVIDER_KEYS: [&str; 12] = [
    "plugin",
    "base_url",
    "keys",
    "allow_hosts",
    "auth",
    "key_origins",
    "requests_per_minute",
    "requests_per_day",
    "max_concurrent_polls",
    "sha256",
    "prices",
    "enabled",
];

/// The key of chute's own that `setting` is a likely typo of (a plugin setting is free
/// to be any other name).
fn near_miss(setting: &str) -> Option<&'static str> {
    let normalized = setting.to_ascii_lowercase().replace('-', "_");
    PROVIDER_KEYS.into_iter().find(|known| {
        *known != setting
            && (normalized == *known
                // Two edits turn most short words into each other (auth, path).
                || strsim::damerau_levenshtein(&normalized, known) <= known.len().min(6) / 3
                || strsim::normalized_levenshtein(&normalized, known) >= 0.85)
    })
}

/// `[budget]`: caps on what paid provider calls may cost (prices per provider).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Most one job may spend; 0 means no cap.
    pub per_job: f64,
    /// Most all jobs together may spend per UTC day; 0 means no cap.
    pub per_day: f64,
    /// The currency of the prices (a label only).
    pub currency: String,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            per_job: 0.0,
            per_day: 0.0,
            currency: "USD".into(),
        }
    }
}

/// Checks `[plugins]`, every `[providers.NAME]` and `[budget]`, in that order (prices
/// last, since they are counted against the budget).
pub fn validate(
    plugins: &PluginsConfig,
    providers: &BTreeMap<String, ProviderConfig>,
    budget: &BudgetConfig,
) -> Result<(), ProviderConfigError> {
    for (key, unusable) in [
        ("call_timeout", plugins.call_timeout.is_zero()),
        ("attempts", plugins.attempts == 0),
        ("memory", plugins.memory.as_u64() < 1 << 20),
    ] {
        if unusable {
            return Err(ProviderConfigError::Plugins(key));
        }
    }
    validate_compile_cache(plugins)?;
    for (name, provider) in providers {
        provider.validate(name)?;
    }
    for (key, cap) in [("per_job", budget.per_job), ("per_day", budget.per_day)] {
        if !cap.is_finite() || cap < 0.0 {
            return Err(ProviderConfigError::Budget(key));
        }
    }
    for (name, provider) in providers {
        provider.validate_prices(name)?;
    }
    Ok(())
}

/// `plugins.compile_cache` and its key: absolute paths, the key outside the cache.
fn validate_compile_cache(plugins: &PluginsConfig) -> Result<(), ProviderConfigError> {
    if let CompileCacheSetting::Dir(dir) = &plugins.compile_cache
        && !dir.is_absolute()
    {
        return Err(ProviderConfigError::CompileCache("compile_cache"));
    }
    let key = &plugins.compile_cache_key;
    if !key.as_os_str().is_empty() && (!key.is_absolute() || key.file_name().is_none()) {
        return Err(ProviderConfigError::CompileCache("compile_cache_key"));
    }
    if let CompileCacheSetting::Dir(dir) = &plugins.compile_cache
        && !key.as_os_str().is_empty()
        && key.starts_with(dir)
    {
        return Err(ProviderConfigError::KeyInCompileCache);
    }
    Ok(())
}

/// A `[plugins]`, `[providers.NAME]` or `[budget]` value the plugin host refuses; the
/// message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderConfigError {
    /// A call could never finish, never be tried, or never fit in memory (the key named).
    #[error(
        "plugins.call_timeout must be longer than 0s, plugins.attempts at least 1 and plugins.memory at least 1 MiB"
    )]
    Plugins(&'static str),
    /// The compile cache or its key (the key named) is not an absolute path.
    #[error(
        "plugins.{0} must be an absolute path (a folder for compile_cache, a file for compile_cache_key), or \"\" for the default place"
    )]
    CompileCache(&'static str),
    /// The key would sit in the cache, where whoever writes the cache would choose it.
    #[error(
        "plugins.compile_cache_key must be outside plugins.compile_cache: keep the key in a private state folder (the default is ~/.local/state/chute/compile-cache.key)"
    )]
    KeyInCompileCache,
    /// The table name is not safe as a file name.
    #[error("provider name {0:?} is not allowed: use letters, digits, '-' and '_'")]
    Name(String),
    /// The base URL is not http(s).
    #[error("providers.{0}.base_url must start with https:// (or http:// for a local test server)")]
    BaseUrl(String),
    /// A key origin is not a bare `scheme://host[:port]`.
    #[error(
        "providers.{name}.key_origins: {origin:?} is not an origin: write https://host or https://host:port, with no path"
    )]
    KeyOrigin {
        /// The provider.
        name: String,
        /// The entry as written.
        origin: String,
    },
    /// An `allow_hosts` entry is neither a host name nor a bare origin.
    #[error(
        "providers.{name}.allow_hosts: {entry:?} is neither a host name (api.example.com, *.example.com) nor an origin (https://host:port, no path)"
    )]
    AllowHost {
        /// The provider.
        name: String,
        /// The entry as written.
        entry: String,
    },
    /// `auth` is not a scheme a key can be sent in.
    #[error("providers.{name}.auth: {error}")]
    Auth {
        /// The provider.
        name: String,
        /// What is wrong with it.
        error: super::auth::AuthError,
    },
    /// A key was written where a key reference belongs.
    #[error(
        "providers.{name}.keys: {shown:?}… is not a key reference: write env:NAME, file:PATH or credential:NAME, never the key itself"
    )]
    KeyNotReference {
        /// The provider.
        name: String,
        /// The key reference's position in `keys`.
        index: usize,
        /// The first four characters of the offending value (never the whole key).
        shown: String,
    },
    /// A setting (handed to the plugin) is named like a credential.
    #[error(
        "providers.{name}.{setting}: settings are handed to the plugin, so a credential must not be one; put key references in keys = [\"env:NAME\"]"
    )]
    CredentialSetting {
        /// The provider.
        name: String,
        /// The setting's name.
        setting: String,
    },
    /// A setting is named almost like one of chute's own keys: a typo, which would
    /// otherwise be handed to the plugin and silently ignored.
    #[error("providers.{name}.{setting} is not a key chute knows; did you mean {known}?")]
    NearMiss {
        /// The provider.
        name: String,
        /// The setting as written.
        setting: String,
        /// The key it resembles.
        known: &'static str,
    },
    /// The checksum is not a sha256.
    #[error("providers.{0}.sha256 must be 64 hex digits")]
    Sha256(String),
    /// A spending cap (the key named) is negative or not a number.
    #[error("budget.per_job and budget.per_day must be 0 (no cap) or more")]
    Budget(&'static str),
    /// A price is for an unknown operation, negative or not a number.
    #[error(
        "providers.{name}.prices.{operation}: prices are 0 or more, for generate-text, generate-image, speak or submit-video"
    )]
    Price {
        /// The provider.
        name: String,
        /// The priced operation.
        operation: String,
    },
}

impl ProviderConfigError {
    /// The keys the error is about, the likeliest culprit first (for pointing at a line).
    pub fn keys(&self) -> Vec<String> {
        match self {
            ProviderConfigError::Plugins(key) | ProviderConfigError::CompileCache(key) => {
                vec![format!("plugins.{key}")]
            }
            ProviderConfigError::KeyInCompileCache => vec!["plugins.compile_cache_key".into()],
            ProviderConfigError::Name(name) => vec![format!("providers.{name}")],
            ProviderConfigError::BaseUrl(name) => vec![format!("providers.{name}.base_url")],
            ProviderConfigError::KeyOrigin { name, .. } => {
                vec![format!("providers.{name}.key_origins")]
            }
            ProviderConfigError::AllowHost { name, .. } => {
                vec![format!("providers.{name}.allow_hosts")]
            }
            ProviderConfigError::Auth { name, .. } => vec![format!("providers.{name}.auth")],
            ProviderConfigError::KeyNotReference { name, index, .. } => {
                vec![format!("providers.{name}.keys.{index}")]
            }
            ProviderConfigError::CredentialSetting { name, setting }
            | ProviderConfigError::NearMiss { name, setting, .. } => {
                vec![format!("providers.{name}.{setting}")]
            }
            ProviderConfigError::Sha256(name) => vec![format!("providers.{name}.sha256")],
            ProviderConfigError::Budget(key) => vec![format!("budget.{key}")],
            ProviderConfigError::Price { name, operation } => {
                vec![format!("providers.{name}.prices.{operation}")]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn near_misses_of_chutes_own_keys_are_errors_and_plugin_settings_are_not() {
        let with = |line: &str| {
            let text =
                format!("[providers.gemini]\nbase_url = \"https://example.invalid\"\n{line}\n");
            crate::config::Config::parse(&text, std::path::Path::new("chute.toml"))
        };
        let error = with("request_per_minute = 10").expect_err("a typo is refused");
        let message = error.to_string();
        assert!(
            message.contains("request_per_minute") && message.contains("requests_per_minute"),
            "{message}"
        );
        assert!(with("base-url = \"https://x.invalid\"").is_err());
        for setting in [
            "model = \"gemini-2.5-flash\"",
            "voice = \"Kore\"",
            "region = \"eu\"",
        ] {
            assert!(with(setting).is_ok(), "{setting} was refused");
        }
    }
}
