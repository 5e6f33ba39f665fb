//! Decoding any common audio (or video-with-audio) file to 16 kHz mono f32 samples with
//! GStreamer: `filesrc → decodebin (allow-listed elements only) → audioconvert →
//! audioresample → appsink`. The file is an open descriptor, read through
//! `/proc/self/fd/N` (a fresh open of the same file, so demuxers can seek: an MP4 whose
//! index is at its end decodes too), so its name never matters.
//!
//! The output is bounded before anything is written: an input whose header declares
//! more than the limit (a 44 KB WAV claiming a 1 Hz sample rate is six hours long) is
//! refused before its first sample, and every buffer is checked against the limit in
//! seconds and bytes before it is written.
//!
//! This runs inside the `chute decode` child process (see [`super::child`]): demuxers and
//! decoders have a long record of crashing on hostile files, so a crash here must only
//! fail one job. Samples are streamed to a writer as they are decoded.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use serde::{Deserialize, Serialize};

/// Output sample rate (what whisper.cpp expects).
pub const SAMPLE_RATE: u32 = 16_000;

/// Element factories decodebin may plug: common containers, parsers and audio decoders.
/// Anything else (exotic demuxers, video decoders) is refused before it sees a byte.
pub const ALLOWED_FACTORIES: &[&str] = &[
    // containers
    "wavparse",
    "oggdemux",
    "matroskademux",
    "qtdemux",
    "id3demux",
    "apedemux",
    "flacparse",
    "aiffparse",
    // parsers
    "mpegaudioparse",
    "aacparse",
    "opusparse",
    "vorbisparse",
    "ac3parse",
    "wavpackparse",
    // decoders
    "mpg123audiodec",
    "avdec_mp3",
    "avdec_aac",
    "faad",
    "fdkaacdec",
    "vorbisdec",
    "opusdec",
    "flacdec",
    "avdec_flac",
    "avdec_alac",
    "avdec_ac3",
    "a52dec",
    "wavpackdec",
    "avdec_wmav2",
    "avdec_wmav1",
    "asfdemux",
    "rawaudioparse",
    "audioparse",
];

/// What was decoded.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DecodeInfo {
    /// Samples written (16 kHz mono f32).
    pub samples: u64,
    /// Decoded duration in seconds.
    pub duration_seconds: f64,
    /// The container/codec elements that were used, in plug order.
    pub elements: Vec<String>,
    /// Largest absolute sample value (0 for silence).
    pub peak: f32,
    /// The duration the input's header declares, in seconds, when it declares one
    /// (what a probe reports: see [`probe_fd`]).
    #[serde(default)]
    pub declared_seconds: Option<f64>,
}

/// Why decoding failed; each message says what the user can do.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize, PartialEq)]
pub enum DecodeError {
    /// GStreamer could not start (missing plugins).
    #[error(
        "GStreamer is not usable: {0} (install gstreamer1.0-plugins-base/-good and run `chute doctor`)"
    )]
    Setup(String),
    /// The file is not a media file we can read, or it is corrupt.
    #[error("the input could not be decoded: {0}")]
    Unreadable(String),
    /// The file's format needs an element that is not on the allow-list.
    #[error(
        "the input needs the GStreamer element {0:?}, which chute does not allow for untrusted files"
    )]
    NotAllowed(String),
    /// There is no audio stream (a video without sound, an image…).
    #[error("the input has no audio stream")]
    NoAudio,
    /// Decoding produced no samples.
    #[error("the input contains no audio samples (empty or truncated file)")]
    Empty,
    /// All samples are (near) zero.
    #[error("the input is silent")]
    Silent,
    /// Longer than the configured limit.
    #[error("the input is longer than the limit of {0} seconds")]
    TooLong(u64),
    /// The header declares more audio than the limit (before any is decoded).
    #[error(
        "the input declares {declared} seconds of audio, more than the limit of {limit} seconds (a small file claiming that much is malformed)"
    )]
    DeclaredTooLong {
        /// Seconds the header declares.
        declared: u64,
        /// The limit.
        limit: u64,
    },
    /// Writing samples failed (the parent went away).
    #[error("writing decoded samples failed: {0}")]
    Output(String),
    /// Writing samples failed because the disk (or the quota) is full.
    #[error("writing decoded samples failed, the disk is full: {0}")]
    NoSpace(String),
}

