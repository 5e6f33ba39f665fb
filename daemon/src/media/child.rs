//! Running the decoder in a child process: `chute decode` (the same binary) decodes one
//! input it gets as stdin and streams 16 kHz mono f32le samples into the file it gets
//! as stdout, while its stderr carries JSON lines (progress, then the outcome). It runs
//! confined (see [`crate::confine`]): a crash, a hang (wall-clock and CPU limits), a
//! memory blow-up (address-space limit) or an output past the size limit fails that
//! one decode, never the daemon, and a decoder taken over by a hostile file can write
//! nowhere, open no network socket and sees no key.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::decode::{DecodeError, DecodeInfo, SAMPLE_RATE};
use crate::confine::lines::{BoundedLines, Diagnostics, STDERR_LINE};
use crate::confine::{ConfinedChild, Policy};

/// Limits for one decode.
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Longest accepted input, in seconds of audio.
    pub max_seconds: u64,
    /// Address-space limit of the child, in bytes.
    pub max_memory: u64,
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Cores whose time over `timeout` the child's CPU time may take (RLIMIT_CPU; 0:
    /// this machine's cores; see [`crate::confine::cpu_seconds`]).
    pub cpu_cores: u32,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_seconds: 4 * 3600,
            max_memory: 4 << 30,
            timeout: Duration::from_secs(30 * 60),
            cpu_cores: 0,
        }
    }
}

impl DecodeLimits {
    /// The most bytes a decode may write: `max_seconds` of 16 kHz mono f32.
    pub fn max_output_bytes(&self) -> u64 {
        max_output_bytes(self.max_seconds)
    }
}

/// The most bytes a decode of `max_seconds` may write (16 kHz mono f32le).
pub fn max_output_bytes(max_seconds: u64) -> u64 {
    max_seconds
        .saturating_mul(u64::from(SAMPLE_RATE))
        .saturating_mul(BYTES_PER_SAMPLE)
}

/// Bytes per output sample (f32).
pub const BYTES_PER_SAMPLE: u64 = 4;

/// The child's file-size limit above [`max_output_bytes`]: the child stops itself at
/// the limit, the kernel only if it does not.
const FILE_SIZE_SLACK: u64 = 1 << 20;

/// Lines of the child's stderr that are not reports, kept for the error message.
const DIAGNOSTIC_LINES: usize = 20;

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

/// The running chute binary, for starting decoder children (see
/// [`crate::confine::own_executable`]).
pub fn own_executable() -> std::io::Result<PathBuf> {
    crate::confine::own_executable()
}

/// Decodes `input` into `output` (raw f32le, 16 kHz mono) in a confined child process
/// (see [`crate::confine`]), calling `progress` with the decoded seconds.
///
/// The input is opened here (`O_NOFOLLOW`, read-only) and handed to the child as its
/// stdin, so the child never resolves a name: a link swapped in, or a name that is not
/// UTF-8, changes nothing. The child writes nowhere but the output it gets as stdout,
/// at most [`DecodeLimits::max_output_bytes`]. A failed decode removes its partial
/// output at once (a hostile input must not leave a large file behind).
pub async fn decode_in_child(
    executable: &Path,
    input: &Path,
    output: &Path,
    limits: &DecodeLimits,
    progress: impl FnMut(f64),
) -> Result<DecodeInfo, DecodeError> {
    let result = run_decoder(executable, input, Some(output), limits, progress).await;
    if result.is_err() {
        remove_partial(output);
    }
    result
}

/// Reads `input` in a confined child up to its first decoded buffer, writing nothing,
/// and returns the duration its header declares (`None` when it declares none), so a
/// stage knows the size of its output before it decodes.
pub async fn probe_in_child(
    executable: &Path,
    input: &Path,
    limits: &DecodeLimits,
) -> Result<Option<f64>, DecodeError> {
    let info = run_decoder(executable, input, None, limits, |_| {}).await?;
    Ok(info.declared_seconds)
}

/// The bytes a decode of `seconds` of audio writes (16 kHz mono f32), with a margin
/// for the resampler's rounding.
pub fn expected_output_bytes(seconds: f64) -> u64 {
    let samples = (seconds.max(0.0) * f64::from(SAMPLE_RATE)).ceil() as u64;
    let bytes = samples.saturating_mul(BYTES_PER_SAMPLE);
    bytes.saturating_add(bytes / 100).saturating_add(64 << 10)
}

