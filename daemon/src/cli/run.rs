//! `chute run`: the daemon in the foreground.

use tokio_util::sync::CancellationToken;

use super::{Cli, CliError};

/// Starts the daemon and runs until SIGTERM or SIGINT.
pub fn execute(cli: &Cli) -> Result<(), CliError> {
    let config = cli.load_config()?;
    crate::logging::init().map_err(CliError::usage)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chute-worker")
        .build()
        .map_err(|error| CliError::failure(format!("cannot start the async runtime: {error}")))?;
    runtime.block_on(async move {
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
