//! GStreamer for the render: making elements (a missing one names the Debian package
//! that brings it), the allow-list decodebin applies to untrusted clips and audio, and
//! reading errors off the bus.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

use super::error::RenderError;

/// Which Debian package brings an element (elements not listed come with
/// gstreamer1.0-plugins-base).
const PACKAGES: &[(&str, &str)] = &[
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("textoverlay", "gstreamer1.0-x"),
    ("avenc_aac", "gstreamer1.0-libav"),
    ("voaacenc", "gstreamer1.0-plugins-bad"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("qtdemux", "gstreamer1.0-plugins-good"),
    ("matroskademux", "gstreamer1.0-plugins-good"),
    ("pngenc", "gstreamer1.0-plugins-good"),
    ("h264parse", "gstreamer1.0-plugins-bad"),
    ("avdec_h264", "gstreamer1.0-libav"),
];

/// Decoders and demuxers a clip may use: common containers and video codecs only.
pub const CLIP_FACTORIES: &[&str] = &[
    "qtdemux",
    "matroskademux",
    "h264parse",
    "h265parse",
    "vp8parse",
    "vp9parse",
    "av1parse",
    "mpeg4videoparse",
    "avdec_h264",
    "avdec_h265",
    "avdec_mpeg4",
    "avdec_vp8",
    "avdec_vp9",
    "vp8dec",
    "vp9dec",
    "dav1ddec",
    "av1dec",
    "avdec_av1",
];

/// The Debian package of an element factory.
pub fn package_of(factory: &str) -> &'static str {
    PACKAGES
        .iter()
        .find(|(name, _)| *name == factory)
        .map_or("gstreamer1.0-plugins-base", |(_, package)| package)
}

/// Initialises GStreamer.
pub fn init() -> Result<(), RenderError> {
    gst::init().map_err(|error| RenderError::Pipeline(format!("GStreamer: {error}")))
}

/// Makes an element, naming its package when it is missing.
pub fn make(factory: &str) -> Result<gst::Element, RenderError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| missing(factory))
}

/// Makes the first of `factories` that is installed.
pub fn make_any(factories: &[&str]) -> Result<gst::Element, RenderError> {
    factories
        .iter()
        .find_map(|factory| gst::ElementFactory::make(factory).build().ok())
        .ok_or_else(|| missing(factories.first().copied().unwrap_or_default()))
}

/// A missing element, with its package.
pub fn missing(factory: &str) -> RenderError {
    RenderError::MissingElement {
        element: factory.to_owned(),
        package: package_of(factory).to_owned(),
    }
}

/// Sets a property from its text form (as gst-launch would), checking that the element
/// has it and that the value fits its type, instead of panicking.
pub fn set(
    element: &gst::Element,
    name: &str,
    value: impl std::fmt::Display,
) -> Result<(), RenderError> {
    let factory = element
        .factory()
        .map(|factory| factory.name().to_string())
        .unwrap_or_default();
    let pspec = element
        .find_property(name)
        .ok_or_else(|| pipeline_error(format!("{factory} has no property {name}")))?;
    let text = value.to_string();
    let value = <glib::Value as GstValueExt>::deserialize(&text, pspec.value_type())
        .map_err(|_| pipeline_error(format!("{factory}: {name} = {text:?} does not fit")))?;
    element.set_property_from_value(name, &value);
    Ok(())
}

/// A GStreamer failure outside any one input.
pub fn pipeline_error(error: impl std::fmt::Display) -> RenderError {
    RenderError::Pipeline(error.to_string())
}

/// The first error on a pipeline's bus, waiting up to `wait`, as "element: message".
pub fn bus_error(pipeline: &gst::Pipeline, wait: gst::ClockTime) -> Option<String> {
    let bus = pipeline.bus()?;
    // gstreamer-rs's timed_pop_filtered pops nothing when given no time at all.
    let message = if wait.is_zero() {
        bus.pop_filtered(&[gst::MessageType::Error])?
    } else {
        bus.timed_pop_filtered(wait, &[gst::MessageType::Error])?
    };
    match message.view() {
        gst::MessageView::Error(error) => Some(format!(
            "{}: {}",
            error
                .src()
                .map(|source| source.name().to_string())
                .unwrap_or_default(),
            error.error()
        )),
        _ => None,
    }
}

