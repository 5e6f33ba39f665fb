//! chute-pixels: the pixel work of chute's render child, in plain (non-generic)
//! functions so that it is compiled, and optimised, here — generic code would be
//! compiled unoptimised into every debug build of the daemon, making a Ken-Burns frame
//! take a second instead of milliseconds.
//!
//! - [`decode`]: PNG, JPEG and WebP from untrusted bytes (pure-Rust decoders, size and
//!   allocation limits, truncated JPEGs refused).
//! - [`resize`]: cover and contain geometry, high-quality RGB(A) resampling.
//! - [`planes`]: I420 pictures: from RGB (BT.709), sub-pixel crops resampled with SIMD,
//!   crossfade blending.
//!
//! Nothing here touches files, processes or GStreamer.

pub mod decode;
pub mod planes;
pub mod resize;

pub use decode::{DecodeError, decode_image, jpeg_is_complete};
pub use image;
pub use planes::{Planes, Scaler};
pub use resize::{ResizeError, contain_size, cover_crop, resize_rgb, resize_rgba};
