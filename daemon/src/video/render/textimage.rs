//! Still pictures with text: an RGBA image goes through one textoverlay per text block
//! (Pango, so any script the font covers is shaped correctly) into pngenc, and the PNG
//! is renamed into place when complete.

use std::path::Path;

use chute_pixels::image::RgbaImage;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::captions;
use super::elements::{self, make, pipeline_error, set};
use super::error::RenderError;
use super::video::{output_error, output_folder};

/// One block of text: its top edge, size and look.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBlock {
    /// The text; lines are broken beforehand (see [`fit_text`]).
    pub text: String,
    /// Pango family and weight.
    pub font: String,
    /// Font size in pixels.
    pub size_px: u32,
    /// Distance of the block's top from the picture's top, in pixels.
    pub top: u32,
}

/// Text broken into lines for a block `width` pixels wide, with the largest font size
/// from `largest` down to `smallest` that needs at most `max_lines` lines. Returns the
/// text with its line breaks, the size, and the number of lines.
pub fn fit_text(
    text: &str,
    width: u32,
    largest: u32,
    smallest: u32,
    max_lines: usize,
) -> (String, u32, usize) {
    let mut size = largest.max(smallest);
    loop {
        let ems = f64::from(width) / f64::from(size);
        let lines = captions::break_lines(text, ems);
        if lines.len() <= max_lines || size <= smallest {
            let count = lines.len();
            return (lines.join("\n"), size, count);
        }
        size = (size * 9 / 10).max(smallest);
    }
}

/// The height of `lines` lines of text at `size_px` (Noto Sans's line height).
pub fn block_height(lines: usize, size_px: u32) -> u32 {
    (lines as f64 * f64::from(size_px) * 1.36).ceil() as u32
}

/// Draws `blocks` over `image` and writes a PNG to `output`.
pub fn save_png(image: &RgbaImage, blocks: &[TextBlock], output: &Path) -> Result<(), RenderError> {
    elements::init()?;
    let (width, height) = image.dimensions();
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGBA")
        .field("width", width as i32)
        .field("height", height as i32)
        .field("framerate", gst::Fraction::new(1, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build();
    let source = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .build();
    let mut chain: Vec<gst::Element> = vec![source.clone().upcast()];
    for block in blocks.iter().filter(|block| !block.text.trim().is_empty()) {
        chain.push(text_overlay(block)?);
    }
    chain.push(make("videoconvert")?);
    chain.push(make("pngenc")?);
    let folder = output_folder(output)?;
    let partial = tempfile::Builder::new()
        .prefix(".render-")
        .suffix(".png")
        .tempfile_in(folder)
        .map_err(|error| output_error(output, error))?;
    let sink = make("filesink")?;
    sink.set_property("location", partial.path().to_string_lossy().as_ref());
    chain.push(sink);

    let pipeline = gst::Pipeline::new();
    pipeline.add_many(chain.iter()).map_err(pipeline_error)?;
    gst::Element::link_many(chain.iter()).map_err(pipeline_error)?;
    let result = run(&pipeline, &source, image);
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let written = std::fs::metadata(partial.path())
        .map(|m| m.len())
        .unwrap_or(0);
    if written == 0 {
        return Err(pipeline_error("pngenc wrote nothing"));
    }
    partial
        .persist(output)
        .map_err(|error| output_error(output, error.error))?;
    Ok(())
}

fn run(
    pipeline: &gst::Pipeline,
    source: &gst_app::AppSrc,
    image: &RgbaImage,
) -> Result<(), RenderError> {
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| pipeline_error("the picture pipeline would not start"))?;
    let mut buffer = gst::Buffer::from_mut_slice(image.as_raw().clone());
    let buffer_ref = buffer.make_mut();
    buffer_ref.set_pts(gst::ClockTime::ZERO);
    buffer_ref.set_duration(gst::ClockTime::SECOND);
    let failed = |_| {
        pipeline_error(
            elements::bus_error(pipeline, gst::ClockTime::from_seconds(1))
                .unwrap_or_else(|| "the picture pipeline stopped".into()),
        )
    };
    source.push_buffer(buffer).map_err(failed)?;
    source.end_of_stream().map_err(failed)?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| pipeline_error("the pipeline has no bus"))?;
    let message = bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    match message.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Error(error)) => Err(pipeline_error(format!(
            "{}: {}",
            error
                .src()
                .map(|s| s.name().to_string())
                .unwrap_or_default(),
            error.error()
        ))),
        _ => Ok(()),
    }
}

/// White text with a dark outline and shadow, centred, its top at `block.top`.
fn text_overlay(block: &TextBlock) -> Result<gst::Element, RenderError> {
    let overlay = make("textoverlay")?;
    overlay.set_property("text", block.text.as_str());
    overlay.set_property("font-desc", format!("{} {}px", block.font, block.size_px));
    set(&overlay, "auto-resize", false)?;
    set(&overlay, "wrap-mode", "wordchar")?;
    set(&overlay, "valignment", "top")?;
    set(&overlay, "halignment", "center")?;
    set(&overlay, "line-alignment", "center")?;
    set(&overlay, "ypad", block.top)?;
    set(&overlay, "draw-outline", true)?;
    set(&overlay, "draw-shadow", true)?;
    Ok(overlay)
}

/// Darkens rows `top..bottom` of `image` by `amount` (0..1), fading in and out over
/// `feather` rows, so light text stays legible over any background.
pub fn darken_band(image: &mut RgbaImage, top: u32, bottom: u32, amount: f32, feather: u32) {
    let height = image.height();
    let from = top.saturating_sub(feather);
    let to = (bottom + feather).min(height);
    for y in from..to {
        let edge = if y < top {
            (y - from) as f32 / feather.max(1) as f32
        } else if y >= bottom {
            (to - y) as f32 / feather.max(1) as f32
        } else {
            1.0
        };
        let keep = 1.0 - amount * edge.clamp(0.0, 1.0);
        for x in 0..image.width() {
            let pixel = image.get_pixel_mut(x, y);
            for channel in &mut pixel.0[..3] {
                *channel = (f32::from(*channel) * keep).round() as u8;
            }
        }
    }
}
