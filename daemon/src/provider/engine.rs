//! The one wasmtime `Engine` every plugin shares, its epoch clock, and loading a
//! component: from the compile cache (`compile_cache.rs`) when it holds an authentic
//! artifact, else compiled here.
//!
//! Cranelift only (no Winch). Epoch interruption drives the per-call deadline: a
//! background thread advances the epoch every [`EPOCH_TICK`], and each call's store
//! checks its wall-clock budget on every tick (see `plugin.rs`).

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Strategy};

use super::compile_cache::{Binding, CompileCache};
use crate::digest::hex;

/// How often the epoch advances; the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Why a component could not be compiled or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The .wasm file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a valid component for this engine.
    #[error("{path} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// The plugin file.
        path: PathBuf,
        /// wasmtime's explanation.
        message: String,
    },
    /// The operator pinned another sha256 for this plugin.
    #[error("{path} has sha256 {actual}, but the config pins {pinned}: refusing to load it")]
    Pinned {
        /// The plugin file.
        path: PathBuf,
        /// The file's digest.
        actual: String,
        /// The configured digest.
        pinned: String,
    },
}

/// The shared engine (created on first use, with its epoch thread).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config
            .strategy(Strategy::Cranelift)
            .wasm_component_model(true)
            .epoch_interruption(true)
            // Small guest stacks keep a runaway recursion cheap; 1 MiB is plenty for
            // request shaping.
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&config).expect("the wasmtime configuration is valid");
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("chute-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .expect("the epoch thread starts");
        engine
    })
}

/// A component, compiled here or taken from the compile cache.
pub struct Compiled {
    /// The component, ready to link.
    pub component: Component,
    /// Hex sha256 of the .wasm bytes.
    pub sha256: String,
    /// True when it came from the cache rather than a fresh compile.
    pub from_cache: bool,
}

/// The digest of this engine's compatibility hash (its wasmtime version and the
/// settings compiled code depends on): cached artifacts are bound to it.
pub fn compatibility() -> [u8; 32] {
    static DIGEST: OnceLock<[u8; 32]> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        let mut hasher = DigestHasher(Sha256::new());
        engine().precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.finalize().into()
    })
}

/// A `Hasher` that feeds sha256, so a `Hash` gives a digest that does not depend on
/// std's hasher.
struct DigestHasher(Sha256);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        digest
            .iter()
            .take(8)
            .fold(0, |value, byte| (value << 8) | u64::from(*byte))
    }
}

/// Loads `wasm`: from the compile cache when it holds an authentic artifact of this
/// exact file (see `compile_cache.rs`), else compiles it and stores the result for
/// next time. `pinned`, when set, must equal the file's sha256.
pub fn load(
    wasm: &Path,
    cache: &CompileCache,
    pinned: Option<&str>,
) -> Result<Compiled, CompileError> {
    let bytes = std::fs::read(wasm).map_err(|source| CompileError::Read {
        path: wasm.to_owned(),
        source,
    })?;
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    let sha256 = hex(&digest);
    if let Some(pinned) = pinned
        && !pinned.eq_ignore_ascii_case(&sha256)
    {
        return Err(CompileError::Pinned {
            path: wasm.to_owned(),
            actual: sha256,
            pinned: pinned.to_owned(),
        });
    }
    let invalid = |error: wasmtime::Error| CompileError::Invalid {
        path: wasm.to_owned(),
        message: format!("{error:#}"),
    };
    let binding = Binding {
        wasm_sha256: digest,
        engine: compatibility(),
    };
    if let Some(artifact) = cache.fetch(&binding) {
        // SAFETY: these bytes are exactly what passed `CompileCache::fetch`: read once
        // from a file and folder owned by this user and writable by no one else, and
        // carrying an HMAC under this user's secret key over these bytes, this .wasm's
        // sha256 and this engine's compatibility digest, which only this user's chute
        // writes, after compiling with this engine. wasmtime checks the header too.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize(engine(), artifact.code()) } {
            Ok(component) => {
                return Ok(Compiled {
                    component,
                    sha256,
                    from_cache: true,
                });
            }
            Err(error) => {
                tracing::info!(path = %artifact.path.display(), %error, "A compiled plugin does not load into this engine; compiling it again.");
            }
        }
    }
    let serialized = engine().precompile_component(&bytes).map_err(invalid)?;
    cache.store(&binding, &serialized);
    // SAFETY: `serialized` was produced by this engine a moment ago and never left
    // this process's memory.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine(), &serialized) }.map_err(invalid)?;
    Ok(Compiled {
        component,
        sha256,
        from_cache: false,
    })
}
