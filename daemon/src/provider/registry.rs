//! Discovery and the provider table: every `NAME.wasm` in the plugins folder is
//! compiled (or taken from the cache), checked against the WIT version, described,
//! and paired with its `[providers.NAME]` config: allowlist, key pool, settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::Semaphore;

use super::allow::Allowlist;
use super::budget::Budget;
use super::cache::ResultCache;
use super::engine;
use super::http::{HostHttp, HttpCaps};
use super::keys::KeyPool;
use super::plugin::{
    Answer, Auth, CallContext, Info, LoadedPlugin, Operation, Sandbox, WIT_VERSION,
};
use crate::config::{Config, PluginsConfig, ProviderConfig};

/// Status checks of long-running operations in flight at once per provider, when
/// neither the config, the manifest nor the plugin says.
pub const DEFAULT_CONCURRENT_POLLS: u32 = 4;

/// Optional `NAME.toml` next to `NAME.wasm`: overrides what the plugin declares.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Manifest {
    /// Replaces the declared hosts.
    pub hosts: Option<Vec<String>>,
    /// Default requests per minute per key.
    pub requests_per_minute: Option<u32>,
    /// Default requests per day per key.
    pub requests_per_day: Option<u32>,
    /// Default status checks in flight.
    pub max_concurrent_polls: Option<u32>,
}

/// A provider ready for calls.
pub struct Provider {
    /// The provider's name (its `[providers.NAME]` table, or the plugin's file stem).
    pub name: String,
    /// The plugin serving it.
    pub plugin: Arc<LoadedPlugin>,
    /// What the plugin declared (after the manifest).
    pub info: Info,
    /// Its network.
    pub http: Arc<HostHttp>,
    /// Its keys.
    pub keys: KeyPool,
    /// Plugin-visible settings.
    pub settings: Arc<BTreeMap<String, String>>,
    /// Bounds the status checks of long-running work in flight.
    pub polls: Semaphore,
    /// Attempts per call and the longest wait for a key.
    pub(crate) retry: RetryPolicy,
    /// Results already paid for.
    pub cache: ResultCache,
    /// The spool's cost caps.
    pub budget: Budget,
    /// Price per operation.
    pub prices: BTreeMap<String, f64>,
}

/// How a provider call is retried.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub attempts: u32,
    pub max_key_wait: std::time::Duration,
}

/// What `plugins list` and `plugins check` show, and why a plugin did not load.
#[derive(Default)]
pub struct Providers {
    /// Loaded providers by name.
    pub providers: BTreeMap<String, Arc<Provider>>,
    /// Plugins or providers that failed to load, with the reason.
    pub problems: Vec<(String, String)>,
    /// The plugins folder that was scanned.
    pub dir: PathBuf,
}

/// The `.wasm` files in a plugins folder (regular files only, never symlinks out).
pub fn plugin_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) else {
            continue;
        };
        if path.extension().and_then(|ext| ext.to_str()) != Some("wasm")
            || stem.starts_with('.')
            || !crate::config::is_valid_route_name(stem)
            || !entry.file_type()?.is_file()
        {
            continue;
        }
        found.push((stem.to_owned(), path));
    }
    found.sort();
    Ok(found)
}

impl Providers {
    /// Loads every plugin and provider. Failures are collected, not fatal: one bad
    /// plugin must not stop the daemon.
    pub async fn load(config: &Config, spool_root: &Path) -> Providers {
        let dir = config.plugins.dir(spool_root);
        let cache = spool_root.join("cache").join("components");
        let mut providers = Providers {
            dir: dir.clone(),
            ..Providers::default()
        };
        let files = match plugin_files(&dir) {
            Ok(files) => files,
            Err(error) => {
                providers.problems.push((
                    dir.display().to_string(),
                    format!("cannot list the plugins folder: {error}"),
                ));
                return providers;
            }
        };
        // Each provider table names its plugin; plugins without a table serve a
        // provider of their own name with default settings.
        let mut wanted: BTreeMap<String, ProviderConfig> = config.providers.clone();
        for (stem, _) in &files {
            let served = wanted.iter().any(|(name, provider)| {
                if provider.plugin.is_empty() {
                    name == stem
                } else {
                    provider.plugin == *stem
                }
            });
            if !served {
                wanted.insert(stem.clone(), ProviderConfig::default());
            }
        }
        let mut loaded: BTreeMap<String, Result<Arc<LoadedPlugin>, String>> = BTreeMap::new();
        for (name, provider_config) in &wanted {
            let plugin_name = if provider_config.plugin.is_empty() {
                name.clone()
            } else {
                provider_config.plugin.clone()
            };
            let Some((_, path)) = files.iter().find(|(stem, _)| *stem == plugin_name) else {
                providers.problems.push((
                    name.clone(),
                    format!("no plugin {plugin_name}.wasm in {}", dir.display()),
                ));
                continue;
            };
            let pinned =
                (!provider_config.sha256.is_empty()).then_some(provider_config.sha256.as_str());
            let plugin = match loaded.get(&plugin_name) {
                Some(plugin) if pinned.is_none() => plugin.clone(),
                _ => {
                    let plugin =
                        load_plugin(&plugin_name, path, &cache, pinned, &config.plugins).await;
                    loaded.insert(plugin_name.clone(), plugin.clone());
                    plugin
                }
            };
            let plugin = match plugin {
                Ok(plugin) => plugin,
                Err(why) => {
                    providers.problems.push((name.clone(), why));
                    continue;
                }
            };
            let shared = Shared {
                cache: ResultCache::new(
                    spool_root.join("cache").join("results"),
                    config.plugins.cache_size.as_u64(),
                ),
                budget: Budget::new(spool_root, config.budget.clone()),
            };
            match build_provider(name, plugin, provider_config, &config.plugins, &dir, shared).await
            {
                Ok(provider) => {
                    tracing::info!(provider = %name, plugin = %provider.plugin.name, version = %provider.info.version, "Provider ready.");
                    providers.providers.insert(name.clone(), Arc::new(provider));
                }
                Err(why) => providers.problems.push((name.clone(), why)),
            }
        }
        for (name, why) in &providers.problems {
            tracing::warn!(provider = %name, "Provider not available: {why}");
        }
        providers
    }

