//! Real media for the fakes' answers: PNG stills sized to the asked aspect ratio,
//! speech-like PCM whose length follows the text (with per-character timings, as
//! alignment APIs return), WAV and MP3 files, and H.264/AAC MP4 clips made by
//! GStreamer. Clips are solid colour with a moving ball, so a test can tell which
//! clip a frame came from by its colour.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, bail};
use gstreamer as gst;
use gstreamer::prelude::*;

/// A colour picked from a seed (any string: a prompt, an operation id).
pub fn colour(seed: &str) -> [u8; 3] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(seed.as_bytes());
    // Mid-range channels: never near black or white, so captions and checks stay clear.
    [
        48 + digest[0] % 160,
        48 + digest[1] % 160,
        48 + digest[2] % 160,
    ]
}

/// A PNG of `width`×`height`: a vertical gradient of the seed's colour.
pub fn png(width: u32, height: u32, seed: &str) -> Vec<u8> {
    let [r, g, b] = colour(seed);
    let image = image::RgbImage::from_fn(width, height, |_, y| {
        let shade = 0.75 + 0.25 * (y as f32 / height.max(1) as f32);
        image::Rgb([
            (r as f32 * shade) as u8,
            (g as f32 * shade) as u8,
            (b as f32 * shade) as u8,
        ])
    });
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    bytes.into_inner()
}

/// The pixel size of an image for an aspect ratio at about one megapixel, as Gemini's
/// image models answer (`9:16` → 768×1344). `None` for a ratio they do not offer.
pub fn image_size(aspect: &str) -> Option<(u32, u32)> {
    Some(match aspect {
        "1:1" => (1024, 1024),
        "2:3" => (832, 1248),
        "3:2" => (1248, 832),
        "3:4" => (864, 1184),
        "4:3" => (1184, 864),
        "4:5" => (896, 1152),
        "5:4" => (1152, 896),
        "9:16" => (768, 1344),
        "16:9" => (1344, 768),
        "21:9" => (1536, 672),
        _ => return None,
    })
}

/// Speech-like mono 16-bit samples for `text` at `rate` Hz: one tone burst per word
/// (about 2.6 words a second), pauses after sentences. Also the start and end of
/// every character in seconds, as alignment APIs report them.
pub fn speech(text: &str, rate: u32) -> (Vec<i16>, Vec<(f64, f64)>) {
    const WORD: f64 = 0.30;
    const GAP: f64 = 0.08;
    const SENTENCE: f64 = 0.30;
    let mut samples = Vec::new();
    let mut timings = Vec::with_capacity(text.chars().count());
    let mut clock = 0.0;
    let push_silence = |samples: &mut Vec<i16>, seconds: f64| {
        samples.extend(std::iter::repeat_n(0, (seconds * rate as f64) as usize));
    };
    let words: Vec<&str> = text.split(' ').collect();
    for (index, word) in words.iter().enumerate() {
        let letters = word.chars().count().max(1);
        let length = if word.is_empty() { 0.0 } else { WORD };
        let pitch = 140.0 + 40.0 * ((index % 5) as f64);
        let count = (length * rate as f64) as usize;
        for n in 0..count {
            let t = n as f64 / rate as f64;
            let envelope = (std::f64::consts::PI * n as f64 / count as f64).sin();
            let value = envelope * 0.3 * (2.0 * std::f64::consts::PI * pitch * t).sin();
            samples.push((value * i16::MAX as f64) as i16);
        }
        for (letter, _) in word.chars().enumerate() {
            let start = clock + length * letter as f64 / letters as f64;
            timings.push((start, start + length / letters as f64));
        }
        clock += length;
        let pause = if word.ends_with(['.', '!', '?', '…']) {
            SENTENCE
        } else {
            GAP
        };
        push_silence(&mut samples, pause);
        if index + 1 < words.len() {
            timings.push((clock, clock + pause));
        }
        clock += pause;
    }
    (samples, timings)
}

/// Samples as headerless little-endian 16-bit PCM.
pub fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|sample| sample.to_le_bytes())
        .collect()
}

/// Samples as a mono 16-bit WAV file.
pub fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("a WAV header in memory");
        for sample in samples {
            writer
                .write_sample(*sample)
                .expect("a WAV sample in memory");
        }
        writer.finalize().expect("a WAV file in memory");
    }
    bytes.into_inner()
}

/// Samples as an MP3 file (LAME through GStreamer) at `kbps`.
pub fn mp3(samples: &[i16], rate: u32, kbps: u32) -> anyhow::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("in.wav");
    let output = dir.path().join("out.mp3");
    std::fs::write(&input, wav(samples, rate))?;
    run(&format!(
        "filesrc location={} ! wavparse ! audioconvert ! audioresample ! lamemp3enc target=bitrate cbr=true bitrate={kbps} ! id3v2mux ! filesink location={}",
        quoted(&input),
        quoted(&output)
    ))?;
    Ok(std::fs::read(output)?)
}

