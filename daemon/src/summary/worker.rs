//! The daemon's side of `chute-llm`: starting the worker, sending requests, reading
//! replies, and noticing when it dies.
//!
//! A worker holds one loaded model. It is only used under the native lease, so one
//! request is in flight at a time. If it dies (llama.cpp aborted), the request fails
//! with [`WorkerFailure::Died`] and the next use starts a fresh worker.
//!
//! The worker reads transcripts and briefs (hostile text), so it runs confined (see
//! [`crate::confine`]): no key in its environment, no network, no file it may write
//! (but the GPU's device nodes when layers are offloaded), its stderr read in bounded
//! lines and logged at debug level, its replies read in bounded lines. It stays
//! resident between jobs, so its CPU limit is a budget for its life:
//! [`WORKER_WALL_BUDGET`] of wall-clock time on `limits.child_cpu_cores` cores. The
//! daemon counts the wall time of loading and of every request, and starts a fresh
//! worker before a request whose time limit would no longer fit, so the kernel's limit
//! only stops a worker that spins on its own.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chute_llm_protocol::{
    ErrorKind, Generate, Generated, Ready, Reply, ReplyBody, Request, RequestBody, WorkerError,
};
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdin, ChildStdout};

use crate::confine::lines::{BoundedLines, Diagnostics, STDERR_LINE};
use crate::confine::{ConfinedChild, Policy};

/// The wall-clock time a worker may spend loading and answering before it is replaced
/// (its CPU limit is this on the configured cores).
pub const WORKER_WALL_BUDGET: Duration = Duration::from_secs(24 * 3600);

/// The worker's file-size limit (RLIMIT_FSIZE). It may write no file (Landlock), but
/// the limit also bounds memory files (memfd), which GPU drivers use.
const WORKER_FILE_SIZE: u64 = 1 << 30;

/// Longest reply line read from the worker (a longer one is a broken worker).
const REPLY_LINE: usize = 16 << 20;

/// The worker's stderr lines kept for the message when it dies.
const DIAGNOSTIC_LINES: usize = 8;

/// How to start a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    /// The `chute-llm` binary.
    pub program: PathBuf,
    /// The GGUF model.
    pub model: PathBuf,
    /// CPU threads.
    pub threads: u16,
    /// Context length in tokens.
    pub context: u32,
    /// GPU layers.
    pub gpu_layers: u32,
    /// The chute binary that starts the worker confined (`chute confine`).
    pub launcher: PathBuf,
    /// Cores whose time the worker's CPU budget counts (`limits.child_cpu_cores`; 0:
    /// this machine's).
    pub cpu_cores: u32,
}

/// Why talking to the worker failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkerFailure {
    /// The worker could not be started or could not load the model.
    #[error("{0}")]
    Start(String),
    /// The worker answered with an error.
    #[error("{}", .0.message)]
    Refused(WorkerError),
    /// The worker process ended or stopped answering.
    #[error("the llama.cpp worker died: {0}")]
    Died(String),
    /// The request took longer than allowed (the worker is stopped).
    #[error("llama.cpp did not answer within {0:?}")]
    Timeout(Duration),
}

impl WorkerFailure {
    /// The worker's error kind, when it answered with one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            WorkerFailure::Refused(error) => Some(error.kind),
            _ => None,
        }
    }
}

/// A running worker with its model loaded.
#[derive(Debug)]
pub struct LlamaWorker {
    spec: WorkerSpec,
    ready: Ready,
    child: ConfinedChild,
    stdin: ChildStdin,
    replies: BoundedLines<ChildStdout>,
    next_id: u64,
    /// The last lines of its stderr.
    diagnostics: Arc<Mutex<Diagnostics>>,
    /// The task logging its stderr (ends when the worker's stderr closes).
    stderr_task: Option<tokio::task::JoinHandle<()>>,
    /// How long starting it could take (a replacement gets as long).
    load_timeout: Duration,
    /// Wall time spent loading and answering, counted against [`WORKER_WALL_BUDGET`].
    spent: Duration,
    /// Requests answered or attempted.
    requests: u64,
}

impl WorkerSpec {
    /// The worker the `[summarize]` settings describe.
    pub fn from_config(config: &crate::config::Config) -> Self {
        let settings = &config.summarize;
        WorkerSpec {
            program: if settings.worker.as_os_str().is_empty() {
                default_program()
            } else {
                settings.worker.clone()
            },
            model: config.models.resolve(&settings.model),
            threads: settings.threads,
            context: settings.context,
            gpu_layers: settings.gpu_layers,
            launcher: crate::confine::own_executable()
                .unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
            cpu_cores: config.limits.child_cpu_cores,
        }
    }

