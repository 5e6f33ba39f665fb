//! Why a render failed, sorted by what the caller should do about it. The child sends
//! these to the parent as JSON, so they are plain data.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A failed render.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenderError {
    /// An input file cannot be used (not an image, truncated, no video stream…).
    #[error("{what} ({}) cannot be used: {reason}", path.display())]
    BadInput {
        /// Which input, for people: `scene 2's clip`, `the music`.
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A GStreamer element the render needs is not installed.
    #[error(
        "the GStreamer element {element} is missing: install {package} (apt), then run `chute doctor`"
    )]
    MissingElement {
        /// The element factory.
        element: String,
        /// The Debian package that brings it.
        package: String,
    },
    /// The child process died (a crash in a decoder, the memory limit).
    #[error(
        "the render process died ({status}){}{}",
        during_text(during),
        detail_text(detail)
    )]
    Crashed {
        /// Its exit status.
        status: String,
        /// What it was working on: `decoding the clip of scene 2 (clip.mp4)`.
        during: Option<String>,
        /// The last lines it wrote that were not reports.
        detail: Option<String>,
    },
    /// The child did not finish within the wall-clock limit.
    #[error(
        "the render did not finish within {seconds} s and was stopped{}",
        during_text(during)
    )]
    TimedOut {
        /// The limit.
        seconds: u64,
        /// What it was working on.
        during: Option<String>,
    },
    /// The plan itself is not usable (a bug in the caller, or a setting out of range).
    #[error("the render plan is not usable: {0}")]
    Plan(String),
    /// GStreamer failed outside any one input (the encoder, the muxer).
    #[error("the render pipeline failed: {0}")]
    Pipeline(String),
    /// The output could not be written (disk full, folder gone).
    #[error("cannot write {}: {reason}", path.display())]
    Output {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The child process could not be started, or its plan file written.
    #[error("cannot start the render process: {0}")]
    Spawn(String),
}

fn during_text(during: &Option<String>) -> String {
    during
        .as_ref()
        .map(|what| format!(" while {what}"))
        .unwrap_or_default()
}

fn detail_text(detail: &Option<String>) -> String {
    detail
        .as_ref()
        .map(|text| format!(": {text}"))
        .unwrap_or_default()
}

impl From<chute_pixels::ResizeError> for RenderError {
    fn from(error: chute_pixels::ResizeError) -> Self {
        RenderError::Pipeline(error.to_string())
    }
}

/// What a failed render means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderConsequence {
    /// The job fails: an input is bad, or the same render would fail again.
    FailJob,
    /// The machine lacks something (a GStreamer plugin): fail the job with the package
    /// to install; `chute retry` after installing it works.
    InstallPackage,
    /// Worth another attempt (the disk, starting a process).
    Retry,
}

impl RenderError {
    /// What the job should do.
    pub fn consequence(&self) -> RenderConsequence {
        match self {
            RenderError::BadInput { .. }
            | RenderError::Crashed { .. }
            | RenderError::TimedOut { .. }
            | RenderError::Plan(_)
            | RenderError::Pipeline(_) => RenderConsequence::FailJob,
            RenderError::MissingElement { .. } => RenderConsequence::InstallPackage,
            RenderError::Output { .. } | RenderError::Spawn(_) => RenderConsequence::Retry,
        }
    }

    /// What the user can do, in a sentence.
    pub fn hint(&self) -> String {
        match self {
            RenderError::BadInput { .. } => {
                "replace the file with a complete PNG, JPEG or WebP image, MP4/WebM clip or common audio file".into()
            }
            RenderError::MissingElement { package, .. } => {
                format!("install {package} (apt), check with `chute doctor`, then `chute retry` the job")
            }
            RenderError::Crashed { .. } => {
                "the named file probably breaks a decoder: replace it, or raise sales_video.render.max_memory if the video is long".into()
            }
            RenderError::TimedOut { .. } => {
                "raise sales_video.render.timeout, or replace the named file if it is unusually long or large".into()
            }
            RenderError::Plan(_) | RenderError::Pipeline(_) => {
                "check [sales_video.render] with `chute config check`; otherwise report it as a bug".into()
            }
            RenderError::Output { .. } | RenderError::Spawn(_) => {
                "check free space and permissions in the spool".into()
            }
        }
    }

    /// A bad input, described.
    pub fn bad_input(
        what: impl Into<String>,
        path: impl Into<PathBuf>,
        reason: impl Into<String>,
    ) -> Self {
        RenderError::BadInput {
            what: what.into(),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn messages_name_the_input_and_the_package() {
        let bad = RenderError::bad_input("scene 2's clip", "/x/clip.mp4", "no video stream");
        assert_eq!(
            bad.to_string(),
            "scene 2's clip (/x/clip.mp4) cannot be used: no video stream"
        );
        let missing = RenderError::MissingElement {
            element: "x264enc".into(),
            package: "gstreamer1.0-plugins-ugly".into(),
        };
        assert!(missing.to_string().contains("gstreamer1.0-plugins-ugly"));
        assert_eq!(missing.consequence(), RenderConsequence::InstallPackage);
        let crashed = RenderError::Crashed {
            status: "signal 11".into(),
            during: Some("decoding the clip of scene 2 (c.mp4)".into()),
            detail: None,
        };
        assert_eq!(
            crashed.to_string(),
            "the render process died (signal 11) while decoding the clip of scene 2 (c.mp4)"
        );
        let json = serde_json::to_string(&crashed).unwrap();
        assert_eq!(serde_json::from_str::<RenderError>(&json).unwrap(), crashed);
    }
}
