//! A whole video, inside the render child: the soundtrack first (voices placed, music
//! ducked under them), then every frame composed here and encoded by GStreamer on its
//! own threads, into a temporary file renamed to the output when complete.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::audio;
use super::captions::{self, CaptionStyle};
use super::compose::Composer;
use super::encode::Output;
use super::error::RenderError;
use super::mix;
use super::plan::VideoPlan;

/// What a finished render measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoReport {
    /// Length of the video (frames / fps).
    pub duration_seconds: f64,
    /// Frames written.
    pub frames: u64,
    /// Wall-clock time of the render, decoding included.
    pub encode_seconds: f64,
    /// `encode_seconds / duration_seconds` (below 1 is faster than real time).
    pub realtime_factor: f64,
    /// Caption chunks burned in.
    pub captions: usize,
}

/// What the child tells the parent while rendering.
pub trait Progress {
    /// Now working on this (`decoding scene 2's clip (c.mp4)`).
    fn working(&mut self, what: String);
    /// This fraction (0..1) of the frames is done.
    fn fraction(&mut self, done: f64);
}

/// Renders `plan` into `plan.output`.
pub fn render(plan: &VideoPlan, progress: &mut dyn Progress) -> Result<VideoReport, RenderError> {
    let started = Instant::now();
    plan.validate()?;
    super::elements::init()?;
    let mut composer = Composer::new(plan);
    let timeline = composer.timeline().clone();
    let slots = timeline.slots();

    let mut soundtrack = mix::silence(timeline.total());
    for (index, (scene, &(start, length))) in plan.scenes.iter().zip(&slots).enumerate() {
        let Some(voice) = &scene.voice else { continue };
        let what = format!("scene {}'s voice", index + 1);
        progress.working(format!("decoding {what} ({})", voice.display()));
        let samples = audio::decode(voice, &what, length + 0.5)?;
        mix::place_voice(&mut soundtrack, start, length, &samples);
    }
    if let Some(music) = &plan.music {
        progress.working(format!("decoding the music ({})", music.display()));
        let samples = audio::decode(music, "the music", timeline.total())?;
        mix::add_music(&mut soundtrack, &samples, &plan.mix);
    }
    mix::limit(&mut soundtrack);

    let style = CaptionStyle::for_frame(plan.width, plan.height);
    let texts: Vec<&str> = plan.scenes.iter().map(|s| s.caption.as_str()).collect();
    let words: Vec<&[_]> = plan
        .scenes
        .iter()
        .map(|s| s.caption_words.as_slice())
        .collect();
    let cues = captions::cues(&texts, &words, &slots, style);

    let folder = output_folder(&plan.output)?;
    let partial = tempfile::Builder::new()
        .prefix(".render-")
        .suffix(".mp4")
        .tempfile_in(folder)
        .map_err(|error| output_error(&plan.output, error))?;
    let mut output = Output::start(plan, partial.path(), &cues, style, soundtrack)?;
    let frames = timeline.frames();
    let report_every = u64::from(plan.fps).max(1);
    for index in 0..frames {
        let planes = composer.frame(index, &mut |what| progress.working(what))?;
        output.push(index, planes)?;
        if index % report_every == 0 {
            progress.fraction(index as f64 / frames as f64);
        }
    }
    drop(composer);
    progress.working("finishing the MP4".into());
    output.finish()?;
    partial
        .persist(&plan.output)
        .map_err(|error| output_error(&plan.output, error.error))?;
    progress.fraction(1.0);
    let duration = frames as f64 / f64::from(plan.fps);
    let wall = started.elapsed().as_secs_f64();
    Ok(VideoReport {
        duration_seconds: duration,
        frames,
        encode_seconds: wall,
        realtime_factor: wall / duration.max(1e-9),
        captions: cues.len(),
    })
}

/// The folder an output goes into (the current one for a bare name).
pub fn output_folder(output: &Path) -> Result<&Path, RenderError> {
    match output.parent() {
        Some(parent) if parent.as_os_str().is_empty() => Ok(Path::new(".")),
        Some(parent) => Ok(parent),
        None => Err(RenderError::Plan(format!(
            "{} is not a file path",
            output.display()
        ))),
    }
}

/// An output that cannot be written.
pub fn output_error(path: &Path, error: impl std::fmt::Display) -> RenderError {
    RenderError::Output {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}
