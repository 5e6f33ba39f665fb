//! The daemon's side of `chute-llm`: starting the worker, sending requests, reading
//! replies, and noticing when it dies.
//!
//! A worker holds one loaded model. It is only used under the native lease, so one
//! request is in flight at a time. If it dies (llama.cpp aborted), the request fails
//! with [`WorkerFailure::Died`] and the next use starts a fresh worker.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chute_llm_protocol::{
    ErrorKind, Generate, Generated, Ready, Reply, ReplyBody, Request, RequestBody, WorkerError,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

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
    child: Child,
    stdin: ChildStdin,
    replies: Lines<BufReader<ChildStdout>>,
    next_id: u64,
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
        }
    }
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
        let mut child = tokio::process::Command::new(&spec.program)
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
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                WorkerFailure::Start(format!(
                    "cannot start the llama.cpp worker {}: {error}",
                    spec.program.display()
                ))
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(WorkerFailure::Start(
                "the worker's pipes are missing".into(),
            ));
        };
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
            replies: BufReader::new(stdout).lines(),
            next_id: 1,
        };
        match worker.read_reply(0, load_timeout, &mut |_| {}).await {
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
                    Ok(Some(line)) => match serde_json::from_str::<Reply>(&line) {
                        Ok(Reply {
                            body: ReplyBody::Progress { tokens },
                            ..
                        }) => progress(tokens),
                        Ok(reply) if reply.id == id => return Ok(reply.body),
                        Ok(_) => {}
                        Err(_) => {
                            tracing::debug!(line, "Ignoring a line from the llama.cpp worker.")
                        }
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
                let _ = self.child.start_kill();
                Err(WorkerFailure::Timeout(timeout))
            }
        }
    }

    /// Why the worker went away, from its exit status when it has one.
    async fn exit_reason(&mut self, fallback: &str) -> String {
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => format!("{status} ({fallback})"),
            _ => fallback.to_owned(),
        }
    }

    /// Stops the worker and waits for it to exit (the model's memory is freed).
    pub async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn unexpected(reply: &ReplyBody) -> WorkerFailure {
    WorkerFailure::Died(format!("the worker sent an unexpected reply: {reply:?}"))
}
