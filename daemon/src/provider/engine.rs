//! The one wasmtime `Engine` every plugin shares, its epoch clock, and the on-disk
//! cache of compiled components.
//!
//! Cranelift only (no Winch). Epoch interruption drives the per-call deadline: a
//! background thread advances the epoch every [`EPOCH_TICK`], and each call's store
//! checks its wall-clock budget on every tick (see `plugin.rs`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Strategy};

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

/// A component, compiled once and cached as `<cache>/<sha256>.cwasm`.
pub struct Compiled {
    /// The component, ready to link.
    pub component: Component,
    /// Hex sha256 of the .wasm bytes.
    pub sha256: String,
    /// True when it came from the cache rather than a fresh compile.
    pub from_cache: bool,
}

/// Loads `wasm`: from the compile cache when it holds this exact file (by sha256),
/// else compiles it and stores the result for next time. `pinned`, when set, must
/// equal the file's sha256.
pub fn load(wasm: &Path, cache: &Path, pinned: Option<&str>) -> Result<Compiled, CompileError> {
    let bytes = std::fs::read(wasm).map_err(|source| CompileError::Read {
        path: wasm.to_owned(),
        source,
    })?;
    let sha256 = hex(&Sha256::digest(&bytes));
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
    let cached = cache.join(format!("{sha256}.cwasm"));
    if let Some(component) = load_cached(&cached) {
        return Ok(Compiled {
            component,
            sha256,
            from_cache: true,
        });
    }
    let serialized = engine().precompile_component(&bytes).map_err(invalid)?;
    if let Err(error) = store_cached(cache, &cached, &serialized) {
        tracing::warn!(cache = %cache.display(), %error, "Cannot cache the compiled plugin; it will be compiled again next start.");
    }
    // SAFETY: `serialized` was produced by this engine a moment ago.
    #[allow(unsafe_code)]
    let component = unsafe { Component::deserialize(engine(), &serialized) }.map_err(invalid)?;
    Ok(Compiled {
        component,
        sha256,
        from_cache: false,
    })
}

/// A cached compile, if one exists and suits this engine (wasmtime checks the
/// version and settings recorded in the file and refuses a mismatch).
fn load_cached(path: &Path) -> Option<Component> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: the cache folder is private to chute (created 0700 in the spool, which
    // only the chute user can write), and the file name is the sha256 of the .wasm it
    // was compiled from; wasmtime validates the header against this engine.
    #[allow(unsafe_code)]
    match unsafe { Component::deserialize_file(engine(), path) } {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::info!(path = %path.display(), %error, "Ignoring a stale compiled plugin; compiling again.");
            None
        }
    }
}

fn store_cached(cache: &Path, path: &Path, serialized: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cache)?;
    let mut file = tempfile::NamedTempFile::new_in(cache)?;
    std::io::Write::write_all(&mut file, serialized)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
