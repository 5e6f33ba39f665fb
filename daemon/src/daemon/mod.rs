//! The daemon: wires the intake, the queue and the job runners together and handles
//! shutdown. `run(config, shutdown)` is the whole daemon, so tests can start it in-process.
//! `harden.rs`: what `chute run` does to its own process first (no core dumps, not
//! dumpable, umask 027); `status.rs`: what holds claiming and what the reports show.

pub mod config;
pub mod harden;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::housekeeping;
use crate::intake::{Intake, IntakeMessage};
use crate::pipeline::native::NativeModels;
use crate::pipeline::slot::JobSlot;
use crate::queue::JobQueue;
use crate::runner::{RunOutcome, Runner};
use crate::spool::owner::{self, DaemonRecord, Owner};
use crate::spool::{Spool, fsutil};

/// A problem that stops the daemon (exit code 1), with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum FatalError {
    /// The spool folders could not be created.
    #[error(
        "cannot create the spool folders under {path}: {source} (check that the folder is writable by the chute user)"
    )]
    SpoolLayout {
        /// Spool root.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The inboxes could not be watched.
    #[error(
        "cannot watch the inboxes: {0} (raise fs.inotify.max_user_watches or max_user_instances)"
    )]
    Watch(#[from] notify::Error),
    /// Any other start-up failure.
    #[error("{0}")]
    Other(String),
}

/// Runs the daemon on `config.spool.root` until `shutdown` fires; then lets running
/// stages reach a checkpoint (up to `limits.shutdown_grace`) and returns.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), FatalError> {
    run_notifying(config, shutdown, || {}).await
}

