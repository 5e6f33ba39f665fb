//! Running the decoder in a child process: `chute decode` (the same binary) decodes one
//! input and streams 16 kHz mono f32le samples into the file it gets as stdout, while
//! its stderr carries JSON lines (progress, then the outcome). A crash, a hang (wall
//! clock limit) or a memory blow-up (address-space limit set by the child on itself)
//! fails that one decode, never the daemon.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::decode::{DecodeError, DecodeInfo};

/// Limits for one decode.
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Longest accepted input, in seconds of audio.
    pub max_seconds: u64,
    /// Address-space limit of the child, in bytes.
    pub max_memory: u64,
    /// Wall-clock limit.
    pub timeout: Duration,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_seconds: 4 * 3600,
            max_memory: 4 << 30,
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// One line the child writes to stderr.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildReport {
    /// Seconds of audio decoded so far.
    Progress(f64),
    /// Finished.
    Done(DecodeInfo),
    /// Failed.
    Failed(DecodeError),
}

/// The running chute binary, for starting decoder children. `/proc/self/exe` names
/// the file this process was started from even after an upgrade replaced or removed
/// it on disk, so decoding keeps working until the daemon restarts into the new
/// version (a path from `current_exe()` would then name a deleted file).
pub fn own_executable() -> std::io::Result<std::path::PathBuf> {
    let proc_self = Path::new("/proc/self/exe");
    if proc_self.exists() {
        Ok(proc_self.to_path_buf())
    } else {
        std::env::current_exe()
    }
}

/// Decodes `input` into `output` (raw f32le, 16 kHz mono) in a child process, calling
/// `progress` with the decoded seconds.
pub async fn decode_in_child(
    executable: &Path,
    input: &Path,
    output: &Path,
    limits: &DecodeLimits,
    mut progress: impl FnMut(f64),
) -> Result<DecodeInfo, DecodeError> {
    let samples =
        std::fs::File::create(output).map_err(|error| DecodeError::Output(error.to_string()))?;
    let mut child = tokio::process::Command::new(executable)
        .arg("decode")
        .arg("--max-seconds")
        .arg(limits.max_seconds.to_string())
        .arg("--max-memory")
        .arg(limits.max_memory.to_string())
        .arg("--")
        .arg(input)
        .stdin(Stdio::null())
        .stdout(Stdio::from(samples))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| {
            DecodeError::Setup(format!("cannot start the decoder process: {error}"))
        })?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| DecodeError::Setup("the decoder's stderr is not piped".into()))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut outcome = None;
    let mut diagnostics = Vec::new();
    let reading = async {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<ChildReport>(&line) {
                Ok(ChildReport::Progress(seconds)) => progress(seconds),
                Ok(ChildReport::Done(info)) => outcome = Some(Ok(info)),
                Ok(ChildReport::Failed(error)) => outcome = Some(Err(error)),
                Err(_) if diagnostics.len() < 20 => diagnostics.push(line),
                Err(_) => {}
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(limits.timeout, reading).await {
        Ok(status) => status.map_err(|error| DecodeError::Setup(error.to_string()))?,
        Err(_) => {
            return Err(DecodeError::Unreadable(format!(
                "the decoder did not finish within {} s and was stopped",
                limits.timeout.as_secs()
            )));
        }
    };
    match outcome {
        Some(result) => result,
        None => Err(DecodeError::Unreadable(format!(
            "the decoder process died ({status}){}",
            if diagnostics.is_empty() {
                String::new()
            } else {
                format!(": {}", diagnostics.join(" | "))
            }
        ))),
    }
}

/// The body of `chute decode`: sets the memory limit, decodes to stdout, reports on
/// stderr. Returns the process exit code.
pub fn run_child(input: &Path, max_seconds: u64, max_memory: u64) -> u8 {
    let limit = rustix::process::Rlimit {
        current: Some(max_memory),
        maximum: Some(max_memory),
    };
    if let Err(error) = rustix::process::setrlimit(rustix::process::Resource::As, limit) {
        report(&ChildReport::Failed(DecodeError::Setup(format!(
            "cannot set the memory limit: {error}"
        ))));
        return 1;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let result = super::decode::decode(input, &mut out, max_seconds, &mut |seconds| {
        report(&ChildReport::Progress(seconds));
    });
    drop(out);
    match result {
        Ok(info) => {
            report(&ChildReport::Done(info));
            0
        }
        Err(error) => {
            report(&ChildReport::Failed(error));
            1
        }
    }
}

fn report(line: &ChildReport) {
    if let Ok(text) = serde_json::to_string(line) {
        eprintln!("{text}");
    }
}

/// The raw sample file a decode stage writes into the job's work folder.
pub fn samples_path(work_dir: &Path) -> PathBuf {
    work_dir.join("audio.f32")
}
