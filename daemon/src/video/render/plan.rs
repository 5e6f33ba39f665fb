//! The render plans: what the daemon asks of the render child, written as a JSON file
//! the child reads. Everything the child needs is here; it reads no configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::RenderError;

/// Largest frame side the render accepts (pixels).
pub const MAX_SIDE: u32 = 4096;
/// Longest video the render accepts (seconds; the longest brief asks for 600).
pub const MAX_TOTAL_SECONDS: f64 = 600.0;

/// A finished video: scenes one after another, voice over music, captions burned in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoPlan {
    /// Frame width in pixels (even).
    pub width: u32,
    /// Frame height in pixels (even).
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// H.264 and AAC settings.
    pub encoder: EncoderSettings,
    /// Length of each crossfade, centred on the cut; 0 means hard cuts. A crossfade
    /// overlaps two scenes and never adds time.
    pub crossfade_seconds: f64,
    /// Pango family and weight of the captions, e.g. `Noto Sans Bold`.
    pub font: String,
    /// The scenes, in order.
    pub scenes: Vec<PlanScene>,
    /// Background music: looped or trimmed to the video, ducked under speech.
    pub music: Option<PathBuf>,
    /// Music level and ducking.
    #[serde(default)]
    pub mix: MixSettings,
    /// The MP4 to write.
    pub output: PathBuf,
}

/// One scene: a visual for the length of its slot, its voiceover and caption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanScene {
    /// What is seen.
    pub visual: Visual,
    /// The voiceover, placed at the start of the slot (any audio GStreamer decodes).
    pub voice: Option<PathBuf>,
    /// Length of the slot in seconds (the video is the sum of the slots).
    pub seconds: f64,
    /// The caption burned in during the slot (the voiceover's text).
    pub caption: String,
    /// When each word of the caption is spoken, when the speech provider said
    /// (seconds from the slot's start); empty: the caption's parts share the slot by
    /// length.
    #[serde(default)]
    pub caption_words: Vec<CaptionWord>,
}

/// One spoken word and when it is said, in seconds from its voiceover's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptionWord {
    /// The word as spoken.
    pub word: String,
    /// When it starts.
    pub start: f64,
    /// When it ends.
    pub end: f64,
}

/// What a scene shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase", tag = "kind")]
pub enum Visual {
    /// A still image (PNG, JPEG, WebP) with a Ken-Burns move.
    Still {
        /// The image file.
        image: PathBuf,
        /// The move across the cover-fitted image.
        motion: Motion,
    },
    /// A video clip, fitted to the slot: trimmed when longer, holding its last frame
    /// when shorter.
    Clip {
        /// The clip file.
        video: PathBuf,
    },
}

/// A crop rectangle in the cover-fitted image, each value between 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// The whole image.
    pub const FULL: Rect = Rect {
        x: 0.0,
        y: 0.0,
        w: 1.0,
        h: 1.0,
    };

    /// A square (in normalised units) of side `size` at `(x, y)`.
    pub const fn square(x: f64, y: f64, size: f64) -> Rect {
        Rect {
            x,
            y,
            w: size,
            h: size,
        }
    }

    /// The rectangle a fraction `t` (0..1) of the way from `self` to `to`.
    pub fn lerp(self, to: Rect, t: f64) -> Rect {
        let mix = |a: f64, b: f64| a + (b - a) * t;
        Rect {
            x: mix(self.x, to.x),
            y: mix(self.y, to.y),
            w: mix(self.w, to.w),
            h: mix(self.h, to.h),
        }
    }

    fn is_valid(self) -> bool {
        let finite = [self.x, self.y, self.w, self.h]
            .iter()
            .all(|v| v.is_finite());
        finite
            && self.x >= 0.0
            && self.y >= 0.0
            && self.w > 0.01
            && self.h > 0.01
            && self.x + self.w <= 1.0 + 1e-9
            && self.y + self.h <= 1.0 + 1e-9
    }
}

/// A Ken-Burns move: the visible part of the image goes from `from` to `to` over the
/// scene (both in the image cover-fitted to the frame, so equal `w` and `h` keep the
/// picture undistorted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Motion {
    /// Where the scene starts.
    pub from: Rect,
    /// Where it ends.
    pub to: Rect,
}

/// How far the moves zoom: the closest view shows this much of the image.
const ZOOM: f64 = 0.82;

