//! Native models shared by all jobs of a daemon, the lease that makes native stages take
//! turns on the device, and the memory budget that decides which models stay loaded.
//!
//! Invariants:
//! - only the holder of the lease runs native model work (whisper.cpp, llama.cpp), so two
//!   models never compete for one GPU — every take and return is logged, in order;
//! - a model stays loaded between jobs; before one is loaded, the others are unloaded if
//!   together they would exceed `native.model_budget`, and while only one fits, the lease
//!   serves stages on the loaded model first ([`super::lease`]). Loads and unloads are
//!   logged and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use super::lease::{Grant, Lease, ModelKind};

use crate::media::whisper::{TranscribeError, WhisperModel};
use crate::models::ct2;
use crate::pipeline::config::NativeConfig;
use crate::summary::worker::{LlamaWorker, WorkerFailure, WorkerSpec};

/// Loaded native models and the lease.
#[derive(Debug)]
pub struct NativeModels {
    lease: Lease,
    holders: AtomicUsize,
    /// `<job id>/<stage>` of the lease's holder, for the status of jobs waiting for it.
    holder: std::sync::Mutex<Option<String>>,
    resident: Mutex<Resident>,
    budget: NativeConfig,
    counters: Counters,
}

/// How often models were loaded and unloaded since the daemon started.
#[derive(Debug, Default)]
pub struct Counters {
    /// whisper.cpp model loads.
    pub whisper_loads: AtomicU64,
    /// llama.cpp worker starts (model loads).
    pub llama_loads: AtomicU64,
    /// Models unloaded to fit the budget (or replaced by another file).
    pub unloads: AtomicU64,
}

#[derive(Debug, Default)]
struct Resident {
    whisper: Option<(PathBuf, Arc<WhisperModel>, u64)>,
    llama: Option<(LlamaWorker, u64)>,
}

/// Proof that the caller holds the native lease; returned (and logged) when dropped.
#[derive(Debug)]
pub struct NativeLease<'a> {
    _grant: Grant<'a>,
    holders: &'a AtomicUsize,
    current: &'a std::sync::Mutex<Option<String>>,
    holder: String,
}

impl Drop for NativeLease<'_> {
    fn drop(&mut self) {
        // Logged before the grant is handed on, so the log shows takes and returns in order.
        self.holders.fetch_sub(1, Ordering::SeqCst);
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        tracing::info!(holder = %self.holder, "Native lease returned.");
    }
}

impl Default for NativeModels {
    fn default() -> Self {
        Self::new(NativeConfig::default())
    }
}

impl NativeModels {
    /// No models loaded yet; `budget` bounds what may be loaded together.
    pub fn new(budget: NativeConfig) -> Self {
        Self {
            lease: Lease::default(),
            holders: AtomicUsize::new(0),
            holder: std::sync::Mutex::new(None),
            resident: Mutex::new(Resident::default()),
            budget,
            counters: Counters::default(),
        }
    }

