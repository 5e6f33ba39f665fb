//! `chute-llm`: the worker process that owns llama.cpp for the chute daemon.
//!
//! It loads one GGUF model, announces itself with a `ready` line, then answers one JSON
//! request per stdin line (see `chute-llm-protocol`). Every input is validated before it
//! reaches llama.cpp, because llama.cpp aborts the process on misuse; if it aborts anyway,
//! only this worker dies and the daemon fails that one request. The worker dies with its
//! parent, so a killed daemon leaves no model loaded behind.

mod engine;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chute_llm_protocol::{ErrorKind, Reply, ReplyBody, Request, WorkerError};
use clap::Parser;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "chute-llm",
    version,
    about = "chute's llama.cpp worker (started by the daemon)"
)]
struct Args {
    /// The GGUF model file.
    #[arg(long)]
    model: PathBuf,
    /// CPU threads for generation and prompt evaluation.
    #[arg(long, default_value_t = 2)]
    threads: u16,
    /// Context length in tokens (prompt + output).
    #[arg(long, default_value_t = 4096)]
    context: u32,
    /// Tokens per decode batch.
    #[arg(long, default_value_t = 512)]
    batch: u32,
    /// Layers to offload to the GPU (0 = CPU only; ignored without a GPU build).
    #[arg(long, default_value_t = 0)]
    gpu_layers: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // A worker outliving a `kill -9`ed daemon would hold the model (and the GPU) forever.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let mut out = std::io::stdout().lock();
    let settings = engine::Settings {
        threads: args.threads.max(1),
        context: args.context,
        batch: args.batch,
        gpu_layers: args.gpu_layers,
    };
    let engine = match engine::Engine::load(&args.model, &settings) {
        Ok(engine) => engine,
        Err(error) => {
            send(&mut out, 0, ReplyBody::Error(error));
            return ExitCode::FAILURE;
        }
    };
    let mut session = match engine.session() {
        Ok(session) => session,
        Err(error) => {
            send(&mut out, 0, ReplyBody::Error(error));
            return ExitCode::FAILURE;
        }
    };
    if !send(&mut out, 0, ReplyBody::Ready(session.ready())) {
        return ExitCode::FAILURE;
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(error) => {
                let reply = ReplyBody::Error(WorkerError {
                    kind: ErrorKind::BadRequest,
                    message: format!("not a request: {error}"),
                });
                if !send(&mut out, 0, reply) {
                    break;
                }
                continue;
            }
        };
        let id = request.id;
        let reply = session.handle(request.body, &mut |tokens| {
            send(&mut out, id, ReplyBody::Progress { tokens });
        });
        if !send(&mut out, id, reply) {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// Writes one reply line; false when the daemon has gone away.
fn send(out: &mut impl Write, id: u64, body: ReplyBody) -> bool {
    let Ok(text) = serde_json::to_string(&Reply { id, body }) else {
        return false;
    };
    writeln!(out, "{text}").and_then(|()| out.flush()).is_ok()
}