/// What a clip looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClipShape {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Length in seconds.
    pub seconds: u32,
    /// The background colour.
    pub colour: [u8; 3],
}

/// An MP4 (H.264 High 4:2:0 at 24 fps, AAC stereo, faststart): the colour with a
/// moving ball. Made once per shape and kept.
pub fn mp4(shape: ClipShape) -> anyhow::Result<Arc<Vec<u8>>> {
    static MADE: OnceLock<Mutex<HashMap<ClipShape, Arc<Vec<u8>>>>> = OnceLock::new();
    let made = MADE.get_or_init(Mutex::default);
    if let Some(bytes) = made.lock().expect("clip cache").get(&shape) {
        return Ok(bytes.clone());
    }
    let bytes = Arc::new(encode_mp4(shape)?);
    made.lock()
        .expect("clip cache")
        .insert(shape, bytes.clone());
    Ok(bytes)
}

fn encode_mp4(shape: ClipShape) -> anyhow::Result<Vec<u8>> {
    const FPS: u32 = 24;
    gst::init()?;
    let dir = tempfile::tempdir()?;
    let output = dir.path().join("clip.mp4");
    let aac = ["avenc_aac", "voaacenc", "fdkaacenc"]
        .into_iter()
        .find(|name| gst::ElementFactory::find(name).is_some())
        .context("no AAC encoder (install gstreamer1.0-libav)")?;
    let [r, g, b] = shape.colour;
    let background = 0xff00_0000u32 | (r as u32) << 16 | (g as u32) << 8 | b as u32;
    let frames = shape.seconds * FPS;
    let audio_buffers = (shape.seconds * 48_000).div_ceil(1024);
    run(&format!(
        "videotestsrc num-buffers={frames} pattern=ball background-color={background} foreground-color=0xffffffff \
         ! video/x-raw,format=I420,width={w},height={h},framerate={FPS}/1 \
         ! x264enc speed-preset=ultrafast key-int-max={FPS} ! video/x-h264,profile=high ! h264parse ! queue ! mux. \
         audiotestsrc num-buffers={audio_buffers} samplesperbuffer=1024 wave=sine volume=0.05 \
         ! audio/x-raw,rate=48000,channels=2 ! audioconvert ! {aac} ! aacparse ! queue ! mux. \
         mp4mux name=mux faststart=true ! filesink location={out}",
        w = shape.width,
        h = shape.height,
        out = quoted(&output)
    ))?;
    Ok(std::fs::read(output)?)
}

/// Runs a pipeline description to its end.
fn run(description: &str) -> anyhow::Result<()> {
    gst::init()?;
    let pipeline = gst::parse::launch(description)?;
    pipeline.set_state(gst::State::Playing)?;
    let bus = pipeline.bus().context("a pipeline has a bus")?;
    let outcome = loop {
        let Some(message) = bus.timed_pop(gst::ClockTime::from_seconds(120)) else {
            break Err(anyhow::anyhow!("the media pipeline took over two minutes"));
        };
        match message.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(error) => {
                break Err(anyhow::anyhow!("{} ({:?})", error.error(), error.debug()));
            }
            _ => {}
        }
    };
    pipeline.set_state(gst::State::Null)?;
    outcome
}

fn quoted(path: &std::path::Path) -> String {
    format!("\"{}\"", path.display())
}

/// Fails unless `bytes` start like a file of this kind (a self-check for fixtures).
pub fn check_magic(bytes: &[u8], kind: &str) -> anyhow::Result<()> {
    let ok = match kind {
        "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "mp4" => bytes.get(4..8) == Some(b"ftyp"),
        "wav" => bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE"),
        "mp3" => bytes.starts_with(b"ID3") || bytes.starts_with(&[0xff]),
        other => bail!("unknown kind {other}"),
    };
    if !ok {
        bail!("not a {kind} file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn speech_lasts_about_as_long_as_the_words_take_and_times_every_character() {
        let text = "Fresh coffee. Every morning!";
        let (samples, timings) = speech(text, 24_000);
        let seconds = samples.len() as f64 / 24_000.0;
        assert!((1.0..2.5).contains(&seconds), "{seconds} s");
        assert_eq!(timings.len(), text.chars().count());
        assert!(timings.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        assert!(timings.last().unwrap().1 <= seconds + 0.01);
    }

    #[test]
    fn media_files_are_what_they_claim() {
        check_magic(&png(32, 48, "x"), "png").unwrap();
        let (samples, _) = speech("one two", 16_000);
        check_magic(&wav(&samples, 16_000), "wav").unwrap();
        check_magic(&mp3(&samples, 16_000, 32).unwrap(), "mp3").unwrap();
        let clip = mp4(ClipShape {
            width: 64,
            height: 112,
            seconds: 1,
            colour: colour("op"),
        })
        .unwrap();
        check_magic(&clip, "mp4").unwrap();
    }
}
