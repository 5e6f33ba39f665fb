//! Test harness: a temporary spool, a config writer, daemon processes that die with
//! the test, polling helpers and readers for the files chute writes.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_chute");

/// How often `wait_until` polls.
const POLL: Duration = Duration::from_millis(20);

/// Counter that makes hidden temp names unique across the whole test process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Shorthand for a timeout in seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Polls `cond` every ~20 ms until it holds; panics with `what` on timeout.
pub fn wait_until(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    if !poll_until(timeout, cond) {
        panic!("timed out after {timeout:?} waiting for: {what}");
    }
}

/// Polls `cond` every ~20 ms until it holds or `timeout` passes; returns whether it held.
pub fn poll_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// One `[[routes]]` entry.
#[derive(Clone, Debug)]
pub struct Route {
    /// Route (and inbox folder) name.
    pub name: String,
    /// Pipeline name.
    pub pipeline: String,
    /// Artificial time per stage, e.g. "50ms".
    pub simulate_work: Option<String>,
    /// Size limit, e.g. "1KiB".
    pub max_size: Option<String>,
    /// Extension allow-list.
    pub extensions: Option<Vec<String>>,
    /// Whether folders are accepted.
    pub allow_directories: Option<bool>,
}

impl Route {
    /// A passthrough route with no limits.
    pub fn passthrough(name: &str) -> Self {
        Route {
            name: name.to_owned(),
            pipeline: "passthrough".to_owned(),
            simulate_work: None,
            max_size: None,
            extensions: None,
            allow_directories: None,
        }
    }

    /// Sets `simulate_work`.
    pub fn work(mut self, per_stage: &str) -> Self {
        self.simulate_work = Some(per_stage.to_owned());
        self
    }
}

/// The configuration file the daemon is started with (see docs/test-contract.md).
#[derive(Clone, Debug)]
pub struct Config {
    /// `[spool] rescan_interval`.
    pub rescan_interval: String,
    /// `[spool] heartbeat_interval`.
    pub heartbeat_interval: String,
    /// `[watch] settle`.
    pub settle: String,
    /// `[limits] max_running_jobs`.
    pub max_running_jobs: u32,
    /// `[limits] max_queue_depth`.
    pub max_queue_depth: u32,
    /// `[limits] shutdown_grace`.
    pub shutdown_grace: String,
    /// `[dedupe] enabled`.
    pub dedupe: bool,
    /// Routes.
    pub routes: Vec<Route>,
    /// Raw TOML appended to the file (other sections, e.g. `[transcribe]`).
    pub extra: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rescan_interval: "1s".to_owned(),
            heartbeat_interval: "1s".to_owned(),
            settle: "1s".to_owned(),
            max_running_jobs: 4,
            max_queue_depth: 1000,
            shutdown_grace: "5s".to_owned(),
            dedupe: true,
            routes: vec![Route::passthrough("archive")],
            extra: String::new(),
        }
    }
}

impl Config {
    /// A default config whose only configured route is `route`.
    pub fn with_route(route: Route) -> Self {
        Config {
            routes: vec![route],
            ..Config::default()
        }
    }

    /// Renders the TOML text.
    pub fn to_toml(&self) -> String {
        let mut s = format!(
            "[spool]\nrescan_interval = \"{}\"\nheartbeat_interval = \"{}\"\n\n\
             [watch]\nsettle = \"{}\"\n\n\
             [limits]\nmax_running_jobs = {}\nmax_queue_depth = {}\nshutdown_grace = \"{}\"\n\n\
             [dedupe]\nenabled = {}\nwindow = \"24h\"\n",
            self.rescan_interval,
            self.heartbeat_interval,
            self.settle,
            self.max_running_jobs,
            self.max_queue_depth,
            self.shutdown_grace,
            self.dedupe,
        );
        for r in &self.routes {
            s.push_str(&format!(
                "\n[[routes]]\nname = \"{}\"\npipeline = \"{}\"\n",
                r.name, r.pipeline
            ));
            if let Some(w) = &r.simulate_work {
                s.push_str(&format!("simulate_work = \"{w}\"\n"));
            }
            if let Some(m) = &r.max_size {
                s.push_str(&format!("max_size = \"{m}\"\n"));
            }
            if let Some(exts) = &r.extensions {
                let list: Vec<String> = exts.iter().map(|e| format!("\"{e}\"")).collect();
                s.push_str(&format!("extensions = [{}]\n", list.join(", ")));
            }
            if let Some(d) = r.allow_directories {
                s.push_str(&format!("allow_directories = {d}\n"));
            }
        }
        s.push('\n');
        s.push_str(&self.extra);
        s
    }
}

