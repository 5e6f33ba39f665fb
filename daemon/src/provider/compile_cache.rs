//! The cache of compiled components, per host and per user, outside the spool.
//!
//! A compiled component is native code: whoever can write a file chute deserializes
//! runs code as whoever loads it (the daemon, or `chute doctor` run as root). So an
//! artifact is used only when
//! - the cache folder and the file are owned by this user, are not links (opened with
//!   `O_NOFOLLOW`, judged by `fstat` of the opened descriptor) and are not writable by
//!   group or others (`private_fs.rs`); and
//! - its HMAC-SHA256, under a secret key of this user kept outside the cache folder,
//!   matches the artifact's bytes, the sha256 of the `.wasm` it was compiled from and
//!   the engine's compatibility digest: an artifact can neither be forged nor swapped
//!   for another plugin's.
//!
//! The file is read once, into memory; the bytes checked are the bytes deserialized.
//! Anything else is logged with its path and why, removed, and compiled again.
//!
//! File format (`<sha256 of the .wasm>.cwasm`): [`MAGIC`], the engine digest (32 bytes,
//! in the clear so that an artifact of another chute is told from a forgery), the tag
//! (32 bytes), then the artifact `Engine::precompile_component` made.
//!
//! Invariant: no cached bytes reach `Component::deserialize` but through
//! [`CompileCache::fetch`].

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::config::{CompileCacheSetting, PluginsConfig};
use super::private_fs::{self, Distrust, Links, Secrecy};

/// The first bytes of a cached artifact: chute's, in this format.
const MAGIC: &[u8; 8] = b"chute-c1";
/// Separates this MAC's inputs from any other use of the key.
const CONTEXT: &[u8] = b"chute compiled component v1\0";
/// Bytes of a digest or tag.
const DIGEST: usize = 32;
/// Bytes before the artifact.
const HEADER: usize = MAGIC.len() + 2 * DIGEST;
/// Larger files are refused unread (a compiled plugin is a few MiB).
const MAX_ARTIFACT: u64 = 1 << 30;
/// Bytes of the secret key.
const KEY_BYTES: usize = 32;

/// What an artifact is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// sha256 of the `.wasm` it was compiled from.
    pub wasm_sha256: [u8; DIGEST],
    /// The compatibility digest of the engine that compiled it.
    pub engine: [u8; DIGEST],
}

impl Binding {
    /// `<sha256>.cwasm`.
    fn file_name(&self) -> String {
        let mut name: String = self
            .wasm_sha256
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        name.push_str(".cwasm");
        name
    }
}

/// Where the cache and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The folder of `<sha256>.cwasm` files.
    pub dir: PathBuf,
    /// The secret key's file (outside `dir`).
    pub key: PathBuf,
}

/// Why there is no cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Off {
    /// `plugins.compile_cache = false`.
    #[error("turned off (plugins.compile_cache = false)")]
    Configured,
    /// No environment names a place for it.
    #[error(
        "off: none of CACHE_DIRECTORY, XDG_CACHE_HOME and HOME (or STATE_DIRECTORY, XDG_STATE_HOME and HOME for its key) is set; set plugins.compile_cache and plugins.compile_cache_key"
    )]
    Unplaced,
    /// The key would be inside the cache folder, where whoever writes the cache would
    /// choose it.
    #[error("off: its key {} would be inside it; set plugins.compile_cache_key elsewhere", .0.display())]
    KeyInside(PathBuf),
}

/// A cache that is not used, and why.
#[derive(Debug, Clone)]
pub struct Unusable {
    /// The folder or file at fault.
    pub path: PathBuf,
    /// What is wrong with it.
    pub why: Distrust,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}", self.path.display(), self.why)
    }
}

impl Unusable {
    /// What to do about it.
    pub fn remedy(&self) -> String {
        self.why.remedy(&self.path)
    }
}

