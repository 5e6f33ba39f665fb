//! `chute run`: the daemon in the foreground.

use tokio_util::sync::CancellationToken;

use super::{Cli, CliError};

/// Starts the daemon and runs until SIGTERM or SIGINT.
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
    runtime.block_on(async move {
        tokio::spawn(log_confinement());
        let shutdown = CancellationToken::new();
        let signals = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Received a stop signal.");
            signals.cancel();
        });
        crate::daemon::run(config, shutdown)
            .await
            .map_err(CliError::failure)
    })
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