    /// Load and unload counts.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Waits for the native lease, for work on a `kind` model; native model work runs
    /// while it lives. `holder` names the job and stage in the log. Stages whose model is
    /// loaded are served first, then older jobs (lower `rank`) first (see [`super::lease`]).
    pub async fn lease(&self, holder: String, kind: ModelKind, rank: u128) -> NativeLease<'_> {
        let grant = self.lease.acquire_ranked(kind, rank).await;
        let holders = self.holders.fetch_add(1, Ordering::SeqCst) + 1;
        if holders != 1 {
            tracing::error!(holders, "The native lease has more than one holder.");
        }
        tracing::info!(%holder, "Native lease taken.");
        *self
            .holder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(holder.clone());
        NativeLease {
            _grant: grant,
            holders: &self.holders,
            current: &self.holder,
            holder,
        }
    }

    /// Who holds the native lease now (`<job id>/<stage>`), if anyone.
    pub fn lease_holder(&self) -> Option<String> {
        self.holder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn footprint(&self, model: &Path) -> u64 {
        std::fs::metadata(model).map(|m| m.len()).unwrap_or(0) + self.budget.working_memory.as_u64()
    }

    /// Unloads resident models other than `keep` until `incoming` more bytes fit.
    async fn make_room(&self, resident: &mut Resident, keep: ModelKind, incoming: u64) {
        let budget = self.budget.model_budget.as_u64();
        if budget == 0 {
            return;
        }
        let used = |r: &Resident| {
            r.whisper.as_ref().map_or(0, |w| w.2) + r.llama.as_ref().map_or(0, |l| l.1)
        };
        if used(resident) + incoming <= budget {
            return;
        }
        if keep != ModelKind::Whisper
            && let Some((_, model, _)) = resident.whisper.take()
        {
            self.counters.unloads.fetch_add(1, Ordering::Relaxed);
            crate::metrics::metrics().model_unloaded();
            self.lease.set_resident(ModelKind::Whisper, false);
            tracing::info!(model = %model.name(), budget = %self.budget.model_budget, "Unloading the whisper model to fit the model budget.");
        }
        if keep != ModelKind::Llama
            && used(resident) + incoming > budget
            && let Some((worker, _)) = resident.llama.take()
        {
            self.counters.unloads.fetch_add(1, Ordering::Relaxed);
            crate::metrics::metrics().model_unloaded();
            self.lease.set_resident(ModelKind::Llama, false);
            tracing::info!(model = %worker.ready().model, budget = %self.budget.model_budget, "Unloading the llama.cpp model to fit the model budget.");
            worker.stop().await;
        }
        if incoming > budget {
            tracing::warn!(budget = %self.budget.model_budget, needed = incoming, "A model is larger than native.model_budget on its own; loading it alone.");
        }
    }

    /// The whisper model at `path`, loaded once and kept; converted first from the
    /// faster-whisper folder `ct2_fallback` (with its matrices as `weights`) when the
    /// ggml file is missing.
    pub async fn whisper(
        &self,
        _lease: &NativeLease<'_>,
        path: &Path,
        ct2_fallback: Option<&Path>,
        weights: ct2::Weights,
    ) -> Result<Arc<WhisperModel>, TranscribeError> {
        let mut resident = self.resident.lock().await;
        if let Some((loaded, model, _)) = resident.whisper.as_ref()
            && loaded == path
        {
            return Ok(model.clone());
        }
        if let Some((_, previous, _)) = resident.whisper.take() {
            self.counters.unloads.fetch_add(1, Ordering::Relaxed);
            crate::metrics::metrics().model_unloaded();
            self.lease.set_resident(ModelKind::Whisper, false);
            tracing::info!(model = %previous.name(), "Unloading the whisper model (another one is configured).");
        }
        let path = path.to_owned();
        let ct2_fallback = ct2_fallback.map(Path::to_owned);
        let converted_path = path.clone();
        tokio::task::spawn_blocking(move || {
            convert_if_missing(&converted_path, ct2_fallback, weights)
        })
        .await
        .map_err(|error| {
            TranscribeError::Whisper(format!("model conversion task failed: {error}"))
        })??;
        let footprint = self.footprint(&path);
        self.make_room(&mut resident, ModelKind::Whisper, footprint)
            .await;
        let load_path = path.clone();
        let model = tokio::task::spawn_blocking(move || {
            WhisperModel::load(&load_path, cfg!(feature = "cuda"))
        })
        .await
        .map_err(|error| {
            TranscribeError::Whisper(format!("model loading task failed: {error}"))
        })??;
        let model = Arc::new(model);
        let count = self.counters.whisper_loads.fetch_add(1, Ordering::Relaxed) + 1;
        crate::metrics::metrics().model_loaded("whisper");
        tracing::info!(model = %model.name(), loads = count, "Loaded the whisper model.");
        resident.whisper = Some((path, model.clone(), footprint));
        self.lease.set_resident(ModelKind::Whisper, true);
        Ok(model)
    }

    /// The llama.cpp worker for `spec`, started (model loaded) if needed and kept.
    pub async fn llama<'a>(
        &'a self,
        _lease: &NativeLease<'_>,
        spec: &WorkerSpec,
        load_timeout: Duration,
    ) -> Result<MappedMutexGuard<'a, LlamaWorker>, WorkerFailure> {
        let mut resident = self.resident.lock().await;
        let reusable = resident
            .llama
            .as_ref()
            .is_some_and(|(worker, _)| worker.spec() == spec);
        if !reusable {
            if let Some((previous, _)) = resident.llama.take() {
                self.counters.unloads.fetch_add(1, Ordering::Relaxed);
                crate::metrics::metrics().model_unloaded();
                self.lease.set_resident(ModelKind::Llama, false);
                tracing::info!(model = %previous.ready().model, "Stopping the llama.cpp worker (another model or setting is configured).");
                previous.stop().await;
            }
            let footprint = self.footprint(&spec.model);
            self.make_room(&mut resident, ModelKind::Llama, footprint)
                .await;
            let worker = LlamaWorker::start(spec, load_timeout).await?;
            let count = self.counters.llama_loads.fetch_add(1, Ordering::Relaxed) + 1;
            crate::metrics::metrics().model_loaded("llama");
            let ready = worker.ready();
            tracing::info!(model = %ready.model, device = %ready.device, context = ready.context, load_seconds = ready.load_seconds, loads = count, "Loaded the llama.cpp model.");
            resident.llama = Some((worker, footprint));
            self.lease.set_resident(ModelKind::Llama, true);
        }
        MutexGuard::try_map(resident, |r| r.llama.as_mut().map(|(worker, _)| worker))
            .map_err(|_| WorkerFailure::Start("the llama.cpp worker vanished".into()))
    }

    /// Forgets the llama.cpp worker after it died, so the next use starts a new one.
    pub async fn discard_llama(&self) {
        if let Some((worker, _)) = self.resident.lock().await.llama.take() {
            self.lease.set_resident(ModelKind::Llama, false);
            tracing::warn!(model = %worker.ready().model, "Discarding the llama.cpp worker.");
            worker.stop().await;
        }
    }
}

fn convert_if_missing(
    path: &Path,
    ct2_fallback: Option<PathBuf>,
    weights: ct2::Weights,
) -> Result<(), TranscribeError> {
    if let Some(ct2_dir) = ct2_fallback {
        ct2::convert_if_missing(&ct2_dir, path, weights).map_err(|error| {
            TranscribeError::Model {
                path: path.to_owned(),
                reason: error.to_string(),
            }
        })?;
    }
    Ok(())
}