    /// A provider by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.providers.get(name)
    }

    /// Every provider's key counters, by provider name (only providers with keys).
    pub fn key_health(&self) -> BTreeMap<String, Vec<super::keys::KeyReport>> {
        self.providers
            .iter()
            .map(|(name, provider)| (name.clone(), provider.keys.report()))
            .filter(|(_, report)| !report.is_empty())
            .collect()
    }
}

/// Compiles (or takes from the cache), version-checks and links one plugin.
async fn load_plugin(
    name: &str,
    path: &Path,
    cache: &Path,
    pinned: Option<&str>,
    settings: &PluginsConfig,
) -> Result<Arc<LoadedPlugin>, String> {
    let (path, cache, pinned) = (path.to_owned(), cache.to_owned(), pinned.map(str::to_owned));
    let compiled = tokio::task::spawn_blocking(move || {
        let compiled = engine::load(&path, &cache, pinned.as_deref());
        (path, compiled)
    })
    .await
    .map_err(|error| format!("the compile task failed: {error}"))?;
    let (path, compiled) = compiled;
    let compiled = compiled.map_err(|error| error.to_string())?;
    check_wit_version(&compiled.component)?;
    let sandbox = Sandbox {
        call_timeout: settings.call_timeout,
        memory: settings.memory.as_u64().min(usize::MAX as u64) as usize,
    };
    LoadedPlugin::link(name, path, compiled, sandbox)
        .map(Arc::new)
        .map_err(|error| {
            format!("{name}.wasm does not fit chute:provider@{WIT_VERSION}: {error:#}")
        })
}

/// The plugin must export `chute:provider/provider` of a compatible version.
fn check_wit_version(component: &wasmtime::component::Component) -> Result<(), String> {
    let engine = engine::engine();
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let wanted = "chute:provider/provider@";
    let Some(export) = exports.iter().find(|name| name.starts_with(wanted)) else {
        return Err(format!(
            "it does not export {wanted}{WIT_VERSION} (it exports: {}); build it with chute-plugin-sdk",
            if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            }
        ));
    };
    let version = &export[wanted.len()..];
    let major_minor = |version: &str| version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    if major_minor(version) != major_minor(WIT_VERSION) {
        return Err(format!(
            "it was built for chute:provider@{version}, this chute speaks @{WIT_VERSION}: rebuild it against the matching chute-plugin-sdk"
        ));
    }
    Ok(())
}

/// What every provider of a spool shares.
struct Shared {
    cache: ResultCache,
    budget: Budget,
}