/// A temporary spool plus its config file, daemon logs and a scratch folder on the same
/// filesystem. Layout under one temp dir: `spool/`, `chute.toml`, `logs/`, `outside/`.
pub struct Spool {
    base: Option<tempfile::TempDir>,
    /// The spool root.
    pub root: PathBuf,
    /// The config file passed with `--config`.
    pub config_path: PathBuf,
    /// A folder outside the spool on the same filesystem.
    pub outside: PathBuf,
    logs: PathBuf,
    daemon_count: AtomicU64,
}

impl Spool {
    /// Creates a fresh spool and writes `config`.
    pub fn new(config: &Config) -> Self {
        let base = tempfile::Builder::new()
            .prefix("chute-e2e-")
            .tempdir()
            .expect("create temp dir");
        let root = base.path().join("spool");
        let logs = base.path().join("logs");
        let outside = base.path().join("outside");
        for d in [&root, &logs, &outside] {
            fs::create_dir_all(d).expect("create test folders");
        }
        let spool = Spool {
            root,
            config_path: base.path().join("chute.toml"),
            outside,
            logs,
            base: Some(base),
            daemon_count: AtomicU64::new(0),
        };
        spool.write_config(config);
        spool
    }

    /// A spool someone else made (a shared volume's view from one host): `root`, its
    /// config file and a folder for logs and scratch files; nothing is removed on drop.
    /// (Used by the shared-spool tests and benchmark.)
    #[allow(dead_code)]
    pub fn existing(root: PathBuf, config_path: PathBuf, local: PathBuf) -> Self {
        let logs = local.join("logs");
        let outside = local.join("outside");
        for d in [&root, &logs, &outside] {
            fs::create_dir_all(d).expect("create test folders");
        }
        Spool {
            root,
            config_path,
            outside,
            logs,
            base: None,
            daemon_count: AtomicU64::new(0),
        }
    }

    /// (Re)writes the config file; takes effect for daemons started afterwards.
    pub fn write_config(&self, config: &Config) {
        fs::write(&self.config_path, config.to_toml()).expect("write config");
    }

    /// `<spool>/<rel>`.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// `<spool>/inbox/<route>`, created if needed.
    pub fn inbox(&self, route: &str) -> PathBuf {
        let p = self.root.join("inbox").join(route);
        fs::create_dir_all(&p).expect("create inbox");
        p
    }

