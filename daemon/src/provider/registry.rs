//! Discovery and the provider table: every `NAME.wasm` in the plugins folder is
//! compiled (or taken from the cache), checked against the WIT version, described,
//! and paired with its `[providers.NAME]` config: allowlist, key pool, settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::allow::Allowlist;
use super::auth;
use super::bindings::{Auth, Info, WIT_VERSION};
use super::budget::Budget;
use super::cache::ResultCache;
use super::compile_cache::CompileCache;
use super::config::{PluginsConfig, ProviderConfig};
pub use super::declared::{InfoError, validate_info};
use super::engine::{self, CompileError};
use super::http::{ClientError, HostHttp, HttpCaps};
use super::keys::KeyPool;
use super::manifest::{disabled_reason, read_manifest};
use super::plugin::{Answer, CallContext, CallFailure, LoadedPlugin, Operation, Sandbox};
use crate::config::Config;
use crate::spool::Spool;

/// Why a provider did not load. Every case has the same consequence: that provider
/// is missing (jobs naming it fall through their chain or fail), the daemon and the
/// other providers carry on, and `chute plugins check` shows the message.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The plugins folder cannot be listed.
    #[error("cannot list the plugins folder: {0} (check plugins.dir and its permissions)")]
    PluginsFolder(std::io::Error),
    /// The provider names a plugin that is not in the folder.
    #[error(
        "no plugin {plugin}.wasm in {} nor among the shipped plugins ({shipped}): copy it there, install the shipped plugins (scripts/build.sh, or plugins.shipped_dir), or fix `plugin =`",
        dir.display()
    )]
    MissingPlugin {
        /// The plugin's file stem.
        plugin: String,
        /// The plugins folder.
        dir: PathBuf,
        /// Where the shipped plugins were looked for.
        shipped: String,
    },
    /// A provider has keys but the operator named no origin to send them to.
    #[error(
        "[providers.{provider}] has keys but no base_url: a key goes only to origins you name; add base_url = \"{suggestion}\" (or key_origins)"
    )]
    NoKeyOrigin {
        /// The provider.
        provider: String,
        /// The plugin's first exactly declared host, as a base_url.
        suggestion: String,
    },
    /// The component could not be compiled (or its pin does not match).
    #[error("{0}")]
    Compile(#[from] CompileError),
    /// The compile task died (a wasmtime panic).
    #[error("the compile task failed: {0}")]
    CompileTask(String),
    /// The component does not export the provider interface.
    #[error(
        "it does not export chute:provider/provider@{WIT_VERSION} (it exports: {exports}); build it with chute-plugin-sdk"
    )]
    NotAProvider {
        /// What it exports instead.
        exports: String,
    },
    /// The component speaks another version of the contract.
    #[error(
        "it was built for chute:provider@{0}, this chute speaks @{WIT_VERSION}: rebuild it against the matching chute-plugin-sdk"
    )]
    WitVersion(String),
    /// The component's imports do not fit the host.
    #[error("{plugin}.wasm does not fit chute:provider@{WIT_VERSION}: {reason}")]
    Link {
        /// The plugin's file stem.
        plugin: String,
        /// wasmtime's explanation.
        reason: String,
    },
    /// `NAME.toml` next to the plugin is not valid.
    #[error("{}: {reason} (fix or remove the manifest)", path.display())]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `describe` failed or answered with something else.
    #[error("describe failed: {0}")]
    Describe(CallFailure),
    /// `describe` answered with another answer type.
    #[error("describe returned the wrong type (a plugin bug)")]
    DescribeType,
    /// What the plugin declares does not make sense (a plugin bug).
    #[error("{0}")]
    Declared(InfoError),
    /// The hosts its manifest (`NAME.toml`) declares do not make sense.
    #[error("{manifest}: {problem}")]
    ManifestHosts {
        /// `NAME.toml`.
        manifest: String,
        /// What is wrong.
        problem: InfoError,
    },
    /// The plugin wants the key attached in a way the operator did not allow.
    #[error("provider {provider}: {error}")]
    Auth {
        /// The provider.
        provider: String,
        /// Why the scheme is refused, and the pin that would allow it.
        error: auth::AuthError,
    },
    /// The provider's HTTP client could not be built.
    #[error("{0}")]
    Client(#[from] ClientError),
}

