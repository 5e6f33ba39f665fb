//! The render child end to end: real images, clips (gst-launch-1.0), speech (espeak-ng)
//! and music go through the real `chute render` binary; the results are read back with
//! GStreamer's Discoverer, decoded frames and tesseract OCR (tesseract-ocr-vie).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use chute_pixels::image::{self, Rgb, RgbImage};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use unicode_normalization::UnicodeNormalization;

mod fixtures;
#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod harness;
mod hostile;
mod pipeline;
#[allow(dead_code)]
#[path = "../plugins/harness.rs"]
mod plugins;
mod providers;
mod render;
mod stills;

/// The chute binary under test.
pub fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_chute"))
}

/// Runs a program that must succeed; returns its stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Speaks `text` with espeak-ng into `dir/name.wav`; returns the file and its length.
pub fn speak(dir: &Path, name: &str, voice: &str, text: &str) -> (PathBuf, f64) {
    let path = dir.join(format!("{name}.wav"));
    run(
        "espeak-ng",
        &["-v", voice, "-w", path.to_str().unwrap(), text],
    );
    let seconds: f64 = run("soxi", &["-D", path.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap();
    (path, seconds)
}

/// Runs a gst-launch-1.0 pipeline in `dir`.
pub fn gst_launch(dir: &Path, pipeline: &str) {
    let args: Vec<&str> = std::iter::once("-q")
        .chain(pipeline.split_whitespace())
        .collect();
    let status = Command::new("gst-launch-1.0")
        .current_dir(dir)
        .args(&args)
        .status()
        .unwrap();
    assert!(status.success(), "gst-launch-1.0 {pipeline} failed");
}

/// A busy picture (stripes, rings and noise-like texture in strong colours), the kind
/// of background captions must stay legible over.
pub fn busy_image(width: u32, height: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let rings = (((fx - 0.5).powi(2) + (fy - 0.4).powi(2)).sqrt() * 60.0 + seed as f32).sin();
        let stripes = ((fx * 25.0 + fy * 9.0) + seed as f32).sin();
        let grain = ((x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503) ^ seed) >> 7) % 64;
        Rgb([
            (128.0 + 100.0 * rings) as u8,
            (128.0 + 90.0 * stripes) as u8,
            (grain * 3) as u8 + (fy * 60.0) as u8,
        ])
    })
}

/// Saves an image in the format its extension names.
pub fn save(image: &RgbImage, path: &Path) {
    image.save(path).unwrap();
}

/// A clip of `frames` frames at 30 fps, made with videotestsrc and x264enc.
pub fn clip(dir: &Path, name: &str, frames: u32, width: u32, height: u32) -> PathBuf {
    gst_launch(
        dir,
        &format!(
            "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={width},height={height},framerate=30/1 ! x264enc ! mp4mux ! filesink location={name}"
        ),
    );
    dir.join(name)
}

