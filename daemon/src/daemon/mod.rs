//! The daemon: wires the intake, the queue and the job runners together and handles
//! shutdown. `run(config, shutdown)` is the whole daemon, so tests can start it in-process;
//! [`run_with`] also takes a reload trigger (`chute run` sends one per SIGHUP).
//!
//! - `dispatch.rs`: the loop that starts queued jobs (and stops starting them while
//!   draining); `notify.rs`: what systemd is told (READY, STATUS, WATCHDOG, RELOADING,
//!   STOPPING); `reload.rs`: re-reading the configuration; `controls.rs`: the
//!   operator's controls persisted in the spool; `operator.rs`: the daemon following
//!   them, and its record in `daemons/`; `harden.rs`: what `chute run` does to its own
//!   process first. What holds claiming is [`crate::status`], shared with the intake
//!   and the housekeeper.

pub mod config;
pub mod controls;
mod dispatch;
pub mod harden;
pub mod notify;
mod operator;
pub mod reload;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::housekeeping;
use crate::intake::{Intake, IntakeMessage};
use crate::pipeline::native::NativeModels;
use crate::queue::JobQueue;
use crate::runner::Runner;
use crate::spool::Spool;
use crate::spool::owner::{self, DaemonRecord, Owner};
use crate::status;
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
    Watch(#[from] ::notify::Error),
    /// Any other start-up failure.
    #[error("{0}")]
    Other(String),
}

/// What the daemon's background tasks share (housekeeping, metrics): the spool, the
/// configuration as reloads publish it, the shared status and the shutdown token.
#[derive(Clone)]
pub struct DaemonContext {
    /// The spool (its root canonical).
    pub spool: Spool,
    /// The current configuration: `borrow()` for now, `changed().await` to follow
    /// reloads. Restart-only keys keep the value the daemon started with.
    pub config: watch::Receiver<Arc<Config>>,
    /// What holds claiming and what the reports show.
    pub status: Arc<status::DaemonStatus>,
    /// Fires when the daemon stops.
    pub shutdown: CancellationToken,
}

/// Starts the background tasks that follow the daemon's context (the housekeeper's
/// disk monitor and retention schedule); they are aborted at shutdown.
fn spawn_background(context: &DaemonContext) -> Vec<tokio::task::JoinHandle<()>> {
    housekeeping::spawn(
        context.spool.clone(),
        context.config.clone(),
        context.status.clone(),
        context.shutdown.child_token(),
    )
}

/// Runs the daemon on `config.spool.root` until `shutdown` fires; then lets running
/// stages reach a checkpoint (up to `limits.shutdown_grace`) and returns.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), FatalError> {
    run_with(config, shutdown, || {}, None).await
}

/// [`run`], calling `on_ready` once the daemon is ready: the spool is laid out, the
/// inboxes are watched and scanned once, its record is in `daemons/` and the plugins
/// are loaded (the moment systemd is told READY=1). Tests that start the daemon
/// in-process wait for it.
pub async fn run_notifying(
    config: Config,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
) -> Result<(), FatalError> {
    run_with(config, shutdown, on_ready, None).await
}

/// Refuses a spool whose mount cannot be shared safely (unless `spool.shared` is
/// off) or whose node name a daemon of another machine uses; logs settings too short
/// for its network filesystem.
fn shared_spool_checks(config: &Config) -> Result<(), FatalError> {
    let node = owner::set_node(&config.spool.node);
    match crate::spool::mount::mount_of(&config.spool.root) {
        Ok(mount) => {
            let verdict = mount.verdict(&config.spool, config.watch.settle);
            if let Some(refusal) = verdict.refusal {
                return Err(FatalError::Other(refusal));
            }
            for warning in &verdict.warnings {
                tracing::warn!("{warning}");
            }
            tracing::info!(
                node,
                filesystem = %mount.describe(),
                network = verdict.network.map_or("no", |needs| needs.name),
                "The spool's filesystem."
            );
        }
        Err(error) => {
            tracing::warn!(%error, "Cannot tell which filesystem holds the spool; its mount options are not checked.");
        }
    }
    let daemons = crate::spool::Spool::new(config.spool.root.clone()).daemons();
    if let Some(other) = owner::node_used_elsewhere(&daemons, config.spool.owner_lease) {
        return Err(FatalError::Other(format!(
            "the node name {node:?} is already used by a running daemon of another machine (pid {}, machine id {}): give each host its own `node` under [spool]",
            other.owner.pid, other.machine_id
        )));
    }
    Ok(())
}

