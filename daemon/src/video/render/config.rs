//! `[sales_video.render]`: the finished video's size, speed and quality, captions,
//! music mix, and the render child's limits.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::child::RenderLimits;
use super::plan::{EncoderSettings, H264Profile, MixSettings, PlanScene, VideoPlan, X264_PRESETS};
use crate::brief::Aspect;

/// `[sales_video.render]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenderConfig {
    /// The frame's short side in pixels: 1080 makes 9:16 1080x1920, 1:1 1080x1080 and
    /// 16:9 1920x1080.
    pub short_side: u32,
    /// Frames per second.
    pub fps: u32,
    /// x264 speed preset (`ultrafast` … `veryslow`).
    pub preset: String,
    /// x264 constant quality (0–51, lower is better), used when `bitrate_kbps` is 0.
    pub crf: u32,
    /// Average video bitrate in kbit/s; 0 means constant quality (`crf`).
    pub bitrate_kbps: u32,
    /// x264 threads; 0 lets x264 choose.
    pub threads: u32,
    /// Crossfade between scenes, centred on each cut; 0 for hard cuts.
    #[serde(with = "humantime_serde")]
    pub crossfade: Duration,
    /// Pango family and weight of captions, cards and thumbnails.
    pub font: String,
    /// Gain of the background music (a factor; 1 = as the file is).
    pub music_volume: f64,
    /// How far the music goes down while someone speaks, in dB (negative).
    pub duck: f64,
    /// Wall-clock limit of one render.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Address-space limit of the render child.
    pub max_memory: ByteSize,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            short_side: 1080,
            fps: 30,
            preset: "veryfast".to_owned(),
            crf: 23,
            bitrate_kbps: 0,
            threads: 0,
            crossfade: Duration::from_millis(400),
            font: "Noto Sans Bold".to_owned(),
            music_volume: 0.3,
            duck: -12.0,
            timeout: Duration::from_secs(15 * 60),
            max_memory: ByteSize::gib(4),
        }
    }
}

/// A `[sales_video.render]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RenderConfigError {
    /// Frame size out of range.
    #[error("sales_video.render.short_side must be an even number from 240 to 2160, not {0}")]
    ShortSide(u32),
    /// Frame rate out of range.
    #[error("sales_video.render.fps must be between 10 and 60, not {0}")]
    Fps(u32),
    /// Not an x264 preset.
    #[error("sales_video.render.preset {0:?} is not an x264 preset (ultrafast … veryslow)")]
    Preset(String),
    /// Quality or bitrate out of range.
    #[error("sales_video.render.crf must be at most 51 and bitrate_kbps 0 or from 200 to 100000")]
    Quality,
    /// Too many threads.
    #[error("sales_video.render.threads must be at most 64, not {0}")]
    Threads(u32),
    /// Crossfade too long.
    #[error("sales_video.render.crossfade must be at most 2s")]
    Crossfade,
    /// Empty font.
    #[error("sales_video.render.font must name a font (e.g. \"Noto Sans Bold\")")]
    Font,
    /// Music level out of range.
    #[error("sales_video.render.music_volume must be from 0 to 2, and duck from -60 to 0 (dB)")]
    Mix,
    /// Limits too small to render anything.
    #[error("sales_video.render.timeout must be at least 10s and max_memory at least 512MiB")]
    Limits,
}

impl RenderConfigError {
    /// The keys the error is about, for pointing at their line.
    pub fn keys(&self) -> Vec<String> {
        let keys: &[&str] = match self {
            RenderConfigError::ShortSide(_) => &["short_side"],
            RenderConfigError::Fps(_) => &["fps"],
            RenderConfigError::Preset(_) => &["preset"],
            RenderConfigError::Quality => &["crf", "bitrate_kbps"],
            RenderConfigError::Threads(_) => &["threads"],
            RenderConfigError::Crossfade => &["crossfade"],
            RenderConfigError::Font => &["font"],
            RenderConfigError::Mix => &["music_volume", "duck"],
            RenderConfigError::Limits => &["timeout", "max_memory"],
        };
        keys.iter()
            .map(|key| format!("sales_video.render.{key}"))
            .collect()
    }
}