    /// Starts `chute run` and waits until its heartbeat file exists.
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_with_env::<&str>(&[])
    }

    /// [`Spool::start_daemon`] with more environment variables (e.g. NOTIFY_SOCKET).
    pub fn start_daemon_with_env<V: AsRef<OsStr>>(&self, env: &[(&str, V)]) -> Daemon {
        let n = self.daemon_count.fetch_add(1, Ordering::SeqCst);
        let log_path = self.logs.join(format!("daemon-{n}.log"));
        let log = fs::File::create(&log_path).expect("create daemon log");
        let child = Command::new(BIN)
            .arg("run")
            .arg("--spool")
            .arg(&self.root)
            .arg("--config")
            .arg(&self.config_path)
            .env("CHUTE_LOG", "chute=debug")
            .envs(self.compile_cache_env())
            .env_remove("CHUTE_SPOOL")
            .env_remove("CHUTE_CONFIG")
            .env_remove("CHUTE_LOG_FORMAT")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().map(|(name, value)| (name, value.as_ref())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn chute run");
        let mut daemon = Daemon {
            pid: child.id(),
            child: Some(child),
            log_path,
        };
        let daemons_dir = self.root.join("daemons");
        let pid = daemon.pid;
        let ready = poll_until(secs(30), || {
            if let Some(status) = daemon.try_exit_status() {
                panic!(
                    "daemon {pid} exited before becoming ready ({status}); log:\n{}",
                    daemon.log_tail(60)
                );
            }
            heartbeat_pid(&daemons_dir, pid)
        });
        if !ready {
            panic!(
                "daemon {pid} did not create daemons/<host>--{pid}.json within 30s; log:\n{}",
                daemon.log_tail(60)
            );
        }
        daemon
    }

    /// Whether `daemons/` holds a heartbeat file for `pid`.
    pub fn has_heartbeat(&self, pid: u32) -> bool {
        heartbeat_pid(&self.root.join("daemons"), pid)
    }

    /// Writes `content` under a hidden temp name in `inbox/<route>/`, then renames it
    /// to `name`.
    pub fn drop_file(&self, route: &str, name: impl AsRef<OsStr>, content: &[u8]) -> PathBuf {
        let inbox = self.inbox(route);
        let tmp = inbox.join(hidden_temp_name());
        fs::write(&tmp, content).expect("write temp input");
        let dest = inbox.join(name.as_ref());
        fs::rename(&tmp, &dest).expect("rename input into inbox");
        dest
    }

    /// Visible (non-hidden) entry names of `<spool>/<rel>`; empty if it does not exist.
    pub fn visible(&self, rel: impl AsRef<Path>) -> Vec<OsString> {
        visible_entries(&self.root.join(rel))
    }

    /// All entries (hidden too) of `<spool>/jobs`.
    pub fn job_entries(&self) -> Vec<OsString> {
        all_entries(&self.root.join("jobs"))
    }

    /// Number of visible entries in `outbox/<route>`.
    pub fn delivered_count(&self, route: &str) -> usize {
        self.visible(Path::new("outbox").join(route)).len()
    }

    /// Number of visible entries in `failed/<route>`.
    pub fn failed_count(&self, route: &str) -> usize {
        self.visible(Path::new("failed").join(route)).len()
    }

    /// Visible entries in `failed/*/`, as "route/name".
    pub fn all_failed(&self) -> Vec<String> {
        let mut out = Vec::new();
        for route in self.visible("failed") {
            for e in self.visible(Path::new("failed").join(&route)) {
                out.push(format!(
                    "{}/{}",
                    route.to_string_lossy(),
                    e.to_string_lossy()
                ));
            }
        }
        out
    }

    /// Parses every delivered folder of `outbox/<route>`.
    pub fn deliveries(&self, route: &str) -> Vec<Outcome> {
        self.outcomes(&Path::new("outbox").join(route), "result.json")
    }

    /// Parses every folder of `failed/<route>`.
    pub fn failures(&self, route: &str) -> Vec<Outcome> {
        self.outcomes(&Path::new("failed").join(route), "error.json")
    }

    fn outcomes(&self, rel: &Path, record: &str) -> Vec<Outcome> {
        let dir = self.root.join(rel);
        let mut out = Vec::new();
        for name in visible_entries(&dir) {
            let path = dir.join(&name);
            let rec_path = path.join(record);
            let text = fs::read(&rec_path).unwrap_or_else(|e| {
                panic!(
                    "{} has no readable {record}: {e}\n{}",
                    path.display(),
                    self.summary()
                )
            });
            let record: Value = serde_json::from_slice(&text).unwrap_or_else(|e| {
                panic!(
                    "{} is not JSON: {e}\n{}",
                    rec_path.display(),
                    String::from_utf8_lossy(&text)
                )
            });
            out.push(Outcome {
                dir: path,
                folder: name,
                record,
            });
        }
        out
    }

    /// Waits until `cond` holds; on timeout panics with a description of the spool.
    pub fn wait_until(&self, timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
        if !poll_until(timeout, cond) {
            panic!(
                "timed out after {timeout:?} waiting for: {what}\n{}",
                self.summary()
            );
        }
    }

    /// Waits until `outbox/<route>` holds `n` visible folders (panics if more appear).
    pub fn wait_delivered(&self, route: &str, n: usize, timeout: Duration) {
        self.wait_until(
            timeout,
            &format!("{n} deliveries in outbox/{route}"),
            || {
                let have = self.delivered_count(route);
                assert!(
                    have <= n,
                    "outbox/{route} holds {have} folders, expected {n}\n{}",
                    self.summary()
                );
                have == n
            },
        );
    }

    /// Waits until `jobs/` is empty (no live jobs, no leftovers).
    pub fn wait_jobs_empty(&self, timeout: Duration) {
        self.wait_until(timeout, "jobs/ to be empty", || {
            self.job_entries().is_empty()
        });
    }

    /// Runs a CLI command (`chute --spool S --config C ARGS`) with a 60 s limit.
    pub fn cli<I, A>(&self, args: I) -> CliOutput
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        let mut cmd = Command::new(BIN);
        cmd.arg("--spool")
            .arg(&self.root)
            .arg("--config")
            .arg(&self.config_path)
            .envs(self.compile_cache_env())
            .args(args);
        run_cli(cmd, &self.logs)
    }

    /// The environment that keeps a chute process's compiled plugins and their key in
    /// this test's folder (systemd's variables, which chute honours first), never in
    /// the real ~/.cache.
    pub fn compile_cache_env(&self) -> [(&'static str, PathBuf); 2] {
        let base = self.root.parent().unwrap_or(&self.root);
        [
            ("CACHE_DIRECTORY", base.join("compile-cache")),
            ("STATE_DIRECTORY", base.join("state")),
        ]
    }

    /// A human-readable description of the spool for failure messages.
    pub fn summary(&self) -> String {
        let mut s = String::from("---- spool summary ----\n");
        for top in ["inbox", "outbox", "failed"] {
            for route in self.visible(top) {
                let rel = Path::new(top).join(&route);
                let all = all_entries(&self.root.join(&rel));
                let visible = self.visible(&rel);
                s.push_str(&format!(
                    "{}: {} visible, {} total; first: {:?}\n",
                    rel.display(),
                    visible.len(),
                    all.len(),
                    visible.iter().take(5).collect::<Vec<_>>()
                ));
            }
        }
        let jobs = self.job_entries();
        s.push_str(&format!("jobs/: {} entries\n", jobs.len()));
        for j in jobs.iter().take(5) {
            let dir = self.root.join("jobs").join(j);
            let state = fs::read_to_string(dir.join("state.json")).unwrap_or_default();
            s.push_str(&format!(
                "  {}: {:?} state={}\n",
                j.to_string_lossy(),
                all_entries(&dir),
                truncate(&state, 400)
            ));
        }
        for route in self.visible("failed") {
            for f in self
                .visible(Path::new("failed").join(&route))
                .iter()
                .take(5)
            {
                let p = self
                    .root
                    .join("failed")
                    .join(&route)
                    .join(f)
                    .join("error.json");
                let text = fs::read_to_string(&p).unwrap_or_default();
                let reason = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("reason").cloned())
                    .unwrap_or(Value::Null);
                s.push_str(&format!(
                    "failed/{}/{}: reason {reason}\n",
                    route.to_string_lossy(),
                    f.to_string_lossy()
                ));
            }
        }
        let mut logs: Vec<_> = all_entries(&self.logs);
        logs.sort();
        for l in logs {
            let text = fs::read_to_string(self.logs.join(&l)).unwrap_or_default();
            s.push_str(&format!(
                "---- {} (tail) ----\n{}\n",
                l.to_string_lossy(),
                tail(&text, 25)
            ));
        }
        s
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if std::thread::panicking()
            && std::env::var_os("CHUTE_TEST_KEEP").is_some()
            && let Some(base) = self.base.take()
        {
            eprintln!("keeping test spool at {}", base.keep().display());
        }
    }
}