/// What `chute doctor` says of the cache.
#[derive(Debug, Clone)]
pub enum Health {
    /// No cache, and why.
    Off(Off),
    /// Not made yet: the first compile makes it.
    Unmade(Place),
    /// Usable, holding this many compiled plugins.
    Usable(Place, usize),
    /// Present but not trusted.
    Unusable(Place, Unusable),
}

/// An artifact that passed every check: the file's bytes, read once.
pub struct Artifact {
    bytes: Vec<u8>,
    /// The file it was read from (for messages).
    pub path: PathBuf,
}

impl Artifact {
    /// The compiled component, as `Engine::precompile_component` made it.
    pub fn code(&self) -> &[u8] {
        &self.bytes[HEADER..]
    }
}

/// The cache folder, opened and checked, and the keyed MAC.
struct Opened {
    dir: OwnedFd,
    mac: Hmac<Sha256>,
}

/// The compile cache of this process: where it is, and (on first use) its folder
/// opened and its key read.
pub struct CompileCache {
    place: Result<Place, Off>,
    opened: OnceLock<Option<Opened>>,
}

impl CompileCache {
    /// The cache `plugins` configures, in the places the environment gives.
    pub fn from_config(plugins: &PluginsConfig) -> CompileCache {
        let place = resolve(
            &plugins.compile_cache,
            &plugins.compile_cache_key,
            &|name| std::env::var_os(name),
        );
        CompileCache {
            place,
            opened: OnceLock::new(),
        }
    }

    /// A cache in `dir` with its key in `key`.
    pub fn at(dir: &Path, key: &Path) -> CompileCache {
        CompileCache {
            place: Ok(Place {
                dir: dir.to_owned(),
                key: key.to_owned(),
            }),
            opened: OnceLock::new(),
        }
    }

    /// No cache: every load compiles.
    pub fn off() -> CompileCache {
        CompileCache {
            place: Err(Off::Configured),
            opened: OnceLock::new(),
        }
    }

    /// Where the cache is, or why there is none.
    pub fn place(&self) -> Result<&Place, &Off> {
        self.place.as_ref()
    }

