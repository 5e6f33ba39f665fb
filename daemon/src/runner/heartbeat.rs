//! While a job runs: job.json's heartbeat (so peers on other hosts see its owner is
//! alive), the watch for a `cancel` file written by `chute cancel`, and the fence: a
//! heartbeat refused because another daemon adopted the job stops the job at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::job::JobDir;

/// Refreshes job.json's heartbeat every `interval` and fires `cancel` when a cancel
/// request appears or the job's fence is lost; runs until aborted.
pub(super) fn spawn(
    job: JobDir,
    cancel: CancellationToken,
    record_lock: Arc<Mutex<()>>,
    interval: Duration,
    durable: bool,
) -> tokio::task::JoinHandle<()> {
    let poll = interval.min(Duration::from_millis(500));
    tokio::spawn(async move {
        let mut last_beat = tokio::time::Instant::now() - interval;
        loop {
            if !cancel.is_cancelled()
                && let Some(reason) = job.fence().and_then(|fence| fence.lost())
            {
                tracing::warn!(job_id = %job.id, %reason, "This daemon no longer owns the job (or cannot confirm it does); stopping it here.");
                cancel.cancel();
            }
            if !cancel.is_cancelled() && job.cancel_path().exists() {
                tracing::info!(job_id = %job.id, "Cancel requested (chute cancel); stopping the job.");
                cancel.cancel();
            }
            if last_beat.elapsed() >= interval {
                last_beat = tokio::time::Instant::now();
                let job = job.clone();
                let record_lock = record_lock.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let _guard = record_lock.lock().unwrap_or_else(|p| p.into_inner());
                    if let Ok(Some(mut record)) = job.read_record() {
                        record.heartbeat = Some(Utc::now());
                        if let Err(error) = job.write_record(&record, durable)
                            && error.kind() != std::io::ErrorKind::NotFound
                            && crate::job::fence::fenced_off(&error).is_none()
                        {
                            tracing::warn!(job_id = %job.id, %error, "Could not refresh the job's heartbeat.");
                        }
                    }
                })
                .await;
            }
            tokio::time::sleep(poll).await;
        }
    })
}
