//! The output pipeline: composed I420 frames (appsrc) → captions (textoverlay, fed
//! timed text through its text pad) → x264enc (High or Main, 4:2:0) → mp4mux
//! (faststart) → file, with the soundtrack (appsrc) → AAC beside it.
//!
//! ```text
//! appsrc(I420) → queue → textoverlay → x264enc → video/x-h264,profile=… → h264parse ┐
//! appsrc(text/x-raw) ────↗                                                          mp4mux → filesink
//! appsrc(F32 48 kHz stereo) → audioconvert → avenc_aac|voaacenc → queue ────────────┘
//! ```

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::audio::{CHANNELS, RATE};
use super::captions::{CaptionStyle, Cue};
use super::elements::{self, make, pipeline_error, set};
use super::error::RenderError;
use super::plan::VideoPlan;
use super::planes::Planes;

/// Audio is sent this far ahead of the video (seconds), so the muxer never waits.
const AUDIO_LEAD: f64 = 1.0;

/// A running output pipeline.
pub struct Output {
    pipeline: gst::Pipeline,
    video: gst_app::AppSrc,
    audio: gst_app::AppSrc,
    info: gst_video::VideoInfo,
    /// Frame buffers are reused: fresh 3 MB allocations cost page faults and zeroing.
    pool: gst_video::VideoBufferPool,
    fps: u32,
    soundtrack: Vec<f32>,
    /// Frames (per channel) of the soundtrack sent so far.
    audio_sent: usize,
    path: PathBuf,
}

impl Output {
    /// Builds and starts the pipeline writing `path`; `cues` are burned in.
    pub fn start(
        plan: &VideoPlan,
        path: &Path,
        cues: &[Cue],
        style: CaptionStyle,
        soundtrack: Vec<f32>,
    ) -> Result<Output, RenderError> {
        let colorimetry: gst_video::VideoColorimetry = "bt709"
            .parse()
            .map_err(|_| pipeline_error("bt709 colorimetry"))?;
        let info =
            gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, plan.width, plan.height)
                .fps(gst::Fraction::new(plan.fps as i32, 1))
                .colorimetry(&colorimetry)
                .build()
                .map_err(pipeline_error)?;
        let video_caps = info.to_caps().map_err(pipeline_error)?;
        let frame_bytes = info.size() as u64;
        let pool = gst_video::VideoBufferPool::new();
        let mut config = pool.config();
        config.set_params(Some(&video_caps), info.size() as u32, 4, 0);
        pool.set_config(config).map_err(pipeline_error)?;
        pool.set_active(true).map_err(pipeline_error)?;
        let video = gst_app::AppSrc::builder()
            .caps(&video_caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(true)
            .max_bytes(frame_bytes * 4)
            .build();
        let queue = make("queue")?;
        set(&queue, "max-size-buffers", 6u32)?;
        set(&queue, "max-size-bytes", 0u32)?;
        set(&queue, "max-size-time", 0u64)?;
        let overlay = caption_overlay(plan, style)?;
        let encoder = video_encoder(plan)?;
        let profile = make("capsfilter")?;
        profile.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("profile", plan.encoder.profile.caps_name())
                .build(),
        );
        let parse = make("h264parse")?;
        let mux = make("mp4mux")?;
        set(&mux, "faststart", true)?;
        let sink = make("filesink")?;
        sink.set_property("location", path.to_string_lossy().as_ref());

        let audio_caps = gst::Caps::builder("audio/x-raw")
            .field("format", "F32LE")
            .field("layout", "interleaved")
            .field("rate", RATE as i32)
            .field("channels", CHANNELS as i32)
            .build();
        let audio = gst_app::AppSrc::builder()
            .caps(&audio_caps)
            .format(gst::Format::Time)
            .is_live(false)
            .block(false)
            .max_bytes(0)
            .build();
        let convert = make("audioconvert")?;
        let aac = elements::make_any(&["avenc_aac", "voaacenc"])?;
        set(
            &aac,
            "bitrate",
            (plan.encoder.audio_bitrate_kbps * 1000) as i32,
        )?;
        let audio_queue = make("queue")?;