/// Words of a text for comparing OCR output: NFC-normalised, lowercase, without
/// punctuation.
pub fn words(text: &str) -> Vec<String> {
    text.nfc()
        .collect::<String>()
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// OCR of a PNG with the Vietnamese model (it reads English too).
pub fn ocr(png: &Path) -> String {
    run(
        "tesseract",
        &[png.to_str().unwrap(), "stdout", "-l", "vie", "--psm", "6"],
    )
}

/// OCR of light text (captions, cards, thumbnails are white with a dark outline):
/// tesseract reads dark text on light paper best, so the picture is turned grey and
/// inverted first, and saved at `path`.
pub fn ocr_light_text(image: &RgbImage, path: &Path) -> String {
    let mut grey = image::imageops::grayscale(image);
    image::imageops::invert(&mut grey);
    grey.save(path).unwrap();
    ocr(path)
}

/// Asserts that OCR found at least `share` of the expected words, diacritics included.
pub fn assert_reads(expected: &str, read: &str, share: f64, context: &str) {
    let found = words(read);
    let wanted = words(expected);
    let hits = wanted.iter().filter(|word| found.contains(word)).count();
    assert!(
        hits as f64 >= share * wanted.len() as f64,
        "{context}: OCR found {hits} of {} words of {expected:?} in {read:?}",
        wanted.len()
    );
}

/// What Discoverer says about a file.
#[derive(Debug)]
pub struct Discovered {
    /// Duration in seconds.
    pub seconds: f64,
    /// The video stream's caps.
    pub video: gst::Caps,
    /// The audio stream's caps and sample rate.
    pub audio: Option<(gst::Caps, u32)>,
}

/// Reads a media file's streams with gstreamer-pbutils' Discoverer.
pub fn discover(path: &Path) -> Discovered {
    use gstreamer_pbutils::prelude::*;
    gst::init().unwrap();
    let discoverer = gstreamer_pbutils::Discoverer::new(gst::ClockTime::from_seconds(20)).unwrap();
    let uri = gst::glib::filename_to_uri(path, None).unwrap();
    let info = discoverer.discover_uri(&uri).unwrap();
    let video = info.video_streams();
    assert_eq!(video.len(), 1, "one video stream");
    let audio = info
        .audio_streams()
        .first()
        .map(|stream| (stream.caps().unwrap(), stream.sample_rate()));
    Discovered {
        seconds: info.duration().unwrap().nseconds() as f64 / 1e9,
        video: video[0].caps().unwrap(),
        audio,
    }
}

/// Decodes a rendered 30 fps MP4 and returns the frames shown at `times` (seconds), as
/// RGB, and the decoded video format (I420 for 4:2:0).
pub fn frames_at(path: &Path, times: &[f64]) -> (Vec<RgbImage>, String) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 name=decoder ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut best: Vec<Option<(f64, RgbImage)>> = vec![None; times.len()];
    let mut decoded_format = String::new();
    let mut first_pts: Option<f64> = None;
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        if decoded_format.is_empty() {
            let decoder = pipeline.by_name("decoder").unwrap();
            let caps = decoder.static_pad("src").unwrap().current_caps().unwrap();
            decoded_format = caps.structure(0).unwrap().get::<String>("format").unwrap();
        }
        let caps = sample.caps().unwrap();
        let s = caps.structure(0).unwrap();
        let (w, h) = (
            s.get::<i32>("width").unwrap() as u32,
            s.get::<i32>("height").unwrap() as u32,
        );
        let buffer = sample.buffer().unwrap();
        // Times count from the first frame (an edit list may shift them all).
        let raw = buffer.pts().unwrap().nseconds() as f64 / 1e9;
        let pts = raw - *first_pts.get_or_insert(raw);
        for (slot, &time) in best.iter_mut().zip(times) {
            let distance = (pts - time).abs();
            // Only the frame within half a frame (at 30 fps) of the time is converted.
            if distance <= 0.5 / 30.0 + 1e-6 && slot.as_ref().is_none_or(|(d, _)| distance < *d) {
                let map = buffer.map_readable().unwrap();
                let stride = (w as usize * 3).next_multiple_of(4);
                let image = RgbImage::from_fn(w, h, |x, y| {
                    let at = y as usize * stride + x as usize * 3;
                    Rgb([map[at], map[at + 1], map[at + 2]])
                });
                *slot = Some((distance, image));
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let frames = best
        .into_iter()
        .zip(times)
        .map(|(slot, time)| slot.unwrap_or_else(|| panic!("no frame at {time} s")).1)
        .collect();
    (frames, decoded_format)
}

/// The rows of a frame from `from` to `to` (fractions of its height).
pub fn band(frame: &RgbImage, from: f64, to: f64) -> RgbImage {
    let top = (frame.height() as f64 * from) as u32;
    let bottom = (frame.height() as f64 * to) as u32;
    image::imageops::crop_imm(frame, 0, top, frame.width(), bottom - top).to_image()
}
