//! What the daemon offers other tools besides its spool, started in one call when the
//! daemon starts: the metrics exporters (`[metrics]`) and the webhook events a previous
//! daemon left pending (`hooks/pending/`). Dropping the returned guard stops the
//! exporters.

use std::sync::Arc;

use crate::config::Config;
use crate::hooks::Hooks;
use crate::metrics::{self, Exporters, Sources};
use crate::queue::JobQueue;
use crate::spool::Spool;
use crate::status::DaemonStatus;

/// The running integrations; dropping it stops them.
#[derive(Debug)]
pub struct Integrations {
    /// The metrics exporters (where the endpoint listens, if it does).
    pub exporters: Exporters,
}

/// Starts the metrics exporters and resends pending webhook events. Fails (with a
/// message naming the key) only when a configured metrics endpoint cannot listen.
pub fn start(
    config: &Config,
    spool: &Spool,
    queue: Arc<JobQueue>,
    status: Arc<DaemonStatus>,
) -> Result<Integrations, String> {
    let sources = Sources {
        queue,
        status,
        capacity: config.limits.max_queue_depth,
    };
    let exporters = metrics::start(&config.metrics, sources)?;
    Hooks::new(spool.clone(), config.spool.fsync).resend_pending();
    Ok(Integrations { exporters })
}
