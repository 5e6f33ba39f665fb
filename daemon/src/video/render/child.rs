//! The daemon's side of the render child: `chute render KIND --plan FILE` (the same
//! binary) renders one plan while its stderr carries JSON lines (what it is working
//! on, progress, then the outcome). A decoder that crashes on a hostile file, a hang
//! (wall-clock limit) or a memory blow-up (address-space limit, set by the child on
//! itself) fails that one render, never the daemon. The child starts with an empty
//! environment plus what GStreamer, fonts and locales need: API keys never reach it.

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::error::RenderError;
use super::last_frame::LastFramePlan;
use super::plan::{CardPlan, ThumbnailPlan, VideoPlan};
use super::thumbnail::ThumbnailReport;
use super::video::{VideoReport, output_folder};

/// Limits for one render child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderLimits {
    /// Address-space limit of the child, in bytes.
    pub max_memory: u64,
    /// Wall-clock limit.
    pub timeout: Duration,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            max_memory: 4 << 30,
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// What to render: the child's subcommand argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderKind {
    /// A video from a [`VideoPlan`].
    Video,
    /// A scene card from a [`CardPlan`].
    Card,
    /// A thumbnail from a [`ThumbnailPlan`].
    Thumbnail,
    /// The last frame of a clip, from a [`LastFramePlan`].
    LastFrame,
}

impl RenderKind {
    fn argument(self) -> &'static str {
        match self {
            RenderKind::Video => "video",
            RenderKind::Card => "card",
            RenderKind::Thumbnail => "thumbnail",
            RenderKind::LastFrame => "last-frame",
        }
    }
}

/// One line the child writes to stderr.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildReport {
    /// What it is working on now (`decoding scene 2's clip (c.mp4)`).
    Working(String),
    /// Fraction of the video done.
    Progress(f64),
    /// A finished video.
    Video(VideoReport),
    /// A finished card.
    Card,
    /// A finished thumbnail.
    Thumbnail(ThumbnailReport),
    /// A written last frame.
    LastFrame,
    /// Failed.
    Failed(RenderError),
}

/// Renders `plan` in a child process, calling `progress` with the fraction done.
pub async fn render_video(
    exe: &Path,
    plan: &VideoPlan,
    limits: &RenderLimits,
    progress: impl FnMut(f64),
) -> Result<VideoReport, RenderError> {
    plan.validate()?;
    match run(exe, RenderKind::Video, plan, &plan.output, limits, progress).await? {
        ChildReport::Video(report) => Ok(report),
        other => Err(unexpected(&other)),
    }
}