    /// The folder and key, made on first use; `None` (warned once) when they are not
    /// trusted.
    fn opened(&self) -> Option<&Opened> {
        self.opened
            .get_or_init(|| {
                let place = self.place.as_ref().ok()?;
                match open(place) {
                    Ok(opened) => Some(opened),
                    Err(unusable) => {
                        tracing::warn!(
                            path = %unusable.path.display(),
                            "The compile cache is not used: {unusable}. Plugins are compiled in memory at every start until you {} (or set plugins.compile_cache to a folder of your own, or to false).",
                            unusable.remedy()
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The cached artifact bound to `binding`, when there is one and it passes every
    /// check. One that does not is logged, removed and not returned.
    pub fn fetch(&self, binding: &Binding) -> Option<Artifact> {
        let opened = self.opened()?;
        let place = self.place.as_ref().ok()?;
        let name = binding.file_name();
        let path = place.dir.join(&name);
        let max = MAX_ARTIFACT + HEADER as u64;
        let rejected = match private_fs::read_file(&opened.dir, &name, Secrecy::Public, max) {
            Ok(None) => return None,
            Ok(Some(bytes)) => match verify(&opened.mac, binding, &bytes) {
                Ok(()) => return Some(Artifact { bytes, path }),
                Err(Rejection::OtherEngine) => {
                    tracing::info!(path = %path.display(), "A compiled plugin was made by another chute or wasmtime; compiling it again.");
                    None
                }
                Err(Rejection::Forged(why)) => Some(why.to_owned()),
            },
            Err(why) => Some(format!("it {why}")),
        };
        if let Some(why) = rejected {
            tracing::warn!(
                path = %path.display(),
                "Ignoring the compiled plugin {}: {why}. It is not run; it is removed and the plugin compiled again.",
                path.display()
            );
        }
        if let Err(error) = private_fs::remove(&opened.dir, &name) {
            tracing::warn!(path = %path.display(), %error, "Cannot remove a compiled plugin that is not used; remove it by hand.");
        }
        None
    }

    /// Stores `artifact` (just compiled by this process) for `binding`; a failure is
    /// logged and costs only a compile at the next start.
    pub fn store(&self, binding: &Binding, artifact: &[u8]) {
        let Some(opened) = self.opened() else {
            return;
        };
        let tag = mac(&opened.mac, binding, artifact);
        let mut bytes = Vec::with_capacity(HEADER + artifact.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&binding.engine);
        bytes.extend_from_slice(&tag);
        bytes.extend_from_slice(artifact);
        if let Err(error) = private_fs::replace_file(&opened.dir, &binding.file_name(), &bytes) {
            let dir = self
                .place
                .as_ref()
                .map(|place| place.dir.display().to_string());
            tracing::warn!(dir = %dir.unwrap_or_default(), %error, "Cannot cache the compiled plugin; it will be compiled again next start.");
        }
    }

    /// Whether the cache is usable, without making anything (for `chute doctor`).
    pub fn health(&self) -> Health {
        let place = match &self.place {
            Ok(place) => place.clone(),
            Err(off) => return Health::Off(off.clone()),
        };
        if std::fs::symlink_metadata(&place.dir).is_err() {
            return Health::Unmade(place);
        }
        let checked = private_fs::open_dir(&place.dir, false, Links::Refuse)
            .map_err(|why| Unusable {
                path: place.dir.clone(),
                why,
            })
            .and_then(|_| read_key(&place.key, false));
        if let Err(unusable) = checked {
            return Health::Unusable(place, unusable);
        }
        let artifacts = std::fs::read_dir(&place.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".cwasm"))
            .count();
        Health::Usable(place, artifacts)
    }
}

/// The place `setting` and `key` name, defaults from `env`.
fn resolve(
    setting: &CompileCacheSetting,
    key: &Path,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<Place, Off> {
    let dir = match setting {
        CompileCacheSetting::Off => return Err(Off::Configured),
        CompileCacheSetting::Dir(dir) => dir.clone(),
        CompileCacheSetting::Default => default_place(
            env,
            "CACHE_DIRECTORY",
            "XDG_CACHE_HOME",
            ".cache",
            "components",
        )
        .ok_or(Off::Unplaced)?,
    };
    let key = if key.as_os_str().is_empty() {
        default_place(
            env,
            "STATE_DIRECTORY",
            "XDG_STATE_HOME",
            ".local/state",
            "compile-cache.key",
        )
        .ok_or(Off::Unplaced)?
    } else {
        key.to_owned()
    };
    if key.starts_with(&dir) {
        return Err(Off::KeyInside(key));
    }
    Ok(Place { dir, key })
}

/// `$<systemd>/<leaf>` (systemd's `CacheDirectory=`/`StateDirectory=`, the first when
/// several), else `$<xdg>/chute/<leaf>`, else `$HOME/<home>/chute/<leaf>`; relative
/// values are ignored, as the XDG specification says.
fn default_place(
    env: &dyn Fn(&str) -> Option<OsString>,
    systemd: &str,
    xdg: &str,
    home: &str,
    leaf: &str,
) -> Option<PathBuf> {
    let absolute = |name: &str| {
        let value = PathBuf::from(env(name)?);
        value.is_absolute().then_some(value)
    };
    let systemd_dir = env(systemd).and_then(|value| {
        let first = value.to_str()?.split(':').next()?.to_owned();
        let first = PathBuf::from(first);
        first.is_absolute().then_some(first)
    });
    systemd_dir
        .map(|dir| dir.join(leaf))
        .or_else(|| absolute(xdg).map(|dir| dir.join("chute").join(leaf)))
        .or_else(|| absolute("HOME").map(|dir| dir.join(home).join("chute").join(leaf)))
}

/// Opens (making it when missing) the cache folder, and reads or makes the key.
fn open(place: &Place) -> Result<Opened, Unusable> {
    let dir = private_fs::open_dir(&place.dir, true, Links::Refuse).map_err(|why| Unusable {
        path: place.dir.clone(),
        why,
    })?;
    let not_a_key = || Unusable {
        path: place.key.clone(),
        why: Distrust::Kind("32-byte key"),
    };
    let key = read_key(&place.key, true)?.ok_or_else(not_a_key)?;
    let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| not_a_key())?;
    Ok(Opened { dir, mac })
}

/// The secret key; with `create`, made (random, mode 0600) when missing, else `None`
/// when there is none yet.
fn read_key(path: &Path, create: bool) -> Result<Option<Vec<u8>>, Unusable> {
    let unusable = |at: &Path, why| Unusable {
        path: at.to_owned(),
        why,
    };
    let (Some(parent), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
    else {
        return Err(unusable(path, Distrust::Kind("key file name")));
    };
    if !create && std::fs::symlink_metadata(parent).is_err() {
        return Ok(None);
    }
    // The key's folder may be a link (systemd's DynamicUser=): what counts is that the
    // folder it leads to is this user's alone, as fstat says; the key itself is no link.
    let dir =
        private_fs::open_dir(parent, create, Links::Follow).map_err(|why| unusable(parent, why))?;
    // Twice at most: another process may make the key between our read and create.
    for _ in 0..2 {
        match private_fs::read_file(&dir, name, Secrecy::Secret, KEY_BYTES as u64) {
            Ok(Some(key)) if key.len() == KEY_BYTES => return Ok(Some(key)),
            Ok(Some(_)) | Err(Distrust::TooLarge(_)) => {
                return Err(unusable(path, Distrust::Kind("32-byte key")));
            }
            Err(why) => return Err(unusable(path, why)),
            Ok(None) if !create => return Ok(None),
            Ok(None) => {
                let mut key = vec![0; KEY_BYTES];
                getrandom::fill(&mut key)
                    .map_err(|error| unusable(path, Distrust::Io(error.to_string())))?;
                match private_fs::create_file(&dir, name, &key) {
                    Ok(true) => return Ok(Some(key)),
                    Ok(false) => continue,
                    Err(error) => return Err(unusable(path, Distrust::Io(error.to_string()))),
                }
            }
        }
    }
    Err(unusable(path, Distrust::Kind("32-byte key")))
}

/// Why an artifact is not used.
enum Rejection {
    /// Made by an engine with other settings or another version: stale, not hostile.
    OtherEngine,
    /// Not made by chute as this user for this plugin.
    Forged(&'static str),
}

/// Checks `bytes` (a whole file) against `binding` under the keyed `mac`; the tag is
/// compared in constant time.
fn verify(keyed: &Hmac<Sha256>, binding: &Binding, bytes: &[u8]) -> Result<(), Rejection> {
    if bytes.len() < HEADER || !bytes.starts_with(MAGIC) {
        return Err(Rejection::Forged(
            "it is not a compiled plugin chute wrote (no chute header)",
        ));
    }
    let (engine, rest) = bytes[MAGIC.len()..].split_at(DIGEST);
    let (tag, artifact) = rest.split_at(DIGEST);
    if engine != binding.engine {
        return Err(Rejection::OtherEngine);
    }
    let mut mac = keyed.clone();
    feed(&mut mac, binding, artifact);
    mac.verify_slice(tag).map_err(|_| {
        Rejection::Forged(
            "its MAC does not match: chute did not write it as this user for this plugin",
        )
    })
}

/// The tag of `artifact` bound to `binding`.
fn mac(keyed: &Hmac<Sha256>, binding: &Binding, artifact: &[u8]) -> [u8; DIGEST] {
    let mut mac = keyed.clone();
    feed(&mut mac, binding, artifact);
    mac.finalize().into_bytes().into()
}

fn feed(mac: &mut Hmac<Sha256>, binding: &Binding, artifact: &[u8]) {
    mac.update(CONTEXT);
    mac.update(&binding.wasm_sha256);
    mac.update(&binding.engine);
    mac.update(artifact);
}

#[cfg(test)]
#[path = "compile_cache_tests.rs"]
mod tests;