/// [`run`], calling `on_ready` once the daemon is ready: the spool is laid out, the
/// inboxes are watched, its record is in `daemons/` and the plugins are loaded (the
/// moment systemd is told READY=1). Tests that start the daemon in-process wait for it.
pub async fn run_notifying(
    mut config: Config,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), FatalError> {
    let routes = config.effective_routes();
    let layout_error = |source| FatalError::SpoolLayout {
        path: config.spool.root.display().to_string(),
        source,
    };
    Spool::new(config.spool.root.clone())
        .create_layout(routes.iter().map(|route| route.name.as_str()))
        .map_err(layout_error)?;
    // The watcher reports absolute paths; so must every path we compare with them.
    config.spool.root = std::fs::canonicalize(&config.spool.root).map_err(layout_error)?;
    let config = Arc::new(config);
    let spool = Spool::new(config.spool.root.clone());

    let (sender, receiver) = std::sync::mpsc::channel::<IntakeMessage>();
    let room_sender = std::sync::Mutex::new(sender.clone());
    let queue = Arc::new(JobQueue::new(
        config.limits.max_queue_depth,
        Box::new(move || {
            if let Ok(sender) = room_sender.lock() {
                let _ = sender.send(IntakeMessage::QueueRoom);
            }
        }),
    ));
    let status = Arc::new(status::DaemonStatus::default());
    let housekeeping = housekeeping::spawn(spool.clone(), config.clone(), status.clone());
    let intake = Intake::new(
        spool.clone(),
        config.clone(),
        routes.clone(),
        queue.clone(),
        status.clone(),
    );
    let watcher = intake.watch(sender.clone())?;
    let intake_thread = std::thread::Builder::new()
        .name("chute-intake".into())
        .spawn(move || intake.run(receiver))
        .map_err(|error| FatalError::Other(format!("cannot start the intake thread: {error}")))?;

    let pruned = owner::prune_dead_records(&spool.daemons());
    if pruned > 0 {
        tracing::info!(
            records = pruned,
            "Removed the daemons/ records of daemons of this host that are gone."
        );
    }
    let me = Owner::current();
    let record = DaemonRecord {
        owner: me.clone(),
        started_at: Some(Utc::now()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let record_path = owner::write_daemon_record(&spool.daemons(), &record).map_err(|error| {
        FatalError::Other(format!(
            "cannot write the daemon record in daemons/: {error}"
        ))
    })?;
    // Plugins are compiled (or taken from the cache) before the daemon says it is ready.
    let providers = Arc::new(crate::provider::Providers::load(&config, spool.root()).await);
    let route_names: Vec<String> = routes
        .iter()
        .map(|route| format!("{} ({})", route.name, route.pipeline.name()))
        .collect();
    tracing::info!(
        spool = %spool.root().display(),
        config = %config.source.as_deref().map_or_else(|| "built-in defaults".to_owned(), |path| path.display().to_string()),
        routes = %route_names.join(", "),
        whisper = %config.models.resolve(&config.transcribe.model).display(),
        llm = %config.models.resolve(&config.summarize.model).display(),
        plugins = providers.providers.len(),
        pid = me.pid,
        "chute is ready."
    );
    // Metrics exporters and pending webhooks; stopped when this guard drops at the end.
    let _integrations = crate::integrations::start(&config, &spool, queue.clone(), status.clone())
        .map_err(FatalError::Other)?;
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    on_ready();

    let runner = Arc::new(Runner::new(
        spool.clone(),
        config.clone(),
        routes
            .into_iter()
            .map(|route| (route.name.clone(), route))
            .collect::<HashMap<_, _>>(),
        Arc::new(NativeModels::new(config.native.clone())),
        providers,
    ));
    let heartbeat = spawn_daemon_heartbeat(
        spool.clone(),
        record.clone(),
        queue.clone(),
        runner.providers.clone(),
        config.spool.heartbeat_interval,
    );

    let slots = Arc::new(Semaphore::new(config.limits.max_running_jobs));
    let mut running = JoinSet::new();
    loop {
        // The job first, then its slot: a slot is never held idle while the queue is
        // empty, so a job that gave its slot back can always get one again.
        let id = tokio::select! {
            () = shutdown.cancelled() => break,
            id = queue.pop() => id,
        };
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let runner = runner.clone();
        let queue = queue.clone();
        let slots = slots.clone();
        running.spawn(async move {
            // Forgotten even if the runner panics, so a rescan can pick the job up again.
            let _forget = Forget(queue.clone(), id);
            let queue_for_start = queue.clone();
            let slot = Arc::new(JobSlot::new(slots.clone(), permit));
            runner
                .run(id, slot, move || queue_for_start.started())
                .await
        });
        while let Some(finished) = running.try_join_next() {
            log_join(finished);
        }
    }

    while let Some(finished) = running.try_join_next() {
        log_join(finished);
    }
    tracing::info!(
        running = running.len(),
        "Shutting down: no new claims; running stages may reach a checkpoint."
    );
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    let _ = sender.send(IntakeMessage::Shutdown);
    drop(watcher);
    runner.drain.cancel();
    let grace = config.limits.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while let Some(finished) = running.join_next().await {
            log_join(finished);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            ?grace,
            "Shutdown grace ran out; stopping the remaining stages (they resume after restart)."
        );
        runner.stop.cancel();
        if tokio::time::timeout(Duration::from_secs(2), async {
            while running.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            running.abort_all();
        }
    }
    heartbeat.abort();
    housekeeping.stop();
    let _ = intake_thread.join();
    let _ = std::fs::remove_file(&record_path);
    tracing::info!("chute stopped.");
    Ok(())
}

/// Removes a job from the queue's known set when its task ends, however it ends.
struct Forget(Arc<JobQueue>, uuid::Uuid);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.forget(self.1);
    }
}

fn log_join(finished: Result<RunOutcome, tokio::task::JoinError>) {
    if let Err(error) = finished {
        tracing::error!(%error, "A job task panicked; the job stays in jobs/ and is retried at the next rescan.");
    }
}

/// Refreshes this daemon's record (its heartbeat for peers on other hosts) and tells
/// systemd how many jobs are queued and running.
fn spawn_daemon_heartbeat(
    spool: Spool,
    record: DaemonRecord,
    queue: Arc<JobQueue>,
    providers: Arc<crate::provider::Providers>,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            let daemons = spool.daemons();
            let health_path = spool.key_health(&record.owner);
            let record = record.clone();
            // Key health (by fingerprint) for `chute doctor`, next to the daemon record.
            let health = providers.key_health();
            let _ = tokio::task::spawn_blocking(move || {
                if !health.is_empty() {
                    let _ = fsutil::write_json_atomic(&health_path, &health, false);
                }
                owner::write_daemon_record(&daemons, &record)
            })
            .await;
            let queued = queue.queued();
            let running = queue.known().saturating_sub(queued);
            notify_systemd(&[
                sd_notify::NotifyState::Status(&format!("{queued} queued, {running} running")),
                sd_notify::NotifyState::Watchdog,
            ]);
        }
    })
}

fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(error) = sd_notify::notify(false, states)
    {
        tracing::warn!(%error, "Could not notify systemd.");
    }
}