    /// The confinement the worker runs under.
    fn policy(&self) -> Policy {
        let mut policy = Policy::new(WORKER_WALL_BUDGET, self.cpu_cores, WORKER_FILE_SIZE)
            .pass_env("CUDA_VISIBLE_DEVICES")
            .pass_env("HIP_VISIBLE_DEVICES");
        if self.gpu_layers > 0 {
            for device in gpu_devices() {
                policy = policy.writable(device);
            }
        }
        policy
    }
}

/// The device nodes a GPU build of llama.cpp opens for writing (NVIDIA, DRM, AMD KFD).
fn gpu_devices() -> Vec<PathBuf> {
    let mut devices: Vec<PathBuf> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("nvidia"))
        .map(|entry| entry.path())
        .collect();
    devices.extend(
        ["/dev/dri", "/dev/kfd"]
            .iter()
            .map(PathBuf::from)
            .filter(|path| path.exists()),
    );
    devices
}

/// The `chute-llm` next to the running executable.
pub fn default_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("chute-llm")))
        .unwrap_or_else(|| PathBuf::from("chute-llm"))
}

impl LlamaWorker {
    /// Starts a worker and waits until its model is loaded.
    pub async fn start(spec: &WorkerSpec, load_timeout: Duration) -> Result<Self, WorkerFailure> {
        if !spec.model.is_file() {
            return Err(WorkerFailure::Start(format!(
                "the language model {} is missing",
                spec.model.display()
            )));
        }
        let started = Instant::now();
        let mut command = spec.policy().command(&spec.launcher, &spec.program);
        command
            .arg("--model")
            .arg(&spec.model)
            .arg("--threads")
            .arg(spec.threads.to_string())
            .arg("--context")
            .arg(spec.context.to_string())
            .arg("--gpu-layers")
            .arg(spec.gpu_layers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ConfinedChild::spawn(&mut command).map_err(|error| {
            WorkerFailure::Start(format!(
                "cannot start the llama.cpp worker {} through {} confine: {error}",
                spec.program.display(),
                spec.launcher.display()
            ))
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin(), child.stdout(), child.stderr())
        else {
            return Err(WorkerFailure::Start(
                "the worker's pipes are missing".into(),
            ));
        };
        let diagnostics = Arc::new(Mutex::new(Diagnostics::new(DIAGNOSTIC_LINES)));
        let stderr_task = tokio::spawn(forward_stderr(stderr, diagnostics.clone()));
        let mut worker = LlamaWorker {
            spec: spec.clone(),
            ready: Ready {
                model: String::new(),
                size_bytes: 0,
                parameters: 0,
                context: 0,
                batch: 0,
                chat_template: false,
                device: String::new(),
                load_seconds: 0.0,
            },
            child,
            stdin,
            replies: BoundedLines::new(stdout, REPLY_LINE),
            next_id: 1,
            diagnostics,
            stderr_task: Some(stderr_task),
            load_timeout,
            spent: Duration::ZERO,
            requests: 0,
        };
        let loaded = worker.read_reply(0, load_timeout, &mut |_| {}).await;
        worker.spent += started.elapsed();
        match loaded {
            Ok(ReplyBody::Ready(ready)) => {
                worker.ready = ready;
                Ok(worker)
            }
            Ok(ReplyBody::Error(error)) => Err(WorkerFailure::Start(error.message)),
            Ok(other) => Err(WorkerFailure::Start(format!(
                "the worker started with an unexpected reply: {other:?}"
            ))),
            Err(WorkerFailure::Died(reason)) => Err(WorkerFailure::Start(format!(
                "the llama.cpp worker exited while loading {}: {reason}",
                spec.model.display()
            ))),
            Err(error) => Err(error),
        }
    }

    /// What was started.
    pub fn spec(&self) -> &WorkerSpec {
        &self.spec
    }

    /// What the worker loaded.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// Counts the tokens of `text`.
    pub async fn count(&mut self, text: &str, timeout: Duration) -> Result<u32, WorkerFailure> {
        match self
            .request(
                RequestBody::Count {
                    text: text.to_owned(),
                },
                timeout,
                &mut |_| {},
            )
            .await?
        {
            ReplyBody::Counted { tokens } => Ok(tokens),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs a completion; `progress` gets the number of tokens generated so far.
    pub async fn generate(
        &mut self,
        request: Generate,
        timeout: Duration,
        progress: &mut (dyn FnMut(u32) + Send),
    ) -> Result<Generated, WorkerFailure> {
        match self
            .request(RequestBody::Generate(request), timeout, progress)
            .await?
        {
            ReplyBody::Generated(generated) => Ok(generated),
            other => Err(unexpected(&other)),
        }
    }

    async fn request(
        &mut self,
        body: RequestBody,
        timeout: Duration,
        progress: &mut (dyn FnMut(u32) + Send),
    ) -> Result<ReplyBody, WorkerFailure> {
        self.renew_if_spent(timeout).await?;
        self.requests += 1;
        let started = Instant::now();
        let reply = self.exchange(body, timeout, progress).await;
        self.spent += started.elapsed();
        reply
    }

    /// Replaces the worker with a fresh one (the same model) when a request of
    /// `timeout` could take it past its budget.
    async fn renew_if_spent(&mut self, timeout: Duration) -> Result<(), WorkerFailure> {
        if self.requests == 0 || self.spent + timeout <= WORKER_WALL_BUDGET {
            return Ok(());
        }
        tracing::info!(model = %self.ready.model, spent_seconds = self.spent.as_secs(), "Starting a fresh llama.cpp worker: this one has used its CPU budget.");
        let fresh = LlamaWorker::start(&self.spec, self.load_timeout).await?;
        std::mem::replace(self, fresh).stop().await;
        Ok(())
    }

    async fn exchange(
        &mut self,
        body: RequestBody,
        timeout: Duration,
        progress: &mut (dyn FnMut(u32) + Send),
    ) -> Result<ReplyBody, WorkerFailure> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = serde_json::to_vec(&Request { id, body })
            .map_err(|error| WorkerFailure::Died(format!("cannot encode the request: {error}")))?;
        line.push(b'\n');
        if let Err(error) = self.stdin.write_all(&line).await {
            return Err(WorkerFailure::Died(
                self.exit_reason(&error.to_string()).await,
            ));
        }
        match self.read_reply(id, timeout, progress).await? {
            ReplyBody::Error(error) => Err(WorkerFailure::Refused(error)),
            reply => Ok(reply),
        }
    }

    /// Reads lines until the final reply to `id`.
    async fn read_reply(
        &mut self,
        id: u64,
        timeout: Duration,
        progress: &mut (dyn FnMut(u32) + Send),
    ) -> Result<ReplyBody, WorkerFailure> {
        let reading = async {
            loop {
                match self.replies.next_line().await {
                    Ok(Some(line)) if line.cut => {
                        return Err(format!("it sent a reply longer than {REPLY_LINE} bytes"));
                    }
                    Ok(Some(line)) => match serde_json::from_str::<Reply>(&line.text) {
                        Ok(Reply {
                            body: ReplyBody::Progress { tokens },
                            ..
                        }) => progress(tokens),
                        Ok(reply) if reply.id == id => return Ok(reply.body),
                        Ok(_) => {}
                        Err(_) => tracing::debug!(
                            line = %line.text,
                            "Ignoring a line from the llama.cpp worker."
                        ),
                    },
                    Ok(None) => return Err("its output ended".to_owned()),
                    Err(error) => return Err(error.to_string()),
                }
            }
        };
        match tokio::time::timeout(timeout, reading).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(reason)) => Err(WorkerFailure::Died(self.exit_reason(&reason).await)),
            Err(_) => {
                self.child.kill();
                Err(WorkerFailure::Timeout(timeout))
            }
        }
    }

    /// Why the worker went away, from its exit status when it has one, with the last
    /// lines it wrote to stderr.
    async fn exit_reason(&mut self, fallback: &str) -> String {
        let status = match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => format!("{} ({fallback})", crate::confine::describe_status(status)),
            _ => fallback.to_owned(),
        };
        // Its last lines are read once its stderr closes.
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        let last = self
            .diagnostics
            .lock()
            .map(|diagnostics| diagnostics.joined())
            .unwrap_or_default();
        match last {
            Some(lines) => format!("{status}: {lines}"),
            None => status,
        }
    }

    /// Stops the worker and waits for it to exit (the model's memory is freed).
    pub async fn stop(self) {
        let LlamaWorker {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            child.kill_and_wait().await;
        }
    }
}

/// Logs the worker's stderr (llama.cpp's own messages) at debug level, in bounded
/// lines, keeping the last few for the message if it dies.
async fn forward_stderr(stderr: tokio::process::ChildStderr, diagnostics: Arc<Mutex<Diagnostics>>) {
    let mut lines = BoundedLines::new(stderr, STDERR_LINE);
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(line = %line.text, "llama.cpp worker");
        if let Ok(mut kept) = diagnostics.lock() {
            kept.push(&line.text);
        }
    }
}

fn unexpected(reply: &ReplyBody) -> WorkerFailure {
    WorkerFailure::Died(format!("the worker sent an unexpected reply: {reply:?}"))
}