impl DecodeError {
    /// The error of a failed write of samples: [`DecodeError::NoSpace`] on a full disk.
    pub fn output(error: &std::io::Error) -> Self {
        if crate::spool::space::is_out_of_space(error) {
            DecodeError::NoSpace(error.to_string())
        } else {
            DecodeError::Output(error.to_string())
        }
    }
}

/// What the allow-list let through and what it refused.
#[derive(Debug, Clone, Default)]
struct Plugging {
    /// Allowed elements, in plug order.
    plugged: Vec<String>,
    /// The first refused element for a non-visual stream.
    refused: Option<String>,
    /// A video or image stream was left undecoded.
    video_skipped: bool,
}

/// Which pads decodebin exposed.
#[derive(Debug, Clone, Copy, Default)]
struct PadsSeen {
    /// Any pad at all (the input was recognised as media).
    any: bool,
    /// A decoded audio pad, linked to the converter.
    audio: bool,
}

/// Peak below which audio counts as silent (about -80 dBFS).
const SILENCE_PEAK: f32 = 1e-4;

/// Decodes the open file `fd` (of this process) and writes 16 kHz mono f32le samples
/// to `out`; `progress` is called with the decoded duration in seconds every few
/// seconds of audio.
pub fn decode_fd(
    fd: RawFd,
    out: &mut dyn Write,
    max_seconds: u64,
    progress: &mut dyn FnMut(f64),
) -> Result<DecodeInfo, DecodeError> {
    run_pipeline(fd, out, max_seconds, Until::End, progress)
}

/// Reads the open file `fd` up to its first decoded buffer, writing nothing, and
/// reports the duration its header declares (`declared_seconds`), so the output's
/// size is known before the decode that writes it starts.
pub fn probe_fd(fd: RawFd, max_seconds: u64) -> Result<DecodeInfo, DecodeError> {
    run_pipeline(
        fd,
        &mut std::io::sink(),
        max_seconds,
        Until::Header,
        &mut |_| {},
    )
}

/// How far a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The end of the stream (a decode).
    End,
    /// The first decoded buffer, when the header has been read (a probe).
    Header,
}