/// A delivered (outbox) or failed folder and its parsed record.
#[derive(Debug)]
pub struct Outcome {
    /// Absolute path of the folder.
    pub dir: PathBuf,
    /// The folder's own name.
    pub folder: OsString,
    /// `result.json` or `error.json`.
    pub record: Value,
}

impl Outcome {
    /// `job.id`.
    pub fn job_id(&self) -> String {
        self.record["job"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: job.id missing: {}", self.dir.display(), self.record))
            .to_owned()
    }

    /// The exact bytes of the input name (`job.input.name_hex`, else `job.input.name`).
    pub fn input_name(&self) -> Vec<u8> {
        let input = &self.record["job"]["input"];
        if let Some(hex) = input.get("name_hex").and_then(Value::as_str) {
            return decode_hex(hex)
                .unwrap_or_else(|| panic!("{}: bad name_hex {hex:?}", self.dir.display()));
        }
        input["name"]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "{}: job.input.name missing: {}",
                    self.dir.display(),
                    self.record
                )
            })
            .as_bytes()
            .to_vec()
    }

    /// Entries of the folder other than the record file and hidden entries.
    pub fn payload(&self) -> Vec<OsString> {
        visible_entries(&self.dir)
            .into_iter()
            .filter(|n| n != "result.json" && n != "error.json")
            .collect()
    }

    /// The `events` array.
    pub fn events(&self) -> &Vec<Value> {
        self.record["events"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: events missing: {}", self.dir.display(), self.record))
    }
}

