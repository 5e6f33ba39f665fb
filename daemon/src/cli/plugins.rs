//! `chute plugins list | check [NAME] | new NAME`: what is in the plugins folder,
//! whether each plugin loads and what it declares, and a new plugin crate.

use std::path::{Path, PathBuf};

use super::{Cli, CliError, scaffold};
use crate::provider::Providers;
use crate::provider::manifest::shipped_disabled;
use crate::provider::plugin::{Auth, Capability};
use crate::provider::registry::{DEFAULT_CONCURRENT_POLLS, Provider, with_every_shipped};

/// `chute plugins …`.
#[derive(Debug, clap::Subcommand)]
pub enum PluginsCommand {
    /// List the providers, the plugins serving them, and whether they load.
    List,
    /// Load, describe and validate one provider (or all, with every shipped plugin):
    /// version, capabilities, allowlist, keys (by fingerprint), settings. Exit 1 when
    /// something is wrong.
    Check {
        /// A provider name (default: all).
        name: Option<String>,
    },
    /// Create a plugin crate that builds for wasm32-wasip2 and passes `plugins check`.
    New {
        /// The plugin's name (lower-case letters, digits, '-').
        name: String,
        /// Where to create it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A chute-plugin-sdk crate to depend on, by a path relative to the new crate
        /// (default: a copy of this chute's SDK inside the new crate, so it builds
        /// anywhere; plugins/sdk when the crate is created in chute's plugins/ folder).
        #[arg(long, env = "CHUTE_PLUGIN_SDK")]
        sdk: Option<PathBuf>,
    },
}

/// Runs a plugins subcommand.
pub fn execute(cli: &Cli, command: &PluginsCommand) -> Result<(), CliError> {
    match command {
        PluginsCommand::List => list(cli),
        PluginsCommand::Check { name } => check(cli, name.as_deref()),
        PluginsCommand::New { name, dir, sdk } => new(name, dir.as_deref(), sdk.as_deref()),
    }
}

fn load(cli: &Cli) -> Result<Providers, CliError> {
    load_providers(&cli.load_config()?)
}

/// Every configured provider and every shipped plugin, loaded.
fn load_all(cli: &Cli) -> Result<Providers, CliError> {
    load_providers(&with_every_shipped(&cli.load_config()?))
}

/// Loads every provider plugin of `config` (also used by `chute doctor`).
pub(super) fn load_providers(config: &crate::config::Config) -> Result<Providers, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CliError::failure)?;
    Ok(runtime.block_on(Providers::load(config, &config.spool.root)))
}