impl Motion {
    /// A move for the scene at `index`, varied but deterministic: push in, pull out,
    /// pan right, pan left, diagonal drift, in turn.
    pub fn for_scene(index: usize) -> Motion {
        let margin = 1.0 - ZOOM;
        let centre = margin / 2.0;
        let (from, to) = match index % 5 {
            0 => (Rect::FULL, Rect::square(centre, centre, ZOOM)),
            1 => (Rect::square(centre, centre, ZOOM), Rect::FULL),
            2 => (
                Rect::square(0.0, centre, ZOOM),
                Rect::square(margin, centre, ZOOM),
            ),
            3 => (
                Rect::square(margin, centre, ZOOM),
                Rect::square(0.0, centre, ZOOM),
            ),
            _ => (
                Rect::square(0.0, 0.0, ZOOM),
                Rect::square(margin, margin, ZOOM),
            ),
        };
        Motion { from, to }
    }

    /// The smallest visible part during the move (the strongest zoom), as a fraction.
    pub fn closest(&self) -> f64 {
        self.from.w.min(self.from.h).min(self.to.w).min(self.to.h)
    }
}

/// H.264 and AAC settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderSettings {
    /// x264 speed preset (`ultrafast` … `veryslow`).
    pub preset: String,
    /// Constant-quality factor (0–51, lower is better), used without a bitrate.
    pub crf: u32,
    /// Average bitrate in kbit/s instead of constant quality.
    pub bitrate_kbps: Option<u32>,
    /// The H.264 profile (always 4:2:0, 8 bits).
    pub profile: H264Profile,
    /// x264 threads; 0 lets x264 choose.
    pub threads: u32,
    /// AAC bitrate in kbit/s.
    pub audio_bitrate_kbps: u32,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            preset: "veryfast".to_owned(),
            crf: 23,
            bitrate_kbps: None,
            profile: H264Profile::High,
            threads: 0,
            audio_bitrate_kbps: 128,
        }
    }
}

/// x264's speed presets, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// H.264 profiles every phone plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum H264Profile {
    /// High (4:2:0, 8 bits).
    #[default]
    High,
    /// Main, for very old players.
    Main,
}

impl H264Profile {
    /// The profile's name in GStreamer caps.
    pub fn caps_name(self) -> &'static str {
        match self {
            H264Profile::High => "high",
            H264Profile::Main => "main",
        }
    }
}

/// Music level and ducking.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixSettings {
    /// Gain of the music while nobody speaks (a factor, 1 = as decoded).
    pub music_volume: f64,
    /// Extra gain of the music under speech, in dB (negative).
    pub duck_db: f64,
    /// The music fades out over this many seconds at the end.
    pub fade_out_seconds: f64,
}

impl Default for MixSettings {
    fn default() -> Self {
        Self {
            music_volume: 0.3,
            duck_db: -12.0,
            fade_out_seconds: 1.5,
        }
    }
}

/// A scene card: a gradient in the brand colours, the product image, a headline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardPlan {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The two brand colours of the gradient, `#RRGGBB`.
    pub colours: [String; 2],
    /// The product image (PNG, JPEG, WebP), fitted onto the card.
    pub product_image: Option<PathBuf>,
    /// The headline (a product name or a scene line).
    pub headline: String,
    /// Smaller text under the headline.
    pub body: Option<String>,
    /// Pango family and weight.
    pub font: String,
    /// The PNG to write.
    pub output: PathBuf,
}

/// A thumbnail: the best of some scene images with big text over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailPlan {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Images to choose from (PNG, JPEG, WebP).
    pub candidates: Vec<PathBuf>,
    /// The text drawn over the chosen image.
    pub text: String,
    /// Pango family and weight.
    pub font: String,
    /// The PNG to write.
    pub output: PathBuf,
}

/// Checks a frame size.
pub(crate) fn check_size(width: u32, height: u32) -> Result<(), RenderError> {
    let fits = |side: u32| (16..=MAX_SIDE).contains(&side) && side.is_multiple_of(2);
    if fits(width) && fits(height) {
        Ok(())
    } else {
        Err(RenderError::Plan(format!(
            "the frame size {width}x{height} is not usable (even sides from 16 to {MAX_SIDE})"
        )))
    }
}

fn check_font(font: &str) -> Result<(), RenderError> {
    if font.trim().is_empty() || font.len() > 200 {
        Err(RenderError::Plan(
            "the font name is empty or too long".into(),
        ))
    } else {
        Ok(())
    }
}

impl VideoPlan {
    /// The video's length: the sum of the slots.
    pub fn total_seconds(&self) -> f64 {
        self.scenes.iter().map(|scene| scene.seconds).sum()
    }

