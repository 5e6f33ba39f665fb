//! The daemon under systemd's eyes: sd_notify messages on a real NOTIFY_SOCKET
//! (READY, STATUS, WATCHDOG, RELOADING + MONOTONIC_USEC, STOPPING), SIGHUP reloads
//! (a broken file keeps the old configuration, a new route works without a restart
//! while a running job finishes undisturbed), and the units' install and checks.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::Signal;

use crate::harness::{Config, Route, Spool, running_jobs, secs, wait_until};

/// Every datagram received on a NOTIFY_SOCKET, in order.
struct NotifySocket {
    path: std::path::PathBuf,
    messages: Arc<Mutex<Vec<String>>>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 4096];
            loop {
                match socket.recv(&mut buffer) {
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
                    Err(error)
                        if matches!(
                            error.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        // Stop once the test dropped its handle.
                        if Arc::strong_count(&sink) == 1 {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        NotifySocket { path, messages }
    }

    fn all(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// How many datagrams hold the line `line`.
    fn count(&self, line: &str) -> usize {
        self.all()
            .iter()
            .filter(|message| message.lines().any(|l| l == line))
            .count()
    }
}

#[test]
fn sd_notify_ready_status_watchdog_reload_and_stopping() {
    let spool = Spool::new(&Config::default());
    let notify = NotifySocket::bind(&spool.outside);
    let mut daemon = spool.start_daemon_with_env(&[
        ("NOTIFY_SOCKET", notify.path.as_os_str()),
        ("WATCHDOG_USEC", "400000".as_ref()),
    ]);
    wait_until(secs(30), "READY=1", || notify.count("READY=1") >= 1);
    wait_until(secs(10), "a STATUS= line", || {
        notify.all().iter().any(|m| {
            m.lines()
                .any(|l| l.starts_with("STATUS=") && l.contains("queued") && l.contains("running"))
        })
    });
    // Pinged at half of 400 ms while both loops turn: several within a few seconds.
    wait_until(secs(10), "repeated WATCHDOG=1", || {
        notify.count("WATCHDOG=1") >= 5
    });

    daemon.signal(Signal::HUP);
    wait_until(
        secs(15),
        "RELOADING=1 with MONOTONIC_USEC, then READY=1 again",
        || {
            let messages = notify.all();
            let Some(reloading) = messages.iter().position(|m| {
                m.lines().any(|l| l == "RELOADING=1")
                    && m.lines().any(|l| {
                        l.strip_prefix("MONOTONIC_USEC=")
                            .is_some_and(|usec| usec.parse::<u64>().is_ok_and(|usec| usec > 0))
                    })
            }) else {
                return false;
            };
            messages[reloading + 1..]
                .iter()
                .any(|m| m.lines().any(|l| l == "READY=1"))
        },
    );
    assert!(daemon.is_running(), "SIGHUP must not end the daemon");
    let status = daemon.terminate(secs(30));
    assert!(status.success(), "exit after SIGTERM: {status}");
    wait_until(secs(5), "STOPPING=1", || notify.count("STOPPING=1") >= 1);
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one() {
    let config = Config::default();
    let spool = Spool::new(&config);
    let mut daemon = spool.start_daemon();
    // Line 2 of the file is broken.
    let good = config.to_toml();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(1, "rescan_interval = = \"1s\"");
    std::fs::write(&spool.config_path, lines.join("\n")).unwrap();
    daemon.signal(Signal::HUP);
    wait_until(secs(15), "the refused reload in the log", || {
        daemon.log().contains("keeping the old one")
    });
    let log = daemon.log();
    assert!(
        log.contains("chute.toml:2:"),
        "the error names the line: {}",
        daemon.log_tail(20)
    );
    spool.drop_file("archive", "after-broken-reload.txt", b"still works");
    spool.wait_delivered("archive", 1, secs(30));
    assert!(daemon.is_running());
    assert!(daemon.terminate(secs(30)).success());
}

#[test]
fn sighup_adds_a_route_without_disturbing_a_running_job() {
    let mut config = Config::with_route(Route::passthrough("slow").work("6s"));
    let spool = Spool::new(&config);
    let mut daemon = spool.start_daemon();
    spool.drop_file("slow", "long.txt", b"a slow job");
    spool.wait_until(secs(30), "the slow job to run", || {
        !running_jobs(&spool).is_empty()
    });

    // The new file drops `slow`, adds `fresh` and changes a key that needs a restart.
    config.routes = vec![Route::passthrough("fresh")];
    config.max_running_jobs = 7;
    spool.write_config(&config);
    daemon.signal(Signal::HUP);
    wait_until(secs(15), "the reload in the log", || {
        daemon.log().contains("Configuration reloaded")
    });
    let log = daemon.log();
    assert!(
        log.contains("limits.max_running_jobs") && log.contains("after a restart"),
        "the restart-only key is named: {}",
        daemon.log_tail(20)
    );
    assert!(
        !running_jobs(&spool).is_empty(),
        "the slow job still runs after the reload"
    );

    spool.drop_file("fresh", "new-route.txt", b"a new route");
    spool.wait_delivered("fresh", 1, secs(30));
    // The job that ran during the reload ends as it would have: delivered, whole.
    spool.wait_delivered("slow", 1, secs(60));
    let delivered = spool.deliveries("slow");
    assert_eq!(
        delivered[0].record["state"], "done",
        "{:?}",
        delivered[0].record
    );
    assert!(spool.failures("slow").is_empty(), "{}", spool.summary());
    assert!(daemon.is_running());
    assert!(daemon.terminate(secs(30)).success());
}

#[test]
fn the_units_install_into_a_scratch_root_and_pass_systemd_analyze() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let build = Path::new(crate::harness::BIN)
        .parent()
        .expect("the binary's folder");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scratch = tempfile::tempdir().unwrap();
    // The worker binary is another package's; the chute binary stands in when it is
    // not built (the check is about the install tree and the units).
    std::fs::copy(crate::harness::BIN, scratch.path().join("chute")).unwrap();
    let worker = build.join("chute-llm");
    let worker = if worker.exists() {
        worker
    } else {
        Path::new(crate::harness::BIN).to_owned()
    };
    std::fs::copy(worker, scratch.path().join("chute-llm")).unwrap();
    let output = std::process::Command::new(repo.join("scripts/check-systemd.sh"))
        .arg(scratch.path())
        .current_dir(&repo)
        .output()
        .expect("run scripts/check-systemd.sh");
    assert!(
        output.status.success(),
        "check-systemd failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