fn capabilities(list: &[Capability]) -> String {
    list.iter()
        .map(|capability| match capability {
            Capability::Text => "text",
            Capability::Image => "image",
            Capability::Speech => "speech",
            Capability::Video => "video",
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn list(cli: &Cli) -> Result<(), CliError> {
    let providers = load(cli)?;
    println!("plugins folder: {}", providers.dir.display());
    match &providers.shipped_dir {
        Some(shipped) => println!("shipped plugins: {}", shipped.display()),
        None => println!(
            "shipped plugins: none beside the chute binary (scripts/build.sh installs them)"
        ),
    }
    if providers.providers.is_empty()
        && providers.problems.is_empty()
        && providers.available.is_empty()
        && providers.disabled.is_empty()
    {
        println!("no plugins (drop NAME.wasm files there; `chute plugins new NAME` starts one)");
        return Ok(());
    }
    println!(
        "{:<16} {:<16} {:<9} {:<22} {:>4}  STATUS",
        "PROVIDER", "PLUGIN", "VERSION", "CAPABILITIES", "KEYS"
    );
    let loaded = providers
        .providers
        .iter()
        .map(|(name, provider)| (name, provider, "ok".to_owned()));
    let disabled = providers
        .disabled
        .iter()
        .map(|(name, (provider, why))| (name, provider, format!("disabled: {why}")));
    for (name, provider, status) in loaded.chain(disabled) {
        println!(
            "{:<16} {:<16} {:<9} {:<22} {:>4}  {status}",
            name,
            provider.plugin.name,
            provider.info.version,
            capabilities(&provider.info.capabilities),
            provider.keys.report().len()
        );
    }
    for (name, why) in &providers.problems {
        println!(
            "{name:<16} {:<16} {:<9} {:<22} {:>4}  error: {why}",
            "-", "-", "-", "-"
        );
    }
    for (name, path) in &providers.available {
        let status = match shipped_disabled(path) {
            Some(why) => format!("shipped disabled: {why}"),
            None => format!("shipped, not configured: add [providers.{name}] to use it"),
        };
        println!(
            "{name:<16} {name:<16} {:<9} {:<22} {:>4}  {status}",
            "-", "-", "-"
        );
    }
    Ok(())
}

fn check(cli: &Cli, only: Option<&str>) -> Result<(), CliError> {
    let providers = load_all(cli)?;
    let mut failed = false;
    let mut found = false;
    for (name, why) in &providers.problems {
        if only.is_none_or(|only| only == name) {
            found = true;
            failed = true;
            println!("{name}: FAILED\n  {why}");
        }
    }
    let disabled = providers
        .disabled
        .iter()
        .map(|(name, (provider, why))| (name, provider, Some(why)));
    let loaded = providers
        .providers
        .iter()
        .map(|(name, provider)| (name, provider, None));
    for (name, provider, disabled) in loaded.chain(disabled) {
        if only.is_some_and(|only| only != name) {
            continue;
        }
        found = true;
        match disabled {
            None => println!("{name}: ok"),
            Some(why) => {
                println!("{name}: ok, but disabled (it serves no calls)\n  disabled      {why}")
            }
        }
        failed |= show(name, provider);
    }
    if let Some(only) = only
        && !found
    {
        return Err(CliError::failure(format!(
            "no provider or plugin named {only} (plugins folder: {})",
            providers.dir.display()
        )));
    }
    if failed {
        return Err(CliError::failure(""));
    }
    Ok(())
}

/// Prints what a loaded provider declares and how it is set up; true when one of its
/// keys cannot be read.
fn show(name: &str, provider: &Provider) -> bool {
    let mut failed = false;
    let info = &provider.info;
    println!(
        "  plugin        {} ({})",
        provider.plugin.path.display(),
        if provider.plugin.from_cache {
            "compiled earlier, from the cache"
        } else {
            "compiled now"
        }
    );
    println!("  sha256        {}", provider.plugin.sha256);
    println!(
        "  describes     {} {} — {}",
        info.name,
        info.version,
        capabilities(&info.capabilities)
    );
    let auth = match &info.auth {
        Auth::None => "none".to_owned(),
        Auth::Header(header) => format!("header {header}"),
        Auth::Query(parameter) => format!("query parameter {parameter}"),
        Auth::Bearer => "bearer token".to_owned(),
    };
    println!("  auth          {auth}");
    let hosts: Vec<&str> = provider.http.allowlist().hosts().collect();
    println!("  allowlist     {}", listed(&hosts, "(none: no network)"));
    let limits = &info.limits;
    println!(
        "  limits        {} requests/min, {} requests/day per key, {} status checks at once",
        limits
            .requests_per_minute
            .map_or("no limit".into(), |n| n.to_string()),
        limits
            .requests_per_day
            .map_or("no limit".into(), |n| n.to_string()),
        limits
            .max_concurrent_polls
            .unwrap_or(DEFAULT_CONCURRENT_POLLS)
    );
    let settings: Vec<&str> = provider.settings.keys().map(String::as_str).collect();
    println!("  settings      {}", listed(&settings, "(none)"));
    let keys = provider.keys.report();
    if keys.is_empty() && !matches!(info.auth, Auth::None) {
        println!(
            "  keys          none configured: add keys = [\"env:NAME\"] to [providers.{name}]"
        );
    }
    for key in keys {
        if key.state.starts_with("unreadable") {
            failed = true;
        }
        println!("  key           {} {}", key.key, key.state);
    }
    failed
}

/// Whether `name` works as a plugin file name and a crate name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// chute's `plugins/` folder in the sources this binary was built from, when they are
/// still there (a crate created inside it uses `plugins/sdk` by a relative path).
fn plugins_root() -> Option<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins")
        .canonicalize()
        .ok()
}

fn new(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> Result<(), CliError> {
    if !valid_name(name) {
        return Err(CliError::usage(format!(
            "{name:?} is not a plugin name: use lower-case letters, digits and '-', starting with a letter"
        )));
    }
    let target = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(name));
    if target.exists() {
        return Err(CliError::usage(format!(
            "{} already exists: choose another --dir",
            target.display()
        )));
    }
    let io = |error: std::io::Error| {
        CliError::failure(format!("cannot write {}: {error}", target.display()))
    };
    std::fs::create_dir_all(&target).map_err(io)?;
    let canonical = target.canonicalize().map_err(io)?;
    let sdk = scaffold::choose_sdk(&canonical, sdk, plugins_root().as_deref())
        .and_then(|sdk| Ok((scaffold::files(name, &sdk)?, sdk)));
    let (files, sdk) = match sdk {
        Ok(chosen) => chosen,
        Err(why) => {
            // Nothing was written yet but the empty folder.
            let _ = std::fs::remove_dir(&target);
            return Err(CliError::usage(why));
        }
    };
    for (path, text) in files {
        let path = target.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
    }
    println!("created {} (provider plugin {name})", target.display());
    match sdk {
        scaffold::Sdk::Vendored => println!(
            "  with its own copy of the plugin SDK (chute-plugin-sdk/): it builds anywhere"
        ),
        scaffold::Sdk::Relative { path, .. } => {
            println!("  using the plugin SDK at {}", path.display());
        }
    }
    println!("next:");
    println!("  cd {} && cargo test", target.display());
    println!("  cargo build --release --target wasm32-wasip2");
    println!(
        "  cp target/wasm32-wasip2/release/{}.wasm <spool>/plugins/{name}.wasm",
        name.replace('-', "_")
    );
    println!("  chute plugins check {name}");
    println!("see docs/writing-plugins.md");
    Ok(())
}

/// `items` joined by commas, or `empty` when there are none.
fn listed(items: &[&str], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}
