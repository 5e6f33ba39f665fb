//! Native models shared by all jobs of a daemon, and the lease that makes native GPU
//! stages take turns.
//!
//! Invariant: only the holder of the lease runs native model work (whisper.cpp now,
//! llama.cpp with the summarize stage), so two models never compete for one GPU. A model
//! stays loaded between jobs; loads are logged and counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Mutex, Semaphore, SemaphorePermit};

use crate::media::whisper::{TranscribeError, WhisperModel};
use crate::models::ct2;

/// Loaded native models and the lease.
#[derive(Debug)]
pub struct NativeModels {
    lease: Semaphore,
    whisper: Mutex<Option<(PathBuf, Arc<WhisperModel>)>>,
    loads: AtomicU64,
}

impl Default for NativeModels {
    fn default() -> Self {
        Self {
            lease: Semaphore::new(1),
            whisper: Mutex::new(None),
            loads: AtomicU64::new(0),
        }
    }
}

impl NativeModels {
    /// Waits for the native lease; native model work runs while the permit lives.
    pub async fn lease(&self) -> SemaphorePermit<'_> {
        // The semaphore is never closed, so acquiring cannot fail.
        match self.lease.acquire().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("the native lease semaphore is never closed"),
        }
    }

    /// The whisper model at `path`, loaded once and kept; converted first from the
    /// faster-whisper folder `ct2_fallback` when the ggml file is missing.
    pub async fn whisper(
        &self,
        path: &Path,
        ct2_fallback: Option<&Path>,
    ) -> Result<Arc<WhisperModel>, TranscribeError> {
        let mut slot = self.whisper.lock().await;
        if let Some((loaded, model)) = slot.as_ref()
            && loaded == path
        {
            return Ok(model.clone());
        }
        if let Some((_, previous)) = slot.take() {
            tracing::info!(model = %previous.name(), "Unloading the whisper model.");
        }
        let path = path.to_owned();
        let ct2_fallback = ct2_fallback.map(Path::to_owned);
        let loaded = tokio::task::spawn_blocking(move || {
            if !path.exists()
                && let Some(ct2_dir) = ct2_fallback.filter(|dir| dir.join("model.bin").exists())
            {
                tracing::info!(from = %ct2_dir.display(), to = %path.display(), "Converting the faster-whisper model for whisper.cpp (once).");
                ct2::convert(&ct2_dir, &path).map_err(|error| TranscribeError::Model {
                    path: path.clone(),
                    reason: error.to_string(),
                })?;
            }
            WhisperModel::load(&path, cfg!(feature = "cuda")).map(|model| (path, model))
        })
        .await
        .map_err(|error| TranscribeError::Whisper(format!("model loading task failed: {error}")))??;
        let (path, model) = loaded;
        let model = Arc::new(model);
        let count = self.loads.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(model = %model.name(), loads = count, "Loaded the whisper model.");
        *slot = Some((path, model.clone()));
        Ok(model)
    }
}