impl RenderConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), RenderConfigError> {
        if !(240..=2160).contains(&self.short_side) || !self.short_side.is_multiple_of(2) {
            return Err(RenderConfigError::ShortSide(self.short_side));
        }
        if !(10..=60).contains(&self.fps) {
            return Err(RenderConfigError::Fps(self.fps));
        }
        if !X264_PRESETS.contains(&self.preset.as_str()) {
            return Err(RenderConfigError::Preset(self.preset.clone()));
        }
        if self.crf > 51
            || (self.bitrate_kbps != 0 && !(200..=100_000).contains(&self.bitrate_kbps))
        {
            return Err(RenderConfigError::Quality);
        }
        if self.threads > 64 {
            return Err(RenderConfigError::Threads(self.threads));
        }
        if self.crossfade > Duration::from_secs(2) {
            return Err(RenderConfigError::Crossfade);
        }
        if self.font.trim().is_empty() {
            return Err(RenderConfigError::Font);
        }
        if !(self.music_volume.is_finite()
            && (0.0..=2.0).contains(&self.music_volume)
            && self.duck.is_finite()
            && (-60.0..=0.0).contains(&self.duck))
        {
            return Err(RenderConfigError::Mix);
        }
        if self.timeout < Duration::from_secs(10) || self.max_memory < ByteSize::mib(512) {
            return Err(RenderConfigError::Limits);
        }
        Ok(())
    }

    /// The frame size for `aspect`: the short side as configured, the long side in
    /// proportion (rounded to an even number).
    pub fn size(&self, aspect: Aspect) -> (u32, u32) {
        let short = self.short_side;
        let long = (((f64::from(short) * 16.0 / 9.0) / 2.0).round() as u32) * 2;
        match aspect {
            Aspect::Portrait => (short, long),
            Aspect::Square => (short, short),
            Aspect::Landscape => (long, short),
        }
    }

    /// The encoder settings.
    pub fn encoder(&self) -> EncoderSettings {
        EncoderSettings {
            preset: self.preset.clone(),
            crf: self.crf,
            bitrate_kbps: (self.bitrate_kbps > 0).then_some(self.bitrate_kbps),
            profile: H264Profile::High,
            threads: self.threads,
            ..EncoderSettings::default()
        }
    }

    /// The render child's limits; its CPU time is `timeout` on `cpu_cores` cores
    /// (`limits.child_cpu_cores`).
    pub fn limits(&self, cpu_cores: u32) -> RenderLimits {
        RenderLimits {
            max_memory: self.max_memory.as_u64(),
            timeout: self.timeout,
            cpu_cores,
        }
    }

    /// A video plan with these settings.
    pub fn video_plan(
        &self,
        aspect: Aspect,
        scenes: Vec<PlanScene>,
        music: Option<PathBuf>,
        output: PathBuf,
    ) -> VideoPlan {
        let (width, height) = self.size(aspect);
        VideoPlan {
            width,
            height,
            fps: self.fps,
            encoder: self.encoder(),
            crossfade_seconds: self.crossfade.as_secs_f64(),
            font: self.font.clone(),
            scenes,
            music,
            mix: MixSettings {
                music_volume: self.music_volume,
                duck_db: self.duck,
                ..MixSettings::default()
            },
            output,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sizes_follow_the_aspect() {
        let config = RenderConfig::default();
        assert_eq!(config.size(Aspect::Portrait), (1080, 1920));
        assert_eq!(config.size(Aspect::Square), (1080, 1080));
        assert_eq!(config.size(Aspect::Landscape), (1920, 1080));
        let small = RenderConfig {
            short_side: 540,
            ..RenderConfig::default()
        };
        assert_eq!(small.size(Aspect::Portrait), (540, 960));
        assert_eq!(small.size(Aspect::Landscape), (960, 540));
    }

    #[test]
    fn defaults_validate_and_bad_values_name_their_keys() {
        RenderConfig::default().validate().unwrap();
        let bad = RenderConfig {
            preset: "warp".into(),
            ..RenderConfig::default()
        };
        let error = bad.validate().unwrap_err();
        assert_eq!(error.keys(), ["sales_video.render.preset"]);
        let odd = RenderConfig {
            short_side: 1081,
            ..RenderConfig::default()
        };
        assert!(odd.validate().is_err());
        let plan = RenderConfig::default().video_plan(
            Aspect::Square,
            Vec::new(),
            None,
            PathBuf::from("final.mp4"),
        );
        assert_eq!((plan.width, plan.height, plan.fps), (1080, 1080, 30));
        assert!((plan.crossfade_seconds - 0.4).abs() < 1e-9);
        assert_eq!(plan.encoder.bitrate_kbps, None);
    }
}