fn run_pipeline(
    fd: RawFd,
    out: &mut dyn Write,
    max_seconds: u64,
    until: Until,
    progress: &mut dyn FnMut(f64),
) -> Result<DecodeInfo, DecodeError> {
    gst::init().map_err(|error| DecodeError::Setup(error.to_string()))?;
    let setup = |error: glib::BoolError| DecodeError::Setup(error.to_string());
    let pipeline = gst::Pipeline::new();
    let source = gst::ElementFactory::make("filesrc")
        .property("location", format!("/proc/self/fd/{fd}"))
        .build()
        .map_err(setup)?;
    let make = |factory: &str| gst::ElementFactory::make(factory).build().map_err(setup);
    let decodebin = make("decodebin")?;
    let convert = make("audioconvert")?;
    let resample = make("audioresample")?;
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "F32LE")
        .field("layout", "interleaved")
        .field("rate", SAMPLE_RATE as i32)
        .field("channels", 1i32)
        .build();
    let sink = gst_app::AppSink::builder().caps(&caps).sync(false).build();
    pipeline
        .add_many([&source, &decodebin, &convert, &resample, sink.upcast_ref()])
        .map_err(setup)?;
    source.link(&decodebin).map_err(setup)?;
    gst::Element::link_many([&convert, &resample, sink.upcast_ref()]).map_err(setup)?;

    let plugging = Arc::new(Mutex::new(Plugging::default()));
    install_allow_list(&decodebin, plugging.clone())?;
    let pads = Arc::new(Mutex::new(PadsSeen::default()));
    {
        let convert = convert.clone();
        let pads = pads.clone();
        decodebin.connect_pad_added(move |_, pad| {
            let is_audio = pad
                .current_caps()
                .and_then(|caps| {
                    caps.structure(0)
                        .map(|s| s.name().starts_with("audio/x-raw"))
                })
                .unwrap_or(false);
            let mut seen = pads.lock().unwrap_or_else(|p| p.into_inner());
            seen.any = true;
            let Some(sink_pad) = convert.static_pad("sink") else {
                return;
            };
            if is_audio && !sink_pad.is_linked() && pad.link(&sink_pad).is_ok() {
                seen.audio = true;
            }
        });
    }

    pipeline.set_state(gst::State::Playing).map_err(|_| {
        DecodeError::Unreadable(
            bus_error(&pipeline).unwrap_or_else(|| "the pipeline would not start".into()),
        )
    })?;
    let result = pump(&pipeline, &sink, out, max_seconds, until, progress, &pads);
    let _ = pipeline.set_state(gst::State::Null);
    if until == Until::Header {
        return result;
    }
    let plugging = plugging.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let audio = pads.lock().unwrap_or_else(|p| p.into_inner()).audio;
    // A stream that broke after an element was refused broke because of the refusal; one
    // that broke with only video refused and no audio found has no audio to decode.
    let mut info = result.map_err(|error| match (&error, plugging.refused) {
        (DecodeError::Unreadable(_), Some(element)) => DecodeError::NotAllowed(element),
        (DecodeError::Unreadable(_), None) if plugging.video_skipped && !audio => {
            DecodeError::NoAudio
        }
        _ => error,
    })?;
    info.elements = plugging.plugged;
    if info.samples == 0 {
        return Err(if audio {
            DecodeError::Empty
        } else {
            DecodeError::NoAudio
        });
    }
    if info.peak < SILENCE_PEAK {
        return Err(DecodeError::Silent);
    }
    Ok(info)
}

/// Refuses every element factory that is not on [`ALLOWED_FACTORIES`] (decodebin's
/// `autoplug-select`), recording what was plugged and what was refused.
fn install_allow_list(
    decodebin: &gst::Element,
    plugging: Arc<Mutex<Plugging>>,
) -> Result<(), DecodeError> {
    let result_type = glib::Type::from_name("GstAutoplugSelectResult").ok_or_else(|| {
        DecodeError::Setup("decodebin's GstAutoplugSelectResult type is missing".into())
    })?;
    // GST_AUTOPLUG_SELECT_TRY = 0, GST_AUTOPLUG_SELECT_SKIP = 2 (Values are not Send, so
    // they are made inside the handler).
    let answer = move |raw: i32| {
        glib::EnumClass::with_type(result_type).and_then(|class| class.to_value(raw))
    };
    if answer(0).is_none() || answer(2).is_none() {
        return Err(DecodeError::Setup(
            "unexpected GstAutoplugSelectResult values".into(),
        ));
    }
    decodebin.connect("autoplug-select", false, move |values| {
        let name = values
            .get(3)
            .and_then(|value| value.get::<gst::ElementFactory>().ok())
            .map(|factory| factory.name().to_string())
            .unwrap_or_default();
        let visual = values
            .get(2)
            .and_then(|value| value.get::<gst::Caps>().ok())
            .and_then(|caps| caps.structure(0).map(|s| s.name().to_string()))
            .is_some_and(|media| media.starts_with("video/") || media.starts_with("image/"));
        let mut plugging = plugging.lock().unwrap_or_else(|p| p.into_inner());
        if ALLOWED_FACTORIES.contains(&name.as_str()) {
            plugging.plugged.push(name);
            answer(0)
        } else {
            if visual {
                // Pictures are never decoded: only the audio stream matters.
                plugging.video_skipped = true;
            } else {
                plugging.refused.get_or_insert(name);
            }
            answer(2)
        }
    });
    Ok(())
}

