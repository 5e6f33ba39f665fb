//! The sales-video domain: what a brief becomes on its way to a finished video. The
//! pipeline's stages live in [`crate::pipeline`]; this module holds the data they pass
//! on and the local makers that need no provider.
//!
//! - [`script`]: the script (scenes, character bible, social posts), its schema, the
//!   tolerant parser and the offline template writer.
//! - [`render`]: the render child (`chute render …`): Ken-Burns stills, fitted clips,
//!   crossfades, burned-in captions, voice over ducked music, H.264/AAC MP4; scene
//!   cards and the thumbnail.

pub mod estimate;
pub mod render;
pub mod script;
pub mod voice;
