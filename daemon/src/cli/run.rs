//! `chute run`: the daemon in the foreground. SIGTERM and SIGINT stop it; SIGHUP
//! reloads the configuration (the same file and `--spool` override it started with).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Cli, CliError};
use crate::config::Config;
use crate::daemon::reload::{ConfigLoader, ReloadTrigger};

/// Starts the daemon and runs until SIGTERM or SIGINT (or a finished `drain --exit`).
pub fn execute(cli: &Cli) -> Result<(), CliError> {
    // Before any thread exists and before the first file is written.
    let hardened = crate::daemon::harden::harden_process().map_err(CliError::failure)?;
    let config = cli.load_config()?;
    crate::logging::init().map_err(CliError::usage)?;
    tracing::debug!(
        umask = format!("{:04o}", hardened.umask),
        "Core dumps are off, the daemon is not dumpable."
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chute-worker")
        .build()
        .map_err(|error| CliError::failure(format!("cannot start the async runtime: {error}")))?;
    let reload = config_loader(cli);
    runtime.block_on(async move {
        // Before anything else: SIGHUP's default action would end the daemon.
        let reload = reload_on_sighup(reload).map_err(CliError::failure)?;
        tokio::spawn(log_confinement());
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Received a stop signal.");
            signals.cancel();
        });
        crate::daemon::run_with(config, shutdown, || {}, Some(reload))
            .await
            .map_err(CliError::failure)
    })
}

/// Reads the configuration again as this command did: the same file, the same spool
/// override (`--spool` or `CHUTE_SPOOL` as given at start).
fn config_loader(cli: &Cli) -> ConfigLoader {
    let path = cli.config.clone();
    let spool = cli.spool.clone();
    Arc::new(move || {
        let mut config = match &path {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(spool) = &spool {
            config.spool.root = spool.clone();
        }
        Ok(config)
    })
}

/// One reload request per SIGHUP (requests arriving during a reload are merged).
fn reload_on_sighup(load: ConfigLoader) -> Result<ReloadTrigger, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())
        .map_err(|error| format!("cannot handle SIGHUP (reload): {error}"))?;
    let (sender, requests) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("Received SIGHUP: reloading the configuration.");
            let _ = sender.try_send(());
        }
    });
    Ok(ReloadTrigger { requests, load })
}

/// Logs once (at debug level) what confinement the kernel grants the children.
async fn log_confinement() {
    let executable = match crate::confine::own_executable() {
        Ok(executable) => executable,
        Err(error) => {
            tracing::warn!(%error, "Cannot find the chute executable to start children with.");
            return;
        }
    };
    match crate::confine::probe(&executable).await {
        Ok(achieved) if achieved.is_complete() => {
            tracing::debug!(%achieved, "Children that read untrusted bytes run confined.");
        }
        Ok(achieved) => tracing::debug!(
            %achieved,
            missing = achieved.remedy().unwrap_or_default(),
            "Children that read untrusted bytes run partly confined."
        ),
        Err(error) => tracing::warn!(%error, "Cannot tell how children are confined."),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, ctrl-c is the only way to stop.
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
