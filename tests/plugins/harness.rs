//! Builds the test plugins (a separate wasm32-wasip2 workspace in plugins/) once per
//! test run, and sets up plugin folders and provider tables around them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use chute::config::Config;
use chute::provider::Providers;
use chute::provider::bindings::ProviderError;
use chute::provider::config::CompileCacheSetting;
use chute::provider::keys::Pick;
use chute::provider::plugin::{Answer, CallContext, CallFailure, Operation};
use chute::provider::registry::Provider;
use tempfile::TempDir;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_owned()
}

/// The cargo target folder this test binary lives in.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/debug/deps/plugins-<hash>
    exe.ancestors().nth(3).expect("target dir").to_owned()
}

/// Where the plugins workspace is built (apart from the daemon's target, so this
/// nested cargo never waits on the outer one's lock): `CHUTE_WASM_TARGET` when set
/// (several checkouts sharing one cargo target keep their plugins apart with it), else
/// `<target>/wasm-plugins`.
pub fn wasm_target() -> PathBuf {
    std::env::var_os("CHUTE_WASM_TARGET")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wasm-plugins"))
}

/// `cargo build --release --target wasm32-wasip2` into [`wasm_target`]; the caller
/// says which crate.
pub fn wasm_build() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(wasm_target());
    command
}

/// Builds every plugin in plugins/ for wasm32-wasip2 (release), once.
pub fn built_plugins() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = wasm_build()
            .arg("--locked")
            .arg("--manifest-path")
            .arg(repo().join("plugins/Cargo.toml"))
            .status()
            .expect("run cargo for the plugins");
        assert!(status.success(), "building the test plugins failed");
        wasm_target().join("wasm32-wasip2/release")
    })
}

/// The built component of a plugin: a shipped one (`plugins/NAME`, crate
/// `chute-NAME`) or a test one (`plugins/tests/NAME`, crate `chute-test-NAME`).
pub fn built_plugin(name: &str) -> PathBuf {
    let stem = name.replace('-', "_");
    let shipped = built_plugins().join(format!("chute_{stem}.wasm"));
    if shipped.exists() {
        return shipped;
    }
    built_plugins().join(format!("chute_test_{stem}.wasm"))
}