        let pipeline = gst::Pipeline::new();
        pipeline
            .add_many([
                video.upcast_ref(),
                &queue,
                &overlay,
                &encoder,
                &profile,
                &parse,
                &mux,
                &sink,
                audio.upcast_ref(),
                &convert,
                &aac,
                &audio_queue,
            ])
            .map_err(pipeline_error)?;
        gst::Element::link_many([
            video.upcast_ref(),
            &queue,
            &overlay,
            &encoder,
            &profile,
            &parse,
        ])
        .map_err(pipeline_error)?;
        parse.link(&mux).map_err(pipeline_error)?;
        mux.link(&sink).map_err(pipeline_error)?;
        gst::Element::link_many([audio.upcast_ref(), &convert, &aac, &audio_queue])
            .map_err(pipeline_error)?;
        audio_queue.link(&mux).map_err(pipeline_error)?;

        let text = if cues.is_empty() {
            None
        } else {
            let text = gst_app::AppSrc::builder()
                .caps(
                    &gst::Caps::builder("text/x-raw")
                        .field("format", "utf8")
                        .build(),
                )
                .format(gst::Format::Time)
                .is_live(false)
                .block(false)
                .max_bytes(0)
                .build();
            pipeline.add(&text).map_err(pipeline_error)?;
            let pad = overlay
                .static_pad("text_sink")
                .ok_or_else(|| pipeline_error("textoverlay has no text pad"))?;
            text.static_pad("src")
                .ok_or_else(|| pipeline_error("appsrc has no pad"))?
                .link(&pad)
                .map_err(pipeline_error)?;
            Some(text)
        };
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            pipeline_error(
                elements::bus_error(&pipeline, gst::ClockTime::from_mseconds(200))
                    .unwrap_or_else(|| "the output pipeline would not start".into()),
            )
        })?;
        let output = Output {
            pipeline,
            video,
            audio,
            info,
            pool,
            fps: plan.fps,
            soundtrack,
            audio_sent: 0,
            path: path.to_owned(),
        };
        if let Some(text) = text {
            for cue in cues {
                let mut buffer = gst::Buffer::from_mut_slice(cue.text.clone().into_bytes());
                let buffer_ref = buffer.make_mut();
                let start = seconds_to_time(cue.start);
                buffer_ref.set_pts(start);
                buffer_ref.set_duration(seconds_to_time(cue.end).saturating_sub(start));
                text.push_buffer(buffer)
                    .map_err(|flow| output.flow_error(flow))?;
            }
            text.end_of_stream()
                .map_err(|flow| output.flow_error(flow))?;
        }
        Ok(output)
    }

    /// Sends frame `index`, and the soundtrack up to a second past it.
    pub fn push(&mut self, index: u64, planes: &Planes) -> Result<(), RenderError> {
        let mut buffer = self
            .pool
            .acquire_buffer(None)
            .map_err(|flow| pipeline_error(format!("no frame buffer ({flow:?})")))?;
        let buffer_ref = buffer.make_mut();
        {
            let mut map = buffer_ref
                .map_writable()
                .map_err(|_| pipeline_error("a frame buffer is not writable"))?;
            super::planes::write_to(planes, &self.info, map.as_mut_slice())?;
        }
        let pts = self.frame_time(index);
        buffer_ref.set_pts(pts);
        buffer_ref.set_duration(self.frame_time(index + 1).saturating_sub(pts));
        let seconds = (index as f64 + 1.0) / f64::from(self.fps);
        self.send_audio_until(seconds + AUDIO_LEAD)?;
        self.video
            .push_buffer(buffer)
            .map_err(|flow| self.flow_error(flow))?;
        Ok(())
    }

    /// Ends the streams and waits until the file is complete.
    pub fn finish(mut self) -> Result<(), RenderError> {
        self.send_audio_until(f64::INFINITY)?;
        self.audio
            .end_of_stream()
            .map_err(|flow| self.flow_error(flow))?;
        self.video
            .end_of_stream()
            .map_err(|flow| self.flow_error(flow))?;
        let bus = self
            .pipeline
            .bus()
            .ok_or_else(|| pipeline_error("the pipeline has no bus"))?;
        let message = bus.timed_pop_filtered(
            gst::ClockTime::NONE,
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        if let Some(message) = message
            && let gst::MessageView::Error(error) = message.view()
        {
            return Err(self.classify(
                error.src().map(|s| s.name().to_string()),
                error.error().to_string(),
            ));
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        Ok(())
    }

    fn send_audio_until(&mut self, seconds: f64) -> Result<(), RenderError> {
        let total = self.soundtrack.len() / CHANNELS;
        let until = if seconds.is_finite() {
            super::mix::seconds_to_frames(seconds).min(total)
        } else {
            total
        };
        while self.audio_sent < until {
            let end = (self.audio_sent + RATE as usize / 10).min(until);
            let bytes: Vec<u8> = self.soundtrack[self.audio_sent * CHANNELS..end * CHANNELS]
                .iter()
                .flat_map(|sample| sample.to_le_bytes())
                .collect();
            let mut buffer = gst::Buffer::from_mut_slice(bytes);
            let buffer_ref = buffer.make_mut();
            let start = sample_time(self.audio_sent);
            buffer_ref.set_pts(start);
            buffer_ref.set_duration(sample_time(end).saturating_sub(start));
            self.audio
                .push_buffer(buffer)
                .map_err(|flow| self.flow_error(flow))?;
            self.audio_sent = end;
        }
        Ok(())
    }

    fn frame_time(&self, index: u64) -> gst::ClockTime {
        gst::ClockTime::from_nseconds(
            (u128::from(index) * 1_000_000_000 / u128::from(self.fps)) as u64,
        )
    }

    /// The pipeline stopped taking data: its first error says why.
    fn flow_error(&self, flow: gst::FlowError) -> RenderError {
        let bus = self.pipeline.bus();
        let message = bus.and_then(|bus| {
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error])
        });
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Error(error)) => self.classify(
                error.src().map(|s| s.name().to_string()),
                error.error().to_string(),
            ),
            _ => pipeline_error(format!("the output pipeline stopped ({flow:?})")),
        }
    }

    fn classify(&self, source: Option<String>, message: String) -> RenderError {
        if source
            .as_deref()
            .is_some_and(|name| name.starts_with("filesink"))
        {
            RenderError::Output {
                path: self.path.clone(),
                reason: message,
            }
        } else {
            pipeline_error(format!("{}: {message}", source.unwrap_or_default()))
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        let _ = self.pool.set_active(false);
    }
}

