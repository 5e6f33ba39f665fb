//! Voices and music from untrusted files, decoded to 48 kHz stereo f32 in memory
//! (allow-listed GStreamer elements only, and no further than the video needs).

use std::path::Path;

use gstreamer as gst;

use super::decoder::Decoder;
use super::elements::Wanted;
use super::error::RenderError;

/// Output sample rate.
pub const RATE: u32 = 48_000;
/// Output channels (interleaved).
pub const CHANNELS: usize = 2;

/// Decodes at most `max_seconds` of `path` to interleaved 48 kHz stereo f32.
pub fn decode(path: &Path, what: &str, max_seconds: f64) -> Result<Vec<f32>, RenderError> {
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("layout", "interleaved")
        .field("rate", RATE as i32)
        .field("channels", CHANNELS as i32)
        .build();
    let decoder = Decoder::open(
        path,
        what,
        Wanted::Audio,
        crate::media::decode::ALLOWED_FACTORIES,
        &["audioconvert", "audioresample"],
        &caps,
    )?;
    let limit = (max_seconds.max(0.0) * f64::from(RATE)) as usize * CHANNELS;
    let mut samples: Vec<f32> = Vec::new();
    while samples.len() < limit {
        let Some(sample) = decoder.pull()? else {
            break;
        };
        let Some(buffer) = sample.buffer() else {
            continue;
        };
        let map = buffer
            .map_readable()
            .map_err(|_| decoder.failure("a decoded buffer is unreadable".into()))?;
        samples.extend(
            map.as_slice()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    samples.truncate(limit);
    if samples.is_empty() {
        return Err(decoder.failure(if decoder.found_stream() {
            "it holds no audio samples (empty or truncated)".into()
        } else {
            "it has no audio stream".into()
        }));
    }
    // NaN or infinite samples (a broken decoder) would poison the mix.
    for value in &mut samples {
        if !value.is_finite() {
            *value = 0.0;
        }
    }
    Ok(samples)
}