/// The folder name chute must use: `<stem>--<last 8 hex of job id>`, where the stem is
/// the name without its last extension (`is_dir`: the whole name).
pub fn expected_folder(name: &[u8], job_id: &str, is_dir: bool) -> Vec<u8> {
    let stem = if is_dir { name } else { stem(name) };
    let mut v = stem.to_vec();
    v.extend_from_slice(b"--");
    v.extend_from_slice(short_id(job_id).as_bytes());
    v
}

/// The name without its last extension (a leading dot does not start an extension).
pub fn stem(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b'.') {
        Some(0) | None => name,
        Some(i) => &name[..i],
    }
}

/// Last 8 hex digits of a job id.
pub fn short_id(job_id: &str) -> String {
    let hex: String = job_id.chars().filter(|c| *c != '-').collect();
    hex[hex.len() - 8..].to_owned()
}

/// Parses lowercase or uppercase hex.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Builds an `OsString` from raw bytes.
pub fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// Pseudo-random content of `len` bytes, unique per call with overwhelming probability.
pub fn random_bytes(len: usize) -> Vec<u8> {
    use rand::Rng;
    let mut v = vec![0u8; len];
    rand::rng().fill(&mut v[..]);
    v
}

/// Status of each job folder in `jobs/`: `None` if it has no `state.json` (queued),
/// else the `status` string. Folders that vanish while being read are skipped.
pub fn job_states(spool: &Spool) -> BTreeMap<String, Option<String>> {
    let jobs = spool.root.join("jobs");
    let mut out = BTreeMap::new();
    for name in all_entries(&jobs) {
        let dir = jobs.join(&name);
        if let Some(state) = read_job_state(&dir) {
            out.insert(name.to_string_lossy().into_owned(), state);
        }
    }
    out
}

/// Reads one job folder's status: `Some(None)` = queued without state.json,
/// `Some(Some(status))`, or `None` when the folder (or its job.json) is gone.
pub fn read_job_state(dir: &Path) -> Option<Option<String>> {
    match fs::read(dir.join("state.json")) {
        Ok(bytes) => {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{}/state.json is not valid JSON ({e}): {:?}",
                    dir.display(),
                    String::from_utf8_lossy(&bytes)
                )
            });
            let status = v["status"].as_str().map(str::to_owned);
            Some(Some(status.unwrap_or_else(|| {
                panic!("{}/state.json has no status: {v}", dir.display())
            })))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // No state.json: queued, unless the folder is being torn down or built.
            if dir.join("job.json").exists() {
                Some(None)
            } else {
                None
            }
        }
        Err(e) if e.kind() == ErrorKind::NotADirectory => None,
        Err(e) => panic!("reading {}/state.json: {e}", dir.display()),
    }
}

/// Ids of jobs whose state.json says `running`.
pub fn running_jobs(spool: &Spool) -> Vec<String> {
    job_states(spool)
        .into_iter()
        .filter(|(_, s)| s.as_deref() == Some("running"))
        .map(|(id, _)| id)
        .collect()
}

/// A running `chute run` process; SIGKILLed and reaped on drop.
pub struct Daemon {
    child: Option<Child>,
    /// Its process id.
    pub pid: u32,
    log_path: PathBuf,
}

