//! Rendering the sales video, its scene cards and its thumbnail. Everything that
//! touches an untrusted file (product images from the inbox, downloaded clips, images
//! and speech) runs in the `chute render` child process: [`child`] is the daemon's
//! side, [`entry`] the child's.
//!
//! Inside the child, a video is made like this:
//! - [`audio`] decodes voices and music, [`mix`] places the voices at their slots and
//!   ducks the music under them;
//! - [`timeline`] says what each frame shows (slots, crossfades), [`compose`] draws it:
//!   [`kenburns`] stills (sub-pixel crops, [`planes`]) and [`clip`]s (decoded as shown,
//!   by [`decoder`]), crossfaded at the cuts;
//! - [`captions`] breaks each scene's text into timed chunks;
//! - [`encode`] burns the captions in (textoverlay) and writes H.264/AAC MP4.
//!
//! [`card`] and [`thumbnail`] draw stills with text through [`textimage`]; [`picture`]
//! decodes images (pure-Rust decoders, limits, truncated JPEGs refused); [`elements`]
//! makes GStreamer elements and names the package of a missing one. The plans are in
//! [`plan`], the errors in [`error`], the settings in [`config`].

pub mod audio;
pub mod captions;
pub mod card;
pub mod child;
pub mod clip;
pub mod compose;
pub mod config;
pub mod decoder;
pub mod elements;
pub mod encode;
pub mod entry;
pub mod error;
pub mod kenburns;
pub mod last_frame;
pub mod mix;
pub mod picture;
pub mod plan;
pub mod planes;
pub mod textimage;
pub mod thumbnail;
pub mod timeline;
pub mod video;

pub use child::{RenderLimits, last_frame, render_card, render_thumbnail, render_video};
pub use config::RenderConfig;
pub use error::{RenderConsequence, RenderError};
pub use plan::{
    CardPlan, EncoderSettings, Motion, PlanScene, Rect, ThumbnailPlan, VideoPlan, Visual,
};
pub use thumbnail::ThumbnailReport;
pub use video::VideoReport;