/// The plugins chute ships: every crate in plugins/ but the SDK (test plugins live in
/// plugins/tests/).
pub fn shipped_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("plugins"))
        .expect("plugins/")
        .map(|entry| entry.expect("a plugins/ entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .filter_map(|path| Some(path.file_name()?.to_string_lossy().into_owned()))
        .filter(|name| name != "sdk")
        .collect();
    names.sort();
    names
}

/// Installs the shipped plugins into `dest` with the installer script the README's
/// set-up command runs (`scripts/build-plugins.sh`), from the build [`built_plugins`]
/// made.
pub fn install_shipped(dest: &Path) {
    built_plugins();
    let installed = Command::new(repo().join("scripts/build-plugins.sh"))
        .arg(dest)
        .env("CHUTE_WASM_TARGET", wasm_target())
        .output()
        .expect("run scripts/build-plugins.sh");
    assert!(
        installed.status.success(),
        "scripts/build-plugins.sh failed: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
}

/// Every file under `dir` (recursively), with its bytes: for checking that no key was
/// written anywhere in a spool.
pub fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A spool with a plugins folder holding the named plugins as `NAME.wasm`.
pub fn spool_with(plugins: &[&str]) -> TempDir {
    let spool = tempfile::tempdir().expect("spool");
    let dir = spool.path().join("plugins");
    std::fs::create_dir_all(&dir).expect("plugins dir");
    for name in plugins {
        std::fs::copy(built_plugin(name), dir.join(format!("{name}.wasm"))).expect("copy plugin");
    }
    spool
}

/// A key file outside the plugins folder, referenced as `file:`.
pub fn key_file(spool: &TempDir, name: &str, key: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = spool.path().join(name);
    std::fs::write(&path, key).expect("key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    format!("file:{}", path.display())
}

/// A spool holding `plugin`, and its providers: one of the same name pointed at
/// `base_url` with `keys` (a key file each), calls of up to 30 s with no host retries
/// and next to no request spacing, and `settings` as more lines of its table. Fails
/// the test when anything does not load.
pub async fn one_provider(
    plugin: &str,
    base_url: &str,
    keys: &[&str],
    settings: &str,
) -> (TempDir, Providers) {
    let spool = spool_with(&[plugin]);
    let keys: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(n, key)| format!("\"{}\"", key_file(&spool, &format!("{plugin}{n}.key"), key)))
        .collect();
    let config = format!(
        "[plugins]\ncall_timeout = \"30s\"\nattempts = 1\n\n[providers.{plugin}]\nbase_url = \"{base_url}\"\nkeys = [{}]\nrequests_per_minute = 60000\n{settings}\n",
        keys.join(", ")
    );
    let providers = load(&spool, &config).await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);
    (spool, providers)
}

/// What a provider error is: its kind, and its message (a rate limit's retry hint in
/// milliseconds).
pub fn error_kind(error: &ProviderError) -> (&'static str, String) {
    match error {
        ProviderError::RateLimited(Some(ms)) => ("rate-limited", ms.to_string()),
        ProviderError::RateLimited(None) => ("rate-limited", String::new()),
        ProviderError::QuotaExhausted(why) => ("quota-exhausted", why.clone()),
        ProviderError::Unauthorized(why) => ("unauthorized", why.clone()),
        ProviderError::BadRequest(why) => ("bad-request", why.clone()),
        ProviderError::ContentBlocked(why) => ("content-blocked", why.clone()),
        ProviderError::Unavailable(why) => ("unavailable", why.clone()),
        ProviderError::Other(why) => ("other", why.clone()),
    }
}

/// Runs `operation` once where it must fail with an error the plugin mapped (not a
/// trap or a timeout): that error's kind and message.
pub async fn mapped_failure(provider: &Provider, operation: Operation) -> (&'static str, String) {
    let failure = call_once(provider, operation)
        .await
        .expect_err("the call fails");
    let CallFailure::Provider(error) = failure else {
        panic!("the plugin failed instead of mapping: {failure}")
    };
    error_kind(&error)
}

/// Runs one operation through the plugin once, with the provider's first ready key
/// (none when the provider has no keys, as for a local server) and none of the
/// host's retries: what the plugin itself makes of an answer.
pub async fn call_once(provider: &Provider, operation: Operation) -> Result<Answer, CallFailure> {
    let key = if provider.keys.is_empty() {
        None
    } else {
        ready_key(provider).await
    };
    let context = CallContext {
        http: provider.http.clone(),
        key,
        settings: provider.settings.clone(),
        job: None,
    };
    provider.plugin.call(operation, context).await.0
}

/// The provider's first ready key, waiting out short request spacing.
async fn ready_key(provider: &Provider) -> Option<chute::provider::keys::KeyLease> {
    loop {
        match provider.keys.pick() {
            Pick::Ready(lease) => return Some(lease),
            // Request spacing under the per-key rate limit.
            Pick::Wait(wait) if wait < std::time::Duration::from_secs(2) => {
                tokio::time::sleep(wait).await
            }
            Pick::Wait(wait) => panic!("every key rests for {wait:?}"),
            Pick::Exhausted(why) => panic!("no key: {why}"),
        }
    }
}

/// Loads the providers of `spool` under `config` (TOML), with the compile cache and
/// its key in the spool's temporary folder unless `config` places them.
pub async fn load(spool: &TempDir, config: &str) -> Providers {
    let mut config = Config::parse(config, Path::new("test.toml")).expect("test config parses");
    if config.plugins.compile_cache == CompileCacheSetting::Default {
        config.plugins.compile_cache = CompileCacheSetting::Dir(spool.path().join("compile-cache"));
    }
    if config.plugins.compile_cache_key.as_os_str().is_empty() {
        config.plugins.compile_cache_key = spool.path().join("state/compile-cache.key");
    }
    Providers::load(&config, spool.path()).await
}

/// Keeps a chute process's compiled plugins and their key under `dir` (systemd's
/// variables, which chute honours first), never in the real ~/.cache.
pub fn private_cache<'a>(command: &'a mut Command, dir: &Path) -> &'a mut Command {
    command
        .env("CACHE_DIRECTORY", dir.join("compile-cache"))
        .env("STATE_DIRECTORY", dir.join("state"))
}

/// Runs `work` on a fresh current-thread runtime and returns its output with every
/// log line (debug and up) written through `tracing` meanwhile.
pub fn capturing_logs<T>(work: impl std::future::Future<Output = T>) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let output = tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    });
    let logs = String::from_utf8_lossy(&captured.0.lock().expect("log capture")).into_owned();
    (output, logs)
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log capture").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A two-worker tokio runtime for the fakes a daemon test serves.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
