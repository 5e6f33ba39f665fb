//! `chute watch` piped (`chute watch | cat`): plain lines as jobs change and end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::harness::{BIN, Config, Route, Spool, random_bytes, running_jobs, secs, short_id};
use crate::in_process::InProcessDaemon;

/// The line `chute watch` prints when nothing is queued or running.
const IDLE: &str = "idle: no queued or running jobs";

/// A `chute watch` process whose stdout is a pipe, read line by line as it comes;
/// killed on drop.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watch {
    fn start(spool: &Spool, args: &[&str]) -> Watch {
        let mut child = Command::new(BIN)
            .arg("--spool")
            .arg(&spool.root)
            .arg("--config")
            .arg(&spool.config_path)
            .arg("watch")
            .args(args)
            .env_remove("CHUTE_SPOOL")
            .env_remove("CHUTE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `wanted` (returned); panics after `timeout`.
    fn until(&mut self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no such line within {timeout:?}; got {:#?}", self.seen),
            }
        }
    }

    /// Waits for the process to exit by itself; its exit code.
    fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread has the last lines once the pipe closed.
                while let Ok(line) = self.lines.recv_timeout(secs(1)) {
                    self.seen.push(line);
                }
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "watch did not exit: {:#?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Piped, `chute watch` says once that it is idle, then prints plain lines for a job
/// from its claim to its delivery: each with its elapsed time, the stage's percent
/// (never going back) and, once the stage has made progress, an ETA; then `done` with
/// its folder, and idle again. No escape codes.
#[test]
fn piped_watch_prints_a_job_from_claim_to_done() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("slow").work("3s")));
    let _daemon = InProcessDaemon::start(&spool);
    let mut watch = Watch::start(&spool, &[]);
    watch.until(secs(20), |line| line == IDLE);

    spool.drop_file("slow", "minutes.bin", &random_bytes(100));
    let done = watch.until(secs(30), |line| line.contains(": done in "));
    let id = spool.deliveries("slow")[0].job_id();
    let short = short_id(&id);
    assert!(
        done.starts_with(&format!("{short} minutes.bin: done in 0:0"))
            && done.ends_with(&format!(" → outbox/slow/minutes--{short}")),
        "{done}"
    );
    watch.until(secs(10), |line| line == IDLE);

    let lines = watch.seen.clone();
    assert!(
        lines.iter().all(|line| !line.contains('\x1b')),
        "{lines:#?}"
    );
    assert_eq!(
        lines.iter().filter(|line| *line == IDLE).count(),
        2,
        "{lines:#?}"
    );
    let running: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with(&format!("{short} minutes.bin: running passthrough ")))
        .collect();
    assert!(
        running.len() >= 3,
        "a line per step of progress: {lines:#?}"
    );
    assert!(
        running.iter().all(|line| line.contains(", elapsed 0:0")),
        "{lines:#?}"
    );
    assert!(
        running.iter().any(|line| line.contains(", eta 0:0")),
        "an ETA once the stage moved: {lines:#?}"
    );
    let percents: Vec<u32> = running
        .iter()
        .filter_map(|line| {
            let rest = line.split("running passthrough ").nth(1)?;
            rest.split('%').next()?.parse().ok()
        })
        .collect();
    assert!(
        percents.windows(2).all(|pair| pair[0] < pair[1]),
        "one line per new percent, never going back: {lines:#?}"
    );
}

/// `chute watch ID` follows one job and exits when it ends: a cancelled job is marked
/// `CANCELLED` with the stage and the reason, and the exit code is 1. (Simulated work
/// slows every stage, `prepare` included.)
#[test]
fn watching_one_job_marks_its_cancellation_and_exits_1() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("slow").work("30s")));
    let _daemon = InProcessDaemon::start(&spool);
    spool.drop_file("slow", "long.bin", &random_bytes(100));
    let mut id = String::new();
    spool.wait_until(secs(30), "the job to be running", || {
        match running_jobs(&spool).first() {
            Some(running) => {
                id = running.clone();
                true
            }
            None => false,
        }
    });
    let short = short_id(&id);
    let mut watch = Watch::start(&spool, &[&short]);
    watch.until(secs(10), |line| line.contains(": running prepare "));
    let out = spool.cli(["cancel", short.as_str()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(watch.exit_code(secs(30)), Some(1), "{:#?}", watch.seen);
    let last = watch.seen.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with(&format!("{short} long.bin: CANCELLED at prepare after 0:"))
            && last.contains(": the job was cancelled")
            && last.ends_with(&format!(" → failed/slow/long--{short}")),
        "{:#?}",
        watch.seen
    );
    assert!(
        !watch.seen.iter().any(|line| line == IDLE),
        "{:#?}",
        watch.seen
    );
}
