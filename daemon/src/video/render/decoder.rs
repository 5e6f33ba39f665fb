//! Decoding an untrusted clip or audio file with GStreamer: `filesrc → decodebin
//! (allow-listed elements, wanted streams only) → converters → appsink`, pulled one
//! sample at a time so that a long file is only decoded as far as it is used.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::elements::{self, Plugging, Wanted};
use super::error::RenderError;

/// How long one pull waits before looking at the bus again.
const POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);

/// A running decode of one input file.
pub struct Decoder {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    plugging: Arc<Mutex<Plugging>>,
    linked: Arc<Mutex<bool>>,
    /// decodebin has exposed every stream it will (`no-more-pads`).
    exposed: Arc<Mutex<bool>>,
    what: String,
    path: PathBuf,
    wanted: Wanted,
}

impl Decoder {
    /// Starts decoding `path`: the `wanted` stream goes through `converters` into an
    /// appsink that accepts `caps`. `what` names the input in errors.
    pub fn open(
        path: &Path,
        what: &str,
        wanted: Wanted,
        allowed: &'static [&'static str],
        converters: &[&str],
        caps: &gst::Caps,
    ) -> Result<Decoder, RenderError> {
        elements::init()?;
        elements::check_regular_file(path, what)?;
        let pipeline = gst::Pipeline::new();
        let source = elements::make("filesrc")?;
        source.set_property("location", path.to_string_lossy().as_ref());
        let decodebin = elements::make("decodebin")?;
        let chain = converters
            .iter()
            .map(|factory| elements::make(factory))
            .collect::<Result<Vec<_>, _>>()?;
        let sink = gst_app::AppSink::builder()
            .caps(caps)
            .sync(false)
            .max_buffers(4)
            .build();
        pipeline
            .add_many([&source, &decodebin])
            .map_err(elements::pipeline_error)?;
        pipeline
            .add_many(chain.iter())
            .map_err(elements::pipeline_error)?;
        pipeline.add(&sink).map_err(elements::pipeline_error)?;
        source.link(&decodebin).map_err(elements::pipeline_error)?;
        let mut tail: Vec<&gst::Element> = chain.iter().collect();
        tail.push(sink.upcast_ref());
        gst::Element::link_many(tail.iter().copied()).map_err(elements::pipeline_error)?;
        let plugging = elements::install_allow_list(&decodebin, allowed, wanted)?;
        let linked = Arc::new(Mutex::new(false));
        let first = tail
            .first()
            .and_then(|element| element.static_pad("sink"))
            .ok_or_else(|| elements::pipeline_error("the converter has no sink pad"))?;
        let prefix = match wanted {
            Wanted::Audio => "audio/x-raw",
            Wanted::Video => "video/x-raw",
        };
        let seen = linked.clone();
        decodebin.connect_pad_added(move |_, pad| {
            let matches = pad
                .current_caps()
                .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with(prefix)))
                .unwrap_or(false);
            if matches && !first.is_linked() && pad.link(&first).is_ok() {
                *seen.lock().unwrap_or_else(|p| p.into_inner()) = true;
            }
        });
        let exposed = Arc::new(Mutex::new(false));
        let done = exposed.clone();
        decodebin.connect_no_more_pads(move |_| {
            *done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        });
        let decoder = Decoder {
            pipeline,
            sink,
            plugging,
            linked,
            exposed,
            what: what.to_owned(),
            path: path.to_owned(),
            wanted,
        };
        if decoder.pipeline.set_state(gst::State::Playing).is_err() {
            let reason = elements::bus_error(&decoder.pipeline, POLL)
                .unwrap_or_else(|| "the decoder would not start".into());
            return Err(decoder.failure(reason));
        }
        Ok(decoder)
    }

    /// The next decoded sample, or `None` at the end of the stream.
    pub fn pull(&self) -> Result<Option<gst::Sample>, RenderError> {
        loop {
            if let Some(reason) = elements::bus_error(&self.pipeline, gst::ClockTime::ZERO) {
                return Err(self.failure(reason));
            }
            if let Some(sample) = self.sink.try_pull_sample(POLL) {
                return Ok(Some(sample));
            }
            // A file whose only streams are of the other kind (a WAV given as a clip)
            // exposes nothing and would otherwise wait forever.
            let wrong_kind = self
                .plugging
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .wrong_kind;
            let exposed = *self.exposed.lock().unwrap_or_else(|p| p.into_inner());
            if (wrong_kind || exposed) && !self.found_stream() {
                return Err(self.failure(match self.wanted {
                    Wanted::Audio => "it has no audio stream".into(),
                    Wanted::Video => "it has no video stream".into(),
                }));
            }
            if self.sink.is_eos() {
                if let Some(reason) = elements::bus_error(&self.pipeline, gst::ClockTime::ZERO) {
                    return Err(self.failure(reason));
                }
                return Ok(None);
            }
        }
    }

    /// Whether a stream of the wanted kind was found.
    pub fn found_stream(&self) -> bool {
        *self.linked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An error about this input, explained by what the allow-list refused.
    pub fn failure(&self, reason: String) -> RenderError {
        let refused = self
            .plugging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused
            .clone();
        let reason = match refused {
            Some(element) => format!(
                "its format needs the GStreamer element {element}, which chute does not allow for untrusted files ({reason})"
            ),
            None => reason,
        };
        RenderError::bad_input(&self.what, &self.path, reason)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