    /// Checks what serde cannot: sizes, lengths, rectangles, settings.
    pub fn validate(&self) -> Result<(), RenderError> {
        let plan = |message: String| Err(RenderError::Plan(message));
        check_size(self.width, self.height)?;
        check_font(&self.font)?;
        if !(1..=120).contains(&self.fps) {
            return plan(format!("fps {} is not between 1 and 120", self.fps));
        }
        if self.scenes.is_empty() {
            return plan("the plan has no scenes".into());
        }
        if !(self.crossfade_seconds.is_finite() && (0.0..=5.0).contains(&self.crossfade_seconds)) {
            return plan(format!(
                "crossfade_seconds {} is not between 0 and 5",
                self.crossfade_seconds
            ));
        }
        for (index, scene) in self.scenes.iter().enumerate() {
            let number = index + 1;
            if !(scene.seconds.is_finite() && scene.seconds >= 0.2 && scene.seconds <= 600.0) {
                return plan(format!(
                    "scene {number} lasts {} s (from 0.2 to 600 s)",
                    scene.seconds
                ));
            }
            if let Visual::Still { motion, .. } = &scene.visual
                && !(motion.from.is_valid() && motion.to.is_valid())
            {
                return plan(format!(
                    "scene {number}'s motion leaves the image (rectangles within 0..1)"
                ));
            }
            if scene.caption.len() > 4000 {
                return plan(format!(
                    "scene {number}'s caption is longer than 4000 bytes"
                ));
            }
        }
        if self.total_seconds() > MAX_TOTAL_SECONDS {
            return plan(format!(
                "the video would last {:.0} s (at most {MAX_TOTAL_SECONDS} s)",
                self.total_seconds()
            ));
        }
        let encoder = &self.encoder;
        if !X264_PRESETS.contains(&encoder.preset.as_str()) {
            return plan(format!("{:?} is not an x264 preset", encoder.preset));
        }
        if encoder.crf > 51
            || encoder
                .bitrate_kbps
                .is_some_and(|k| !(50..=200_000).contains(&k))
        {
            return plan("crf is above 51 or the bitrate is outside 50..200000 kbit/s".into());
        }
        if !(32..=512).contains(&encoder.audio_bitrate_kbps) || encoder.threads > 64 {
            return plan("the audio bitrate (32..512 kbit/s) or thread count is off".into());
        }
        let mix = &self.mix;
        if !(mix.music_volume.is_finite()
            && (0.0..=4.0).contains(&mix.music_volume)
            && mix.duck_db.is_finite()
            && (-80.0..=0.0).contains(&mix.duck_db)
            && mix.fade_out_seconds.is_finite()
            && (0.0..=30.0).contains(&mix.fade_out_seconds))
        {
            return plan("the music volume, ducking or fade is out of range".into());
        }
        Ok(())
    }
}

impl CardPlan {
    /// Checks sizes, colours and text.
    pub fn validate(&self) -> Result<(), RenderError> {
        check_size(self.width, self.height)?;
        check_font(&self.font)?;
        for colour in &self.colours {
            parse_colour(colour)?;
        }
        if self.headline.trim().is_empty() && self.body.as_deref().is_none_or(str::is_empty) {
            return Err(RenderError::Plan("the card has no text".into()));
        }
        Ok(())
    }
}

impl ThumbnailPlan {
    /// Checks sizes and that there is something to choose from.
    pub fn validate(&self) -> Result<(), RenderError> {
        check_size(self.width, self.height)?;
        check_font(&self.font)?;
        if self.candidates.is_empty() {
            return Err(RenderError::Plan(
                "the thumbnail has no candidate images".into(),
            ));
        }
        Ok(())
    }
}

/// `#RRGGBB` as red, green, blue.
pub fn parse_colour(text: &str) -> Result<[u8; 3], RenderError> {
    let hex = text.strip_prefix('#').unwrap_or(text);
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
    };
    match (hex.len(), channel(0), channel(2), channel(4)) {
        (6, Some(r), Some(g), Some(b)) => Ok([r, g, b]),
        _ => Err(RenderError::Plan(format!(
            "{text:?} is not a colour (write #RRGGBB)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn scene_motions_vary_and_stay_inside_the_image() {
        let motions: Vec<Motion> = (0..5).map(Motion::for_scene).collect();
        for (i, motion) in motions.iter().enumerate() {
            assert!(motion.from.is_valid() && motion.to.is_valid(), "{i}");
            assert_ne!(motion.from, motion.to, "{i} moves");
            for other in &motions[..i] {
                assert_ne!(motion, other);
            }
        }
        assert_eq!(Motion::for_scene(7), Motion::for_scene(2));
    }

    #[test]
    fn colours_parse() {
        assert_eq!(parse_colour("#FF8000").unwrap(), [255, 128, 0]);
        assert!(parse_colour("#FF80").is_err());
        assert!(parse_colour("#GG0000").is_err());
        assert!(parse_colour("#ÿÿÿ").is_err());
    }
}
