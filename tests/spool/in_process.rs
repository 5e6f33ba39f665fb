//! The daemon started in-process: `chute::daemon::run_notifying(config, shutdown, …)`
//! on a runtime of its own, with the test's spool and config file. Faster to start
//! than the binary and stopped by a token instead of a signal. Tests that need a
//! process (kill -9, several daemons, signals, logs) keep spawning the real binary.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::harness::Spool;

/// A daemon running on a thread of the test process; stopped (gracefully) on drop.
pub struct InProcessDaemon {
    shutdown: CancellationToken,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl InProcessDaemon {
    /// Starts the daemon on `spool` with its config file and waits until it is ready.
    pub fn start(spool: &Spool) -> InProcessDaemon {
        let mut config = chute::config::Config::load(&spool.config_path)
            .unwrap_or_else(|error| panic!("the test config does not load: {error}"));
        config.spool.root = spool.root.clone();
        let shutdown = CancellationToken::new();
        let (ready_sender, ready) = mpsc::channel();
        let token = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("in-process-daemon".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|error| error.to_string())?;
                runtime
                    .block_on(chute::daemon::run_notifying(config, token, move || {
                        let _ = ready_sender.send(());
                    }))
                    .map_err(|error| error.to_string())
            })
            .expect("spawn the daemon thread");
        let mut daemon = InProcessDaemon {
            shutdown,
            thread: Some(thread),
        };
        if ready.recv_timeout(Duration::from_secs(30)).is_err() {
            let outcome = daemon.stop();
            panic!("the in-process daemon did not become ready within 30 s: {outcome:?}");
        }
        daemon
    }

    /// Asks the daemon to stop and waits for it; returns how `run` ended.
    pub fn stop(&mut self) -> Result<(), String> {
        self.shutdown.cancel();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err("the daemon thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for InProcessDaemon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