fn seconds_to_time(seconds: f64) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((seconds.max(0.0) * 1e9).round() as u64)
}

fn sample_time(frames: usize) -> gst::ClockTime {
    gst::ClockTime::from_nseconds((frames as u128 * 1_000_000_000 / u128::from(RATE)) as u64)
}

/// textoverlay for captions: lower third, white with a dark outline on a darkened box,
/// wrapping between words, or between any characters where words have no spaces.
fn caption_overlay(plan: &VideoPlan, style: CaptionStyle) -> Result<gst::Element, RenderError> {
    let overlay = make("textoverlay")?;
    overlay.set_property("font-desc", format!("{} {}px", plan.font, style.font_px));
    set(&overlay, "auto-resize", false)?;
    set(&overlay, "wrap-mode", "wordchar")?;
    set(&overlay, "valignment", "bottom")?;
    set(&overlay, "halignment", "center")?;
    set(&overlay, "line-alignment", "center")?;
    set(
        &overlay,
        "ypad",
        (f64::from(plan.height) * 0.2).round() as i32,
    )?;
    set(&overlay, "draw-outline", true)?;
    set(&overlay, "draw-shadow", false)?;
    set(&overlay, "shaded-background", true)?;
    set(&overlay, "shading-value", 110u32)?;
    Ok(overlay)
}

/// x264 with the plan's preset, quality or bitrate, and threads.
fn video_encoder(plan: &VideoPlan) -> Result<gst::Element, RenderError> {
    let settings = &plan.encoder;
    let encoder = make("x264enc")?;
    set(&encoder, "speed-preset", &settings.preset)?;
    match settings.bitrate_kbps {
        Some(kbps) => {
            set(&encoder, "pass", "cbr")?;
            set(&encoder, "bitrate", kbps)?;
        }
        None => {
            set(&encoder, "pass", "qual")?;
            set(&encoder, "quantizer", settings.crf)?;
            // x264enc caps constant quality at its `bitrate` (2 Mbit/s by default)
            // through the VBV; without a buffer x264 drops that cap, as x264 itself does.
            set(&encoder, "vbv-buf-capacity", 0u32)?;
        }
    }
    set(&encoder, "threads", settings.threads)?;
    // x264's own keyframe interval (x264enc would otherwise pick ten seconds).
    set(&encoder, "key-int-max", 250u32)?;
    Ok(encoder)
}