/// [`run_notifying`] with a reload trigger: each request re-reads the configuration
/// (see [`reload`]). The daemon also returns by itself after `chute drain --exit`.
pub async fn run_with(
    mut config: Config,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
    reload: Option<reload::ReloadTrigger>,
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
    shared_spool_checks(&config)?;
    let config = Arc::new(config);
    let (config_sender, config_updates) = watch::channel(config.clone());
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
    let me = Owner::current();
    let operator = operator::Operator {
        spool: spool.clone(),
        status: status.clone(),
        queue: queue.clone(),
        record: DaemonRecord {
            owner: me.clone(),
            started_at: Some(Utc::now()),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            machine_id: owner::machine_id(),
            ..DaemonRecord::default()
        },
        applied: Arc::default(),
        problems: Arc::default(),
    };
    // A pause or drain persisted before this start holds from the first claim on.
    operator.apply();
    let liveness = Arc::new(notify::Liveness::default());
    let mut intake = Intake::new(
        spool.clone(),
        config.clone(),
        routes.clone(),
        queue.clone(),
        status.clone(),
    );
    let (first_scan_sender, first_scan) = tokio::sync::oneshot::channel();
    intake.signal(liveness.intake.clone(), first_scan_sender);
    intake.watch(sender.clone())?;
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
    let record_path = owner::write_daemon_record(&spool.daemons(), &operator.record_now())
        .map_err(|error| {
            FatalError::Other(format!(
                "cannot write the daemon record in daemons/: {error}"
            ))
        })?;
    // Plugins are compiled (or taken from the cache) before the daemon says it is ready.
    let providers = Arc::new(crate::provider::Providers::load(&config, spool.root()).await);
    // Ready only once every inbox has been scanned (and orphans adopted) once.
    if first_scan.await.is_err() {
        return Err(FatalError::Other(
            "the intake thread ended before its first scan of the inboxes".into(),
        ));
    }
    let route_names: Vec<String> = routes
        .iter()
        .map(|route| format!("{} ({})", route.name, route.pipeline.name()))
        .collect();
    tracing::info!(
        spool = %spool.root().display(),
        config = %config.source.as_deref().map_or_else(|| "built-in defaults".to_owned(), |path| path.display().to_string()),
        routes = %route_names.join(", "),
        whisper = %config.transcribe.model_file(&config.models).0.display(),
        llm = %config.models.resolve(&config.summarize.model).display(),
        plugins = providers.providers.len(),
        mode = status.mode_name(),
        pid = me.pid,
        "chute is ready."
    );
    // Metrics exporters and pending webhooks; stopped when this guard drops at the end.
    let _integrations = crate::integrations::start(&config, &spool, queue.clone(), status.clone())
        .map_err(FatalError::Other)?;
    notify::ready(&notify::current_status(&queue, &status));
    on_ready();

    let runner = Arc::new(Runner::new(
        spool.clone(),
        config_updates.clone(),
        Arc::new(NativeModels::new(config.native.clone())),
        providers,
    ));
    let mut tasks = vec![
        operator
            .clone()
            .spawn_heartbeat(runner.providers.clone(), config.spool.heartbeat_interval),
        operator.clone().spawn(),
        notify::spawn(
            queue.clone(),
            status.clone(),
            liveness.clone(),
            config.spool.heartbeat_interval,
        ),
    ];
    if let Some(trigger) = reload {
        let reloader = reload::Reloader {
            load: trigger.load,
            current: config_sender,
            spool: spool.clone(),
            intake: sender.clone(),
        };
        tasks.push(spawn_reloads(
            reloader,
            trigger.requests,
            queue.clone(),
            status.clone(),
        ));
    }
    let context = DaemonContext {
        spool: spool.clone(),
        config: config_updates,
        status: status.clone(),
        shutdown: shutdown.clone(),
    };
    tasks.extend(spawn_background(&context));

    let dispatcher = dispatch::Dispatcher {
        queue: queue.clone(),
        runner: runner.clone(),
        slots: Arc::new(Semaphore::new(config.limits.max_running_jobs)),
        status: status.clone(),
        alive: liveness.dispatcher.clone(),
        shutdown: shutdown.clone(),
    };
    let mut running = JoinSet::new();
    let ended = dispatcher.run(&mut running).await;
    if ended == dispatch::Ended::DrainedExit {
        operator.clear_drain_exit();
    }

    while let Some(finished) = running.try_join_next() {
        dispatch::log_join(finished);
    }
    tracing::info!(
        running = running.len(),
        "Shutting down: no new claims; running stages may reach a checkpoint."
    );
    notify::stopping();
    let _ = sender.send(IntakeMessage::Shutdown);
    runner.drain.cancel();
    let grace = config.limits.shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while let Some(finished) = running.join_next().await {
            dispatch::log_join(finished);
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
    for task in tasks {
        task.abort();
    }
    let _ = intake_thread.join();
    let _ = std::fs::remove_file(&record_path);
    tracing::info!("chute stopped.");
    Ok(())
}

/// Reloads the configuration on each request, telling systemd RELOADING=1 before and
/// READY=1 after (also when the new file was refused: the daemon runs on).
fn spawn_reloads(
    reloader: reload::Reloader,
    mut requests: tokio::sync::mpsc::Receiver<()>,
    queue: Arc<JobQueue>,
    status: Arc<status::DaemonStatus>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while requests.recv().await.is_some() {
            notify::reloading();
            reloader.reload().await;
            notify::ready(&notify::current_status(&queue, &status));
        }
    })
}