/// Draws a scene card in a child process.
pub async fn render_card(
    exe: &Path,
    plan: &CardPlan,
    limits: &RenderLimits,
) -> Result<(), RenderError> {
    plan.validate()?;
    match run(exe, RenderKind::Card, plan, &plan.output, limits, |_| {}).await? {
        ChildReport::Card => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// Chooses a candidate and draws the thumbnail in a child process.
pub async fn render_thumbnail(
    exe: &Path,
    plan: &ThumbnailPlan,
    limits: &RenderLimits,
) -> Result<ThumbnailReport, RenderError> {
    plan.validate()?;
    match run(
        exe,
        RenderKind::Thumbnail,
        plan,
        &plan.output,
        limits,
        |_| {},
    )
    .await?
    {
        ChildReport::Thumbnail(report) => Ok(report),
        other => Err(unexpected(&other)),
    }
}

/// Writes the last frame of the clip `video` as the PNG `output`, in a child process.
pub async fn last_frame(
    exe: &Path,
    video: &Path,
    output: &Path,
    limits: &RenderLimits,
) -> Result<(), RenderError> {
    let plan = LastFramePlan {
        video: video.to_path_buf(),
        output: output.to_path_buf(),
    };
    plan.validate()?;
    match run(exe, RenderKind::LastFrame, &plan, output, limits, |_| {}).await? {
        ChildReport::LastFrame => Ok(()),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(report: &ChildReport) -> RenderError {
    RenderError::Pipeline(format!("the render child answered {report:?}"))
}

/// The environment the child gets: the variables GStreamer, fontconfig, the locale and
/// temporary files need, nothing else (no API keys, no proxies).
pub fn child_environment() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(key, _)| key.to_str().is_some_and(is_passed_on))
        .collect()
}

/// Whether the child inherits the variable `key`.
pub fn is_passed_on(key: &str) -> bool {
    matches!(
        key,
        "PATH"
            | "HOME"
            | "LANG"
            | "LANGUAGE"
            | "TZ"
            | "TMPDIR"
            | "XDG_CACHE_HOME"
            | "XDG_DATA_DIRS"
    ) || key.starts_with("LC_")
        || key.starts_with("GST_")
        || key.starts_with("FONTCONFIG_")
}

/// Writes the plan next to the output, starts the child, follows its reports.
async fn run(
    exe: &Path,
    kind: RenderKind,
    plan: &impl Serialize,
    output: &Path,
    limits: &RenderLimits,
    mut progress: impl FnMut(f64),
) -> Result<ChildReport, RenderError> {
    let folder = output_folder(output)?;
    let mut plan_file = tempfile::Builder::new()
        .prefix(".render-plan-")
        .suffix(".json")
        .tempfile_in(folder)
        .map_err(|error| RenderError::Spawn(format!("cannot write the plan file: {error}")))?;
    serde_json::to_writer(plan_file.as_file_mut(), plan)
        .map_err(|error| RenderError::Spawn(format!("cannot write the plan file: {error}")))?;
    let mut child = tokio::process::Command::new(exe)
        .arg("render")
        .arg(kind.argument())
        .arg("--max-memory")
        .arg(limits.max_memory.to_string())
        .arg("--plan")
        .arg(plan_file.path())
        .env_clear()
        .envs(child_environment())
        // glibc reserves 64 MiB of address space per thread arena; with GStreamer's and
        // x264's threads that alone would eat the address-space limit.
        .env("MALLOC_ARENA_MAX", "2")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| RenderError::Spawn(error.to_string()))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| RenderError::Spawn("the child's stderr is not piped".into()))?;
    let mut lines = BufReader::new(stderr).lines();
    let mut outcome: Option<Result<ChildReport, RenderError>> = None;
    let mut during: Option<String> = None;
    let mut diagnostics: Vec<String> = Vec::new();
    let reading = async {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<ChildReport>(&line) {
                Ok(ChildReport::Working(what)) => during = Some(what),
                Ok(ChildReport::Progress(fraction)) => progress(fraction),
                Ok(ChildReport::Failed(error)) => outcome = Some(Err(error)),
                Ok(done) => outcome = Some(Ok(done)),
                Err(_) => {
                    if diagnostics.len() == 8 {
                        diagnostics.remove(0);
                    }
                    diagnostics.push(line.chars().take(300).collect());
                }
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(limits.timeout, reading).await {
        Ok(status) => status.map_err(|error| RenderError::Spawn(error.to_string()))?,
        Err(_) => {
            return Err(RenderError::TimedOut {
                seconds: limits.timeout.as_secs(),
                during,
            });
        }
    };
    drop(plan_file);
    match outcome {
        Some(result) => result,
        None => Err(RenderError::Crashed {
            status: describe_status(status),
            during,
            detail: (!diagnostics.is_empty()).then(|| diagnostics.join(" | ")),
        }),
    }
}

/// An exit status for people: `exit code 101`, `killed by signal 11 (SIGSEGV)`.
fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                4 => " (SIGILL)",
                5 => " (SIGTRAP)",
                6 => " (SIGABRT)",
                7 => " (SIGBUS)",
                8 => " (SIGFPE)",
                9 => " (SIGKILL)",
                11 => " (SIGSEGV)",
                _ => "",
            };
            format!("killed by signal {signal}{name}")
        }
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_and_proxies_stay_with_the_daemon() {
        for kept in [
            "PATH",
            "LANG",
            "LC_ALL",
            "GST_PLUGIN_PATH",
            "FONTCONFIG_FILE",
            "HOME",
        ] {
            assert!(is_passed_on(kept), "{kept}");
        }
        for dropped in [
            "GEMINI_API_KEY",
            "OPENAI_API_KEY",
            "CHUTE_CONFIG",
            "AWS_SECRET_ACCESS_KEY",
            "HTTPS_PROXY",
            "LD_PRELOAD",
            "RUST_LOG",
        ] {
            assert!(!is_passed_on(dropped), "{dropped}");
        }
    }

    #[test]
    fn reports_round_trip_as_json_lines() {
        let line =
            serde_json::to_string(&ChildReport::Working("decoding the music".into())).unwrap();
        assert_eq!(line, r#"{"working":"decoding the music"}"#);
        let card: ChildReport = serde_json::from_str(r#""card""#).unwrap();
        assert_eq!(card, ChildReport::Card);
    }
}