/// Refuses an input that is not a regular file (a FIFO would hang the decoder, a
/// device would never end).
pub fn check_regular_file(path: &Path, what: &str) -> Result<(), RenderError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(_) => Err(RenderError::bad_input(
            what,
            path,
            "not a regular file (a link, folder, pipe or device)",
        )),
        Err(error) => Err(RenderError::bad_input(what, path, error.to_string())),
    }
}

/// What decodebin's allow-list let through.
#[derive(Debug, Default, Clone)]
pub struct Plugging {
    /// Elements used, in plug order.
    pub plugged: Vec<String>,
    /// The first element refused for a wanted stream.
    pub refused: Option<String>,
    /// The file itself holds only the other kind of stream (a WAV given as a clip).
    pub wrong_kind: bool,
}

/// Which streams a decode wants; the others are never decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Audio (voices, music): pictures such as cover art are skipped.
    Audio,
    /// Video (clips): their sound is skipped.
    Video,
}

/// Lets decodebin plug only `allowed` factories, and only for the `wanted` streams.
pub fn install_allow_list(
    decodebin: &gst::Element,
    allowed: &'static [&'static str],
    wanted: Wanted,
) -> Result<Arc<Mutex<Plugging>>, RenderError> {
    let plugging = Arc::new(Mutex::new(Plugging::default()));
    let result_type = glib::Type::from_name("GstAutoplugSelectResult")
        .ok_or_else(|| pipeline_error("decodebin's GstAutoplugSelectResult type is missing"))?;
    // GST_AUTOPLUG_SELECT_TRY = 0, GST_AUTOPLUG_SELECT_SKIP = 2.
    let answer = move |raw: i32| {
        glib::EnumClass::with_type(result_type).and_then(|class| class.to_value(raw))
    };
    if answer(0).is_none() || answer(2).is_none() {
        return Err(pipeline_error("unexpected GstAutoplugSelectResult values"));
    }
    let record = plugging.clone();
    decodebin.connect("autoplug-select", false, move |values| {
        let name = values
            .get(3)
            .and_then(|value| value.get::<gst::ElementFactory>().ok())
            .map(|factory| factory.name().to_string())
            .unwrap_or_default();
        let media = values
            .get(2)
            .and_then(|value| value.get::<gst::Caps>().ok())
            .and_then(|caps| caps.structure(0).map(|s| s.name().to_string()))
            .unwrap_or_default();
        // decodebin hands over its own ghost pad; the pad behind it belongs to its
        // typefind element when the caps are those of the file itself.
        let top_level = values
            .get(1)
            .and_then(|value| value.get::<gst::Pad>().ok())
            .map(|pad| match pad.downcast_ref::<gst::GhostPad>() {
                Some(ghost) => ghost.target().unwrap_or(pad),
                None => pad,
            })
            .and_then(|pad| pad.parent_element())
            .and_then(|element| element.factory())
            .is_some_and(|factory| factory.name() == "typefind");
        let is_visual = media.starts_with("video/") || media.starts_with("image/");
        let is_wanted = match wanted {
            Wanted::Audio => !is_visual,
            Wanted::Video => !media.starts_with("audio/"),
        };
        let mut plugging = record.lock().unwrap_or_else(|p| p.into_inner());
        if is_wanted && allowed.contains(&name.as_str()) {
            plugging.plugged.push(name);
            answer(0)
        } else {
            if is_wanted {
                plugging.refused.get_or_insert(name);
            } else if top_level {
                plugging.wrong_kind = true;
            }
            answer(2)
        }
    });
    Ok(plugging)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn packages_are_named_for_missing_elements() {
        assert_eq!(package_of("x264enc"), "gstreamer1.0-plugins-ugly");
        assert_eq!(package_of("textoverlay"), "gstreamer1.0-x");
        assert_eq!(package_of("appsrc"), "gstreamer1.0-plugins-base");
        init().unwrap();
        let error = make("no-such-element-chute").unwrap_err();
        assert!(
            matches!(error, RenderError::MissingElement { .. }),
            "{error}"
        );
    }
}