/// Pulls samples until end of stream, writing them out and watching the bus for errors.
fn pump(
    pipeline: &gst::Pipeline,
    sink: &gst_app::AppSink,
    out: &mut dyn Write,
    max_seconds: u64,
    until: Until,
    progress: &mut dyn FnMut(f64),
    pads: &Arc<Mutex<PadsSeen>>,
) -> Result<DecodeInfo, DecodeError> {
    let stream_error = |message: String| {
        let seen = *pads.lock().unwrap_or_else(|p| p.into_inner());
        if seen.any && !seen.audio {
            DecodeError::NoAudio
        } else {
            DecodeError::Unreadable(message)
        }
    };
    let mut info = DecodeInfo::default();
    let max_samples = max_seconds.saturating_mul(u64::from(SAMPLE_RATE));
    let max_bytes = max_samples.saturating_mul(4);
    let mut written_bytes = 0u64;
    let mut declared_checked = false;
    let mut next_report = 0u64;
    let bus = pipeline
        .bus()
        .ok_or_else(|| DecodeError::Setup("pipeline has no bus".into()))?;
    loop {
        if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error])
            && let gst::MessageView::Error(error) = message.view()
        {
            return Err(stream_error(error.error().to_string()));
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) else {
            if sink.is_eos() {
                break;
            }
            continue;
        };
        if !declared_checked {
            // By the first decoded buffer the demuxer has read the header.
            declared_checked = true;
            info.declared_seconds = check_declared_duration(pipeline, max_seconds)?;
            if until == Until::Header {
                return Ok(info);
            }
        }
        let Some(buffer) = sample.buffer() else {
            continue;
        };
        let map = buffer
            .map_readable()
            .map_err(|_| DecodeError::Unreadable("unreadable decoded buffer".into()))?;
        let bytes = map.as_slice();
        let samples = (bytes.len() / 4) as u64;
        // Both limits are checked before the buffer is written: what is on disk never
        // passes them.
        if info.samples.saturating_add(samples) > max_samples
            || written_bytes.saturating_add(bytes.len() as u64) > max_bytes
        {
            return Err(DecodeError::TooLong(max_seconds));
        }
        for chunk in bytes.chunks_exact(4) {
            let value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            info.peak = info.peak.max(value.abs());
        }
        out.write_all(bytes)
            .map_err(|error| DecodeError::output(&error))?;
        written_bytes += bytes.len() as u64;
        info.samples += samples;
        if info.samples >= next_report {
            progress(info.samples as f64 / f64::from(SAMPLE_RATE));
            next_report = info.samples + 5 * u64::from(SAMPLE_RATE);
        }
    }
    if let Some(message) = bus.pop_filtered(&[gst::MessageType::Error])
        && let gst::MessageView::Error(error) = message.view()
    {
        return Err(stream_error(error.error().to_string()));
    }
    out.flush().map_err(|error| DecodeError::output(&error))?;
    info.duration_seconds = info.samples as f64 / f64::from(SAMPLE_RATE);
    Ok(info)
}

/// Refuses an input whose declared duration (from its header, when the demuxer knows
/// one) is over the limit by more than a second of rounding; returns it in seconds.
fn check_declared_duration(
    pipeline: &gst::Pipeline,
    max_seconds: u64,
) -> Result<Option<f64>, DecodeError> {
    let Some(duration) = pipeline.query_duration::<gst::ClockTime>() else {
        return Ok(None);
    };
    let declared = duration.seconds();
    if declared > max_seconds.saturating_add(1) {
        return Err(DecodeError::DeclaredTooLong {
            declared,
            limit: max_seconds,
        });
    }
    Ok(Some(duration.mseconds() as f64 / 1000.0))
}

fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    let message = bus.timed_pop_filtered(
        gst::ClockTime::from_mseconds(500),
        &[gst::MessageType::Error],
    )?;
    match message.view() {
        gst::MessageView::Error(error) => Some(error.error().to_string()),
        _ => None,
    }
}