/// Status checks of long-running operations in flight at once per provider, when
/// neither the config, the manifest nor the plugin says.
pub const DEFAULT_CONCURRENT_POLLS: u32 = 4;

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
    /// Bounds the status checks of long-running work in flight (the remote
    /// operation driver takes it; stages never do).
    pub(super) polls: Semaphore,
    /// Attempts per call and the longest wait for a key.
    pub(crate) retry: RetryPolicy,
    /// Results already paid for (read and fed by calls and the remote operation
    /// driver; stages never touch it).
    pub(super) cache: ResultCache,
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
    /// Plugins or providers that failed to load, with the reason (a [`LoadError`]
    /// as a sentence).
    pub problems: Vec<(String, String)>,
    /// Providers that load and validate but serve no calls, with why (their
    /// manifest's `disabled`, or `enabled = false` in their table); `plugins list`
    /// and `plugins check` show them.
    pub disabled: BTreeMap<String, (Arc<Provider>, String)>,
    /// The plugins folder that was scanned.
    pub dir: PathBuf,
    /// The folder of the plugins shipped with chute, when there is one.
    pub shipped_dir: Option<PathBuf>,
    /// Shipped plugins no provider table asks for: available, not loaded.
    pub available: Vec<(String, PathBuf)>,
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
            || !crate::spool::is_valid_route_name(stem)
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
        let spool = Spool::new(spool_root);
        // Per host and user, outside the spool: a compiled plugin is native code.
        let cache = Arc::new(CompileCache::from_config(&config.plugins));
        let mut providers = Providers {
            dir: dir.clone(),
            ..Providers::default()
        };
        let files = match plugin_files(&dir) {
            Ok(files) => files,
            Err(error) => {
                providers.problems.push((
                    dir.display().to_string(),
                    LoadError::PluginsFolder(error).to_string(),
                ));
                return providers;
            }
        };
        providers.shipped_dir = config.plugins.shipped_dir();
        let shipped = match &providers.shipped_dir {
            Some(shipped_dir) => plugin_files(shipped_dir).unwrap_or_else(|error| {
                providers.problems.push((
                    shipped_dir.display().to_string(),
                    LoadError::PluginsFolder(error).to_string(),
                ));
                Vec::new()
            }),
            None => Vec::new(),
        };
        // Each provider table names its plugin; plugins in the spool's folder without
        // a table serve a provider of their own name with default settings; shipped
        // plugins without a table stay available.
        let mut wanted: BTreeMap<String, ProviderConfig> = config.providers.clone();
        for (stem, _) in &files {
            if !serves(&wanted, stem) {
                wanted.insert(stem.clone(), ProviderConfig::default());
            }
        }
        providers.available = shipped
            .iter()
            .filter(|(stem, _)| !serves(&wanted, stem) && !files.iter().any(|(own, _)| own == stem))
            .cloned()
            .collect();
        let mut loaded: BTreeMap<String, Result<Arc<LoadedPlugin>, Arc<LoadError>>> =
            BTreeMap::new();
        for (name, provider_config) in &wanted {
            let plugin_name = if provider_config.plugin.is_empty() {
                name.clone()
            } else {
                provider_config.plugin.clone()
            };
            let Some((_, path)) = files
                .iter()
                .chain(&shipped)
                .find(|(stem, _)| *stem == plugin_name)
            else {
                let missing = LoadError::MissingPlugin {
                    plugin: plugin_name.clone(),
                    dir: dir.clone(),
                    shipped: providers.shipped_dir.as_ref().map_or_else(
                        || "none beside the chute binary".to_owned(),
                        |shipped| shipped.display().to_string(),
                    ),
                };
                providers.problems.push((name.clone(), missing.to_string()));
                continue;
            };
            let pinned =
                (!provider_config.sha256.is_empty()).then_some(provider_config.sha256.as_str());
            let plugin = match loaded.get(&plugin_name) {
                Some(plugin) if pinned.is_none() => plugin.clone(),
                _ => {
                    let plugin = load_plugin(&plugin_name, path, &cache, pinned, &config.plugins)
                        .await
                        .map_err(Arc::new);
                    loaded.insert(plugin_name.clone(), plugin.clone());
                    plugin
                }
            };
            let plugin = match plugin {
                Ok(plugin) => plugin,
                Err(why) => {
                    providers.problems.push((name.clone(), why.to_string()));
                    continue;
                }
            };
            let shared = Shared {
                cache: ResultCache::new(spool.result_cache(), config.plugins.cache_size.as_u64()),
                budget: Budget::new(spool_root, config.budget.clone()),
            };
            // The manifest lives beside the plugin, wherever it was found.
            let plugin_dir = path.parent().unwrap_or(&dir).to_owned();
            match build_provider(
                name,
                plugin,
                provider_config,
                &config.plugins,
                &plugin_dir,
                shared,
            )
            .await
            {
                Ok((provider, Some(why))) => {
                    tracing::info!(provider = %name, "Provider disabled: {why}");
                    providers
                        .disabled
                        .insert(name.clone(), (Arc::new(provider), why));
                }
                Ok((provider, None)) => {
                    tracing::info!(provider = %name, plugin = %provider.plugin.name, version = %provider.info.version, "Provider ready.");
                    providers.providers.insert(name.clone(), Arc::new(provider));
                }
                Err(why) => providers.problems.push((name.clone(), why.to_string())),
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

/// Whether a table of `wanted` is served by the plugin `stem`.
fn serves(wanted: &BTreeMap<String, ProviderConfig>, stem: &str) -> bool {
    wanted.iter().any(|(name, provider)| {
        if provider.plugin.is_empty() {
            name == stem
        } else {
            provider.plugin == stem
        }
    })
}

/// `config` with a default provider table for every shipped plugin no table asks
/// for, so that loading it checks every plugin chute ships (`chute plugins check`).
pub fn with_every_shipped(config: &Config) -> Config {
    let mut config = config.clone();
    let Some(shipped_dir) = config.plugins.shipped_dir() else {
        return config;
    };
    for (stem, _) in plugin_files(&shipped_dir).unwrap_or_default() {
        if !serves(&config.providers, &stem) {
            config.providers.insert(stem, ProviderConfig::default());
        }
    }
    config
}

/// Compiles (or takes from the cache), version-checks and links one plugin.
async fn load_plugin(
    name: &str,
    path: &Path,
    cache: &Arc<CompileCache>,
    pinned: Option<&str>,
    settings: &PluginsConfig,
) -> Result<Arc<LoadedPlugin>, LoadError> {
    let (path, cache, pinned) = (path.to_owned(), cache.clone(), pinned.map(str::to_owned));
    // The compile cache's warnings go where this task's logs go.
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    let compiled = tokio::task::spawn_blocking(move || {
        let compiled = tracing::dispatcher::with_default(&dispatch, || {
            engine::load(&path, &cache, pinned.as_deref())
        });
        (path, compiled)
    })
    .await
    .map_err(|error| LoadError::CompileTask(error.to_string()))?;
    let (path, compiled) = compiled;
    let compiled = compiled?;
    check_wit_version(&compiled.component)?;
    let sandbox = Sandbox {
        call_timeout: settings.call_timeout,
        memory: settings.memory.as_u64().min(usize::MAX as u64) as usize,
        max_requests: settings.max_requests.max(1),
    };
    LoadedPlugin::link(name, path, compiled, sandbox)
        .map(Arc::new)
        .map_err(|error| LoadError::Link {
            plugin: name.to_owned(),
            reason: format!("{error:#}"),
        })
}

/// The plugin must export `chute:provider/provider` of a compatible version.
fn check_wit_version(component: &wasmtime::component::Component) -> Result<(), LoadError> {
    let engine = engine::engine();
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let wanted = "chute:provider/provider@";
    let Some(export) = exports.iter().find(|name| name.starts_with(wanted)) else {
        return Err(LoadError::NotAProvider {
            exports: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    };
    let version = &export[wanted.len()..];
    let major_minor = |version: &str| version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    if major_minor(version) != major_minor(WIT_VERSION) {
        return Err(LoadError::WitVersion(version.to_owned()));
    }
    Ok(())
}

/// What every provider of a spool shares.
struct Shared {
    cache: ResultCache,
    budget: Budget,
}

/// Describes the plugin, validates what it declares and builds its provider; also
/// why it is disabled, when it is.
async fn build_provider(
    name: &str,
    plugin: Arc<LoadedPlugin>,
    config: &ProviderConfig,
    settings: &PluginsConfig,
    dir: &Path,
    shared: Shared,
) -> Result<(Provider, Option<String>), LoadError> {
    let manifest = read_manifest(&dir.join(format!("{}.toml", plugin.name)))?;
    let disabled = disabled_reason(name, &manifest, config);
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
        Ok(_) => return Err(LoadError::DescribeType),
        Err(failure) => return Err(LoadError::Describe(failure)),
    };
    validate_info(&info).map_err(LoadError::Declared)?;
    if let Some(hosts) = manifest.hosts {
        info.hosts = hosts;
        validate_info(&info).map_err(|problem| LoadError::ManifestHosts {
            manifest: format!("{}.toml", plugin.name),
            problem,
        })?;
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
    // The operator's pin, else the plugin's scheme when it is a known one (the config
    // loader has already checked the pin's syntax).
    let pinned = auth::parse_pin(&config.auth).ok();
    info.auth = auth::effective(&info.auth, pinned.as_ref()).map_err(|error| LoadError::Auth {
        provider: name.to_owned(),
        error,
    })?;
    let base_url = (!config.base_url.is_empty()).then_some(config.base_url.as_str());
    let allowlist = Allowlist::new(
        &info.hosts,
        &config.allow_hosts,
        base_url,
        &config.key_origins,
    );
    // The operator alone decides where a key goes: keys with nowhere named are refused.
    if !config.keys.is_empty() && !matches!(info.auth, Auth::None) && !allowlist.has_key_origin() {
        return Err(LoadError::NoKeyOrigin {
            provider: name.to_owned(),
            suggestion: info
                .hosts
                .iter()
                .find(|host| !host.starts_with("*."))
                .map_or_else(
                    || "https://API-HOST".to_owned(),
                    |host| format!("https://{host}"),
                ),
        });
    }
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
    let provider = Provider {
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
    };
    Ok((provider, disabled))
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
