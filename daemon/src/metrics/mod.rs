//! Prometheus metrics: jobs by route and state, stage durations, provider calls and
//! key cool-downs by key fingerprint, queue depth, disk use, model loads, hooks.
//!
//! - `registry.rs`: the families and the calls that record into them ([`metrics`]).
//! - `format.rs`: OpenMetrics and Prometheus text 0.0.4.
//! - `http.rs`: `GET /metrics` on a loopback address (`metrics.listen`).
//! - `textfile.rs`: the node-exporter textfile (`metrics.textfile`).
//! - `config.rs`: `[metrics]`.
//!
//! Counting always happens (it is a few atomic adds); the exporters run only when
//! configured ([`start`]).

pub mod config;
pub mod format;
mod http;
mod registry;
pub mod textfile;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use registry::{Metrics, metrics};

use crate::queue::JobQueue;
use crate::status::{ClaimHold, DaemonStatus};

/// What the gauges are read from at each scrape or write.
#[derive(Clone)]
pub struct Sources {
    /// The daemon's queue (queued and known jobs).
    pub queue: Arc<JobQueue>,
    /// The daemon's status (disk reading, claim hold).
    pub status: Arc<DaemonStatus>,
    /// `limits.max_queue_depth`.
    pub capacity: usize,
}

impl Sources {
    /// Sets the gauges from the queue and the status.
    pub fn refresh(&self) {
        let queued = self.queue.queued();
        let running = self.queue.known().saturating_sub(queued);
        let metrics = metrics();
        metrics.set_jobs(queued, running, self.capacity);
        let hold = self.status.claim_hold().map(|hold| match hold {
            ClaimHold::Paused => "paused",
            ClaimHold::Draining => "draining",
            ClaimHold::DiskFull => "disk_full",
        });
        let disk = self
            .status
            .disk()
            .map(|disk| (disk.used_percent, disk.inodes_used_percent));
        metrics.set_status(disk, hold);
    }
}

/// The running exporters; dropping it stops them (the textfile is written once more).
#[derive(Debug)]
pub struct Exporters {
    stop: CancellationToken,
    /// Where the endpoint listens, when it does (the port the system gave for `:0`).
    pub listening: Option<SocketAddr>,
}

impl Drop for Exporters {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts the exporters `config` asks for. An endpoint that cannot listen is an error
/// (the operator asked for it); a textfile that cannot be written is logged and tried
/// again at every interval.
pub fn start(config: &config::MetricsConfig, sources: Sources) -> Result<Exporters, String> {
    let stop = CancellationToken::new();
    let mut listening = None;
    if let Some(address) = config.listen_address().map_err(|error| error.to_string())? {
        let (bound, _task) =
            http::serve(address, sources.clone(), stop.clone()).map_err(|error| {
                format!("cannot serve the metrics on {address} (metrics.listen): {error}")
            })?;
        tracing::info!(address = %bound, "Serving metrics at /metrics.");
        listening = Some(bound);
    }
    if let Some(path) = config.textfile() {
        tracing::info!(file = %path.display(), interval = ?config.interval, "Writing the metrics textfile.");
        let _task = textfile::spawn(path.to_owned(), config.interval, sources, stop.clone());
    }
    Ok(Exporters { stop, listening })
}
