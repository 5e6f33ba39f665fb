//! The last frame of a clip as a PNG: in `chain` clip mode it is the first frame of
//! the next scene's clip. Runs in the render child, because the clip is a download.

use std::path::PathBuf;

use chute_pixels::image::RgbaImage;
use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use serde::{Deserialize, Serialize};

use super::decoder::Decoder;
use super::elements::{CLIP_FACTORIES, Wanted};
use super::error::RenderError;
use super::textimage;

/// Largest frame accepted (pixels).
const MAX_PIXELS: u64 = 4096 * 4096;

/// Which clip, and where its last frame goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastFramePlan {
    /// The clip.
    pub video: PathBuf,
    /// The PNG to write.
    pub output: PathBuf,
}

impl LastFramePlan {
    /// Checks the plan before a child is started for it.
    pub fn validate(&self) -> Result<(), RenderError> {
        if self
            .output
            .extension()
            .is_none_or(|extension| extension != "png")
        {
            return Err(RenderError::Plan("a last frame is written as .png".into()));
        }
        Ok(())
    }
}

/// Decodes the whole clip and writes its last frame.
pub fn render(plan: &LastFramePlan) -> Result<(), RenderError> {
    super::elements::init()?;
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGBA")
        .build();
    let decoder = Decoder::open(
        &plan.video,
        "the previous clip",
        Wanted::Video,
        CLIP_FACTORIES,
        &["videoconvert"],
        &caps,
    )?;
    let mut last = None;
    while let Some(sample) = decoder.pull()? {
        last = Some(sample);
    }
    let sample = last.ok_or_else(|| decoder.failure("it holds no video frames".into()))?;
    let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
        return Err(decoder.failure("its last frame is unreadable".into()));
    };
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|_| decoder.failure("its frames have no usable format".into()))?;
    let (width, height) = (info.width(), info.height());
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(decoder.failure(format!("its frames are {width}x{height}")));
    }
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| decoder.failure("its last frame is unreadable".into()))?;
    let data = frame
        .plane_data(0)
        .map_err(|_| decoder.failure("its last frame is unreadable".into()))?;
    let stride = frame.plane_stride()[0] as usize;
    let row = width as usize * 4;
    let mut pixels = Vec::with_capacity(row * height as usize);
    for line in data.chunks(stride).take(height as usize) {
        pixels.extend_from_slice(line.get(..row).unwrap_or(line));
    }
    let image = RgbaImage::from_raw(width, height, pixels)
        .ok_or_else(|| decoder.failure("its last frame is truncated".into()))?;
    textimage::save_png(&image, &[], &plan.output)
}