/// Runs `chute decode` on `input`: a decode into `output`, or (without one) a probe
/// that writes nothing.
async fn run_decoder(
    executable: &Path,
    input: &Path,
    output: Option<&Path>,
    limits: &DecodeLimits,
    mut progress: impl FnMut(f64),
) -> Result<DecodeInfo, DecodeError> {
    let source = open_input(input)?;
    let samples = match output {
        Some(output) => {
            Stdio::from(std::fs::File::create(output).map_err(|error| DecodeError::output(&error))?)
        }
        None => Stdio::null(),
    };
    crate::confine::gstreamer::prepare(executable).await;
    let policy = Policy::new(
        limits.timeout,
        limits.cpu_cores,
        limits.max_output_bytes().saturating_add(FILE_SIZE_SLACK),
    )
    .memory(limits.max_memory)
    .gstreamer();
    let mut command = policy.command(executable, executable);
    command
        .arg("decode")
        .arg("--max-seconds")
        .arg(limits.max_seconds.to_string())
        .arg("--max-memory")
        .arg(limits.max_memory.to_string());
    if output.is_none() {
        command.arg("--probe");
    }
    command
        .arg("--")
        .arg(STDIN_INPUT)
        .stdin(Stdio::from(source))
        .stdout(samples)
        .stderr(Stdio::piped());
    let mut child = ConfinedChild::spawn(&mut command).map_err(|error| {
        DecodeError::Setup(format!("cannot start the decoder process: {error}"))
    })?;
    let stderr = child
        .stderr()
        .ok_or_else(|| DecodeError::Setup("the decoder's stderr is not piped".into()))?;
    let mut lines = BoundedLines::new(stderr, STDERR_LINE);
    let mut outcome = None;
    let mut diagnostics = Diagnostics::new(DIAGNOSTIC_LINES);
    let reading = async {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<ChildReport>(&line.text) {
                Ok(ChildReport::Progress(seconds)) => progress(seconds),
                Ok(ChildReport::Done(info)) => outcome = Some(Ok(info)),
                Ok(ChildReport::Failed(error)) => outcome = Some(Err(error)),
                Err(_) => diagnostics.push(&line.text),
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(limits.timeout, reading).await {
        Ok(status) => status.map_err(|error| DecodeError::Setup(error.to_string()))?,
        Err(_) => {
            child.kill_and_wait().await;
            return Err(DecodeError::Unreadable(format!(
                "the decoder did not finish within {} s and was stopped",
                limits.timeout.as_secs()
            )));
        }
    };
    match outcome {
        Some(result) => result,
        None => Err(DecodeError::Unreadable(format!(
            "the decoder process died ({}){}",
            crate::confine::describe_status(status),
            diagnostics
                .joined()
                .map(|lines| format!(": {lines}"))
                .unwrap_or_default()
        ))),
    }
}

/// The input argument that tells `chute decode` to read its stdin.
pub const STDIN_INPUT: &str = "-";

/// Opens the input read-only without following a link (nor blocking on a FIFO), and
/// checks that it is a regular file.
fn open_input(input: &Path) -> Result<std::fs::File, DecodeError> {
    use rustix::fs::{Mode, OFlags};
    let unreadable = |why: String| DecodeError::Unreadable(format!("cannot open the input: {why}"));
    let fd = rustix::fs::open(
        input,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|error| match error {
        rustix::io::Errno::LOOP => unreadable("it is a symbolic link".into()),
        other => unreadable(other.to_string()),
    })?;
    let file = std::fs::File::from(fd);
    let metadata = file
        .metadata()
        .map_err(|error| unreadable(error.to_string()))?;
    if !metadata.is_file() {
        return Err(unreadable("it is not a regular file".into()));
    }
    Ok(file)
}

/// Removes a failed decode's output when it is a regular file (never `/dev/null`).
fn remove_partial(output: &Path) {
    if std::fs::symlink_metadata(output).is_ok_and(|metadata| metadata.is_file())
        && let Err(error) = std::fs::remove_file(output)
    {
        tracing::warn!(path = %output.display(), %error, "Cannot remove a failed decode's output.");
    }
}

/// The body of `chute decode`: sets the memory limit, decodes `input` (a path, or
/// [`STDIN_INPUT`] for the file the parent opened as stdin) to stdout (with `probe`,
/// only up to its header, writing nothing), reports on stderr. Returns the process
/// exit code.
pub fn run_child(input: &Path, max_seconds: u64, max_memory: u64, probe: bool) -> u8 {
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
    // A named input is opened here once; from then on, as for stdin, GStreamer reads
    // the open file through /proc/self/fd (its name may not be UTF-8).
    let opened;
    let fd = if input == Path::new(STDIN_INPUT) {
        0
    } else {
        match std::fs::File::open(input) {
            Ok(file) => {
                opened = file;
                std::os::fd::AsRawFd::as_raw_fd(&opened)
            }
            Err(error) => {
                report(&ChildReport::Failed(DecodeError::Unreadable(format!(
                    "cannot open {}: {error}",
                    input.display()
                ))));
                return 1;
            }
        }
    };
    let result = if probe {
        super::decode::probe_fd(fd, max_seconds)
    } else {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        let result = super::decode::decode_fd(fd, &mut out, max_seconds, &mut |seconds| {
            report(&ChildReport::Progress(seconds));
        });
        // A buffered tail that cannot be written is a failed decode, never a success.
        match (result, std::io::Write::flush(&mut out)) {
            (Ok(_), Err(error)) => Err(DecodeError::output(&error)),
            (result, _) => result,
        }
    };
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
