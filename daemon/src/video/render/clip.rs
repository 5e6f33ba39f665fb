//! Clips: decoded as the frames are needed (so a clip longer than its slot is only
//! decoded as far as it is shown), cover-fitted to the frame, and shown by time: each
//! output frame shows the last clip frame due by then, and the last frame holds when
//! the clip is shorter than its slot.

use std::path::Path;

use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::decoder::Decoder;
use super::elements::{CLIP_FACTORIES, Wanted};
use super::error::RenderError;
use super::picture;
use super::planes::{Planes, Scaler};

/// Largest clip frame accepted (pixels).
const MAX_PIXELS: u64 = 4096 * 4096;

/// A decoded clip frame and when it is due (seconds from the clip's first frame).
struct Frame {
    due: f64,
    planes: Planes,
}

/// A clip being shown.
pub struct Clip {
    decoder: Decoder,
    size: (u32, u32),
    first_pts: Option<gst::ClockTime>,
    current: Option<Frame>,
    next: Option<Frame>,
    ended: bool,
    /// The current frame, fitted to the output, and which frame it was.
    fitted: Option<(f64, Planes)>,
    scaler: Scaler,
}

impl Clip {
    /// Starts decoding `path` for frames of `width`×`height`.
    pub fn open(path: &Path, (width, height): (u32, u32), what: &str) -> Result<Clip, RenderError> {
        let caps = gst::Caps::builder("video/x-raw")
            .field("format", "I420")
            .build();
        let decoder = Decoder::open(
            path,
            what,
            Wanted::Video,
            CLIP_FACTORIES,
            &["videoconvert"],
            &caps,
        )?;
        Ok(Clip {
            decoder,
            size: (width, height),
            first_pts: None,
            current: None,
            next: None,
            ended: false,
            fitted: None,
            scaler: Scaler::new(),
        })
    }

    /// Draws the clip as it is `seconds` after its start into `target`.
    pub fn render(&mut self, seconds: f64, target: &mut Planes) -> Result<(), RenderError> {
        // Half a millisecond of slack: a 30 fps clip in a 30 fps video must not show
        // each frame one frame late through rounding.
        let due = seconds.max(0.0) + 0.0005;
        loop {
            if self.next.is_none() && !self.ended {
                self.next = self.decode_next()?;
                self.ended = self.next.is_none();
            }
            match &self.next {
                Some(frame) if frame.due <= due || self.current.is_none() => {
                    self.current = self.next.take();
                }
                _ => break,
            }
        }
        let Some(current) = &self.current else {
            return Err(self.decoder.failure(if self.decoder.found_stream() {
                "it holds no video frames".into()
            } else {
                "it has no video stream".into()
            }));
        };
        let fresh = self
            .fitted
            .as_ref()
            .is_none_or(|(shown, _)| *shown != current.due);
        if fresh {
            let (width, height) = self.size;
            let mut fitted = match self.fitted.take() {
                Some((_, planes)) => planes,
                None => Planes::black(width, height),
            };
            let source = &current.planes;
            let crop = picture::cover_crop(source.width, source.height, width, height);
            self.scaler.scale(source, crop, &mut fitted)?;
            self.fitted = Some((current.due, fitted));
        }
        if let Some((_, fitted)) = &self.fitted {
            target.y.copy_from_slice(&fitted.y);
            target.u.copy_from_slice(&fitted.u);
            target.v.copy_from_slice(&fitted.v);
        }
        Ok(())
    }

    fn decode_next(&mut self) -> Result<Option<Frame>, RenderError> {
        loop {
            let Some(sample) = self.decoder.pull()? else {
                return Ok(None);
            };
            let (Some(buffer), Some(caps)) = (sample.buffer(), sample.caps()) else {
                continue;
            };
            let info = gst_video::VideoInfo::from_caps(caps)
                .map_err(|_| self.decoder.failure("its frames have unusable caps".into()))?;
            let (width, height) = (info.width() & !1, info.height() & !1);
            if width < 2 || height < 2 || u64::from(width) * u64::from(height) > MAX_PIXELS {
                return Err(self.decoder.failure(format!(
                    "its frames are {}x{} (at most 4096x4096 is used)",
                    info.width(),
                    info.height()
                )));
            }
            let pts = buffer.pts().unwrap_or(gst::ClockTime::ZERO);
            let first = *self.first_pts.get_or_insert(pts);
            let due = pts.saturating_sub(first).nseconds() as f64 / 1e9;
            let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
                .map_err(|_| self.decoder.failure("a decoded frame is unreadable".into()))?;
            let plane = |index: u32| -> Result<(&[u8], usize), RenderError> {
                let data = frame
                    .plane_data(index)
                    .map_err(|_| RenderError::Pipeline("a frame plane is missing".into()))?;
                let stride = frame.plane_stride()[index as usize] as usize;
                Ok((data, stride))
            };
            let planes = Planes::from_strided(width, height, [plane(0)?, plane(1)?, plane(2)?])?;
            return Ok(Some(Frame { due, planes }));
        }
    }
}
