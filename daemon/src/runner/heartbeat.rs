//! While a job runs: job.json's heartbeat (so peers on other hosts see its owner is
//! alive) and the watch for a `cancel` file written by `chute cancel`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::job::JobDir;

/// Refreshes job.json's heartbeat every `interval` and fires `cancel` when a cancel
/// request appears; runs until aborted.
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
