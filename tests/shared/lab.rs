//! The GlusterFS lab as the tests use it: `lab.sh` beside this file builds it (a
//! server namespace with glusterd and one volume, and up to three "hosts", each with
//! its own network namespace for its FUSE client and its own UTS and PID namespaces
//! for its daemon), and a [`Lab`] tears it down when dropped, even after a failure.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use crate::spool_harness::{BIN, poll_until, secs};

/// The script that builds and controls the lab.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/shared/lab.sh")
}

/// One lab at a time on a machine: every test takes this first.
static ONE_LAB: Mutex<()> = Mutex::new(());

/// Host names, in order.
pub const HOSTS: [&str; 3] = ["hosta", "hostb", "hostc"];

/// A running lab; `down` on drop.
pub struct Lab {
    dir: PathBuf,
    _one: std::sync::MutexGuard<'static, ()>,
}

/// Why the lab cannot run here (printed when a test skips), or `None`.
pub fn unavailable() -> Option<String> {
    let output = Command::new(script()).arg("check").output().ok()?;
    if output.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Starts a lab with `hosts` hosts, or `None` (with the reason printed) where this
/// machine cannot run one.
pub fn start(hosts: usize) -> Option<Lab> {
    let one = ONE_LAB
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(reason) = unavailable() {
        eprintln!("SKIPPED: the GlusterFS lab cannot run here: {reason}");
        return None;
    }
    // A lab left up by a test run that was killed (no teardown) is cleared first.
    if let Ok(stale) = fs::read_to_string("/run/chute-lab.dir") {
        let _ = Command::new(script())
            .env("CHUTE_LAB_DIR", stale.trim())
            .arg("down")
            .status();
    }
    let dir = tempfile::Builder::new()
        .prefix("chute-lab-")
        .tempdir_in("/run")
        .unwrap()
        .keep();
    let lab = Lab { dir, _one: one };
    let status = lab
        .command()
        .args(["up", &hosts.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "lab.sh up {hosts} failed");
    Some(lab)
}

impl Lab {
    fn command(&self) -> Command {
        let mut command = Command::new(script());
        command.env("CHUTE_LAB_DIR", &self.dir);
        command
    }

    /// A command that runs `program` as host `host` (its UTS and PID namespaces; the
    /// root network namespace, where the tests' fake provider APIs listen); append its
    /// arguments.
    pub fn exec(&self, host: &str, program: &str) -> Command {
        let mut command = self.command();
        command
            .env("CHUTE_LAB_NET", "root")
            .args(["exec", host, program]);
        command
    }

    fn run(&self, args: &[&str]) {
        let status = self.command().args(args).status().unwrap();
        assert!(status.success(), "lab.sh {args:?} failed");
    }

    /// Host `host`'s view of the volume, from the test's own namespaces.
    pub fn mount(&self, host: &str) -> PathBuf {
        self.dir.join("mnt").join(host)
    }

    /// A folder for host-local files (configs, logs, compile caches): not on the volume.
    pub fn local(&self, host: &str) -> PathBuf {
        let path = self.dir.join("local").join(host);
        fs::create_dir_all(&path).unwrap();
        path
    }

    /// Starts `chute run` as host `host` on the spool `spool` (a path under that
    /// host's mount) with the config file `config`; waits for its daemon record.
    pub fn start_daemon(&self, host: &str, spool: &Path, config: &Path) -> HostDaemon {
        let local = self.local(host);
        let log_path = local.join(format!("daemon-{}.log", nanos_now()));
        let log = fs::File::create(&log_path).unwrap();
        let child = self
            .exec(host, BIN)
            .args(["run", "--spool"])
            .arg(spool)
            .arg("--config")
            .arg(config)
            .env("CHUTE_LOG", "chute=debug")
            .env("CACHE_DIRECTORY", local.join("compile-cache"))
            .env("STATE_DIRECTORY", local.join("state"))
            .env_remove("CHUTE_SPOOL")
            .env_remove("CHUTE_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut daemon = HostDaemon {
            host: host.to_owned(),
            child,
            log_path,
        };
        let daemons = spool.join("daemons");
        let prefix = format!("{host}--");
        let ready = poll_until(secs(60), || {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("{host}'s daemon exited ({status}):\n{}", daemon.log());
            }
            fs::read_dir(&daemons).is_ok_and(|entries| {
                entries.flatten().any(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.starts_with(&prefix)
                        && name.ends_with(".json")
                        && !name.ends_with(".keys.json")
                })
            }) && daemon.log().contains("chute is ready.")
        });
        assert!(
            ready,
            "{host}'s daemon did not become ready:\n{}",
            daemon.log()
        );
        daemon
    }

    /// Kills host `host`: its daemon and its FUSE client, at once.
    pub fn kill(&self, host: &str) {
        self.run(&["kill", host]);
    }

    /// Cuts host `host` off the network (its processes keep running).
    pub fn partition(&self, host: &str) {
        self.run(&["partition", host]);
    }

    /// Puts host `host` back on the network.
    pub fn heal(&self, host: &str) {
        self.run(&["heal", host]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.command().arg("down").status();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A daemon running as one host of the lab.
pub struct HostDaemon {
    /// The host it runs as.
    pub host: String,
    child: Child,
    log_path: PathBuf,
}

impl HostDaemon {
    /// Everything it logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops it with SIGTERM (sent to the daemon, the init of its PID namespace) and
    /// waits up to `timeout`.
    pub fn stop(mut self, timeout: Duration) {
        let unshare = self.child.id();
        let children = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            .unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<i32>().ok())
        {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        let ended = poll_until(timeout, || matches!(self.child.try_wait(), Ok(Some(_))));
        if !ended {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
