//! The daemon's side of the render child: `chute render KIND --plan FILE` (the same
//! binary) renders one plan while its stderr carries JSON lines (what it is working
//! on, progress, then the outcome). A decoder that crashes on a hostile file, a hang
//! (wall-clock and CPU limits) or a memory blow-up (address-space limit) fails that
//! one render, never the daemon. The child runs confined (see [`crate::confine`]): an
//! environment with only what GStreamer, fonts and locales need (API keys never reach
//! it), no network sockets, and writes only in the output's folder.
//!
//! Its inputs (images, clips, voices, music) stay paths in the plan rather than open
//! files: a plan names a varying number of them, each opened in turn deep inside
//! GStreamer or the image decoder, and all of them are files the daemon itself wrote
//! into the job folder under names it chose (downloads are materialised there, brief
//! assets are checked to be inside the brief folder with no links), so there is no
//! hostile name or link to guard against that an open descriptor would.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::confine::lines::{BoundedLines, Diagnostics, STDERR_LINE};
use crate::confine::{ConfinedChild, Policy};

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
    /// Cores whose time over `timeout` the child's CPU time may take (RLIMIT_CPU; 0:
    /// this machine's cores).
    pub cpu_cores: u32,
}

impl Default for RenderLimits {
    fn default() -> Self {
        Self {
            max_memory: 4 << 30,
            timeout: Duration::from_secs(15 * 60),
            cpu_cores: 0,
        }
    }
}

/// The largest file a render child may write (RLIMIT_FSIZE): ten minutes of
/// 1080x1920 video at the highest bitrate a plan allows is about 15 GB; no real render
/// comes near 4 GiB.
pub const MAX_OUTPUT_BYTES: u64 = 4 << 30;

/// Lines of the child's stderr that are not reports, kept for the error message.
const DIAGNOSTIC_LINES: usize = 8;

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
    crate::confine::gstreamer::prepare(exe).await;
    // Temporary files (mp4mux's faststart file) go beside the output: the only folder
    // the child may write in.
    let policy = Policy::new(limits.timeout, limits.cpu_cores, MAX_OUTPUT_BYTES)
        .memory(limits.max_memory)
        .writable(folder)
        .gstreamer()
        .env("TMPDIR", temporary_folder(folder));
    let mut command = policy.command(exe, exe);
    command
        .arg("render")
        .arg(kind.argument())
        .arg("--max-memory")
        .arg(limits.max_memory.to_string())
        .arg("--plan")
        .arg(plan_file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = ConfinedChild::spawn(&mut command)
        .map_err(|error| RenderError::Spawn(error.to_string()))?;
    let stderr = child
        .stderr()
        .ok_or_else(|| RenderError::Spawn("the child's stderr is not piped".into()))?;
    let mut lines = BoundedLines::new(stderr, STDERR_LINE);
    let mut outcome: Option<Result<ChildReport, RenderError>> = None;
    let mut during: Option<String> = None;
    let mut diagnostics = Diagnostics::new(DIAGNOSTIC_LINES);
    let reading = async {
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<ChildReport>(&line.text) {
                Ok(ChildReport::Working(what)) => during = Some(what),
                Ok(ChildReport::Progress(fraction)) => progress(fraction),
                Ok(ChildReport::Failed(error)) => outcome = Some(Err(error)),
                Ok(done) => outcome = Some(Ok(done)),
                Err(_) => diagnostics.push(&line.text),
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(limits.timeout, reading).await {
        Ok(status) => status.map_err(|error| RenderError::Spawn(error.to_string()))?,
        Err(_) => {
            child.kill_and_wait().await;
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
            detail: diagnostics.joined(),
        }),
    }
}

/// `folder` as an absolute path, for TMPDIR (the child's working folder is the
/// daemon's, so a relative one would do, but libraries expect TMPDIR absolute).
fn temporary_folder(folder: &Path) -> std::path::PathBuf {
    std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf())
}

/// An exit status for people (see [`crate::confine::describe_status`]).
fn describe_status(status: ExitStatus) -> String {
    crate::confine::describe_status(status)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reports_round_trip_as_json_lines() {
        let line =
            serde_json::to_string(&ChildReport::Working("decoding the music".into())).unwrap();
        assert_eq!(line, r#"{"working":"decoding the music"}"#);
        let card: ChildReport = serde_json::from_str(r#""card""#).unwrap();
        assert_eq!(card, ChildReport::Card);
    }
}