/// Describes the plugin, validates what it declares and builds its provider.
async fn build_provider(
    name: &str,
    plugin: Arc<LoadedPlugin>,
    config: &ProviderConfig,
    settings: &PluginsConfig,
    dir: &Path,
    shared: Shared,
) -> Result<Provider, String> {
    let manifest = read_manifest(&dir.join(format!("{}.toml", plugin.name)))?;
    let bare = Arc::new(HostHttp::new(
        Allowlist::default(),
        Auth::None,
        caps(settings),
    )?);
    let context = CallContext {
        http: bare,
        key: None,
        settings: Arc::new(config.plugin_settings()),
        job: None,
    };
    let (answer, _) = plugin.call(Operation::Describe, context).await;
    let mut info = match answer {
        Ok(Answer::Info(info)) => info,
        Ok(_) => return Err("describe returned the wrong type".into()),
        Err(failure) => return Err(format!("describe failed: {failure}")),
    };
    validate_info(&info)?;
    if let Some(hosts) = manifest.hosts {
        info.hosts = hosts;
        validate_info(&info).map_err(|why| format!("{}.toml: {why}", plugin.name))?;
    }
    let limits = &mut info.limits;
    limits.requests_per_minute = config
        .requests_per_minute
        .or(manifest.requests_per_minute)
        .or(limits.requests_per_minute);
    limits.requests_per_day = config
        .requests_per_day
        .or(manifest.requests_per_day)
        .or(limits.requests_per_day);
    limits.max_concurrent_polls = config
        .max_concurrent_polls
        .or(manifest.max_concurrent_polls)
        .or(limits.max_concurrent_polls);
    let base_url = (!config.base_url.is_empty()).then_some(config.base_url.as_str());
    let allowlist = Allowlist::new(&info.hosts, &config.allow_hosts, base_url);
    let http = Arc::new(HostHttp::new(allowlist, info.auth.clone(), caps(settings))?);
    let keys = KeyPool::new(
        name,
        &config.keys,
        info.limits.requests_per_minute,
        info.limits.requests_per_day,
    );
    let polls = Semaphore::new(
        info.limits
            .max_concurrent_polls
            .unwrap_or(DEFAULT_CONCURRENT_POLLS)
            .max(1) as usize,
    );
    Ok(Provider {
        name: name.to_owned(),
        plugin,
        info,
        http,
        keys,
        settings: Arc::new(config.plugin_settings()),
        polls,
        retry: RetryPolicy {
            attempts: settings.attempts,
            max_key_wait: settings.max_key_wait,
        },
        cache: shared.cache,
        budget: shared.budget,
        prices: config.prices.clone(),
    })
}

fn read_manifest(path: &Path) -> Result<Manifest, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|error| format!("{}: {}", path.display(), error.message())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(error) => Err(format!("{}: {error}", path.display())),
    }
}

/// What a plugin declares must make sense before it is trusted with traffic.
pub fn validate_info(info: &Info) -> Result<(), String> {
    let name_ok = !info.name.is_empty()
        && info.name.len() <= 64
        && info
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(format!(
            "describe gave a bad name {:?} (letters, digits, '-', '_')",
            info.name
        ));
    }
    if info.version.split('.').count() < 2 || !info.version.split('.').all(|part| !part.is_empty())
    {
        return Err(format!(
            "describe gave a bad version {:?} (use semver, e.g. 1.2.0)",
            info.version
        ));
    }
    if info.capabilities.is_empty() {
        return Err("describe lists no capabilities".into());
    }
    for host in &info.hosts {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty() || bare.contains(['/', ':', '@', ' ', '*']) {
            return Err(format!(
                "describe lists a bad host {host:?} (a host name such as api.example.com)"
            ));
        }
        // A wildcard names one organisation's subdomains, never a whole TLD.
        if host.starts_with("*.") && bare.split('.').filter(|label| !label.is_empty()).count() < 2 {
            return Err(format!(
                "describe lists a bad host {host:?}: a wildcard needs a domain (*.example.com)"
            ));
        }
    }
    match &info.auth {
        super::plugin::Auth::Header(name) | super::plugin::Auth::Query(name)
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Err(format!("describe gives a bad auth name {name:?}"))
        }
        _ => Ok(()),
    }
}

fn caps(settings: &PluginsConfig) -> HttpCaps {
    HttpCaps {
        max_request: settings.max_request.as_u64() as usize,
        max_response: settings.max_response.as_u64() as usize,
        max_download: settings.max_download.as_u64(),
        connect: settings.connect_timeout,
        first_byte: settings.first_byte_timeout,
        idle: settings.idle_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::plugin::{Capability, Limits};

    fn info() -> Info {
        Info {
            name: "gemini".into(),
            version: "1.2.0".into(),
            capabilities: vec![Capability::Text],
            hosts: vec![
                "generativelanguage.googleapis.com".into(),
                "*.googleusercontent.com".into(),
            ],
            auth: Auth::Header("x-goog-api-key".into()),
            limits: Limits {
                requests_per_minute: None,
                requests_per_day: None,
                max_concurrent_polls: None,
            },
        }
    }

    #[test]
    fn garbage_in_describe_is_refused_with_the_field_named() {
        assert!(validate_info(&info()).is_ok());
        type Spoil = fn(&mut Info);
        let cases: Vec<(Spoil, &str)> = vec![
            (|info| info.name = "../evil".into(), "bad name"),
            (|info| info.version = "latest".into(), "bad version"),
            (|info| info.capabilities.clear(), "no capabilities"),
            (
                |info| info.hosts.push("https://x.example.com/path".into()),
                "bad host",
            ),
            (|info| info.hosts.push("*".into()), "bad host"),
            (
                |info| info.hosts.push("*.com".into()),
                "a wildcard needs a domain",
            ),
            (
                |info| info.auth = Auth::Header("x-key\r\nHost: evil".into()),
                "bad auth name",
            ),
        ];
        for (spoil, expected) in cases {
            let mut bad = info();
            spoil(&mut bad);
            let error = validate_info(&bad).expect_err(expected);
            assert!(error.contains(expected), "{error}");
        }
    }
}