impl Daemon {
    /// `Some(status)` once the process has exited.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().expect("try_wait on daemon"))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_exit_status().is_none()
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Errors mean it already exited; wait reaps it either way.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits up to `timeout` for exit; returns the exit status.
    pub fn terminate(mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_ref().expect("daemon already reaped");
        rustix::process::kill_process(
            rustix::process::Pid::from_child(child),
            rustix::process::Signal::TERM,
        )
        .expect("send SIGTERM");
        let mut status = None;
        let exited = poll_until(timeout, || {
            status = self.try_exit_status();
            status.is_some()
        });
        if !exited {
            let tail = self.log_tail(40);
            self.kill_now();
            panic!(
                "daemon {} did not exit within {timeout:?} of SIGTERM; log:\n{tail}",
                self.pid
            );
        }
        self.child = None;
        status.expect("exit status")
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let child = self.child.as_ref().expect("daemon already reaped");
        rustix::process::kill_process(rustix::process::Pid::from_child(child), signal)
            .expect("send a signal to the daemon");
    }

    /// Waits up to `timeout` for the daemon to exit by itself; its exit status.
    pub fn wait_exit(mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        let exited = poll_until(timeout, || {
            status = self.try_exit_status();
            status.is_some()
        });
        if !exited {
            panic!(
                "daemon {} did not exit by itself within {timeout:?}; log:\n{}",
                self.pid,
                self.log_tail(40)
            );
        }
        self.child = None;
        status.expect("exit status")
    }

    /// This daemon's whole log so far (used by the audio tests).
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Last `n` lines of this daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&fs::read_to_string(&self.log_path).unwrap_or_default(), n)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Output of one CLI invocation.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `cmd` with stdout/stderr captured to files and a 60 s limit.
pub fn run_cli(mut cmd: Command, scratch: &Path) -> CliOutput {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::SeqCst);
    let out_path = scratch.join(format!("cli-{n}.out"));
    let err_path = scratch.join(format!("cli-{n}.err"));
    let mut child = cmd
        .env_remove("CHUTE_SPOOL")
        .env_remove("CHUTE_CONFIG")
        .env_remove("CHUTE_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("create stdout file"))
        .stderr(fs::File::create(&err_path).expect("create stderr file"))
        .spawn()
        .expect("spawn chute CLI");
    let mut status = None;
    let done = poll_until(secs(60), || {
        status = child.try_wait().expect("try_wait on CLI");
        status.is_some()
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = CliOutput {
        code: status.and_then(|s| s.code()),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    // The cli-*.{out,err} files live in logs/ and would clutter summaries.
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    assert!(done, "CLI {cmd:?} did not exit within 60s: {out:?}");
    out
}

/// A fresh hidden name for writing before a rename.
pub fn hidden_temp_name() -> String {
    format!(
        ".e2e-tmp-{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Entry names of `dir` not starting with '.'; empty if `dir` does not exist.
pub fn visible_entries(dir: &Path) -> Vec<OsString> {
    all_entries(dir)
        .into_iter()
        .filter(|n| !n.as_bytes().starts_with(b"."))
        .collect()
}

/// All entry names of `dir`; empty if `dir` does not exist.
pub fn all_entries(dir: &Path) -> Vec<OsString> {
    match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| match e {
                Ok(e) => Some(e.file_name()),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => panic!("reading {}: {e}", dir.display()),
            })
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    }
}

/// Identity and content of a file, to prove it was left alone.
#[derive(Debug, PartialEq, Eq)]
pub struct FileFacts {
    /// Inode number.
    pub ino: u64,
    /// Hard-link count.
    pub nlink: u64,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Full content.
    pub content: Vec<u8>,
}

impl FileFacts {
    /// Reads the facts of `path` (without following a final symlink for metadata).
    pub fn of(path: &Path) -> Self {
        let md =
            fs::symlink_metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        assert!(md.is_file(), "{} is not a regular file", path.display());
        FileFacts {
            ino: md.ino(),
            nlink: md.nlink(),
            mtime: (md.mtime(), md.mtime_nsec()),
            content: fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
        }
    }
}

fn heartbeat_pid(daemons_dir: &Path, pid: u32) -> bool {
    let suffix = format!("--{pid}.json");
    all_entries(daemons_dir).iter().any(|name| {
        name.to_string_lossy().ends_with(&suffix)
            && fs::read(daemons_dir.join(name))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|v| v.get("pid").and_then(Value::as_u64))
                == Some(u64::from(pid))
    })
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
