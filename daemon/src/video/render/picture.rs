//! Still images from untrusted files: read with a size limit (regular files only), then
//! decoded by chute-pixels (pure-Rust PNG, JPEG and WebP decoders under limits, the
//! format sniffed from the bytes, truncated JPEGs refused).

use std::path::Path;

pub use chute_pixels::resize::flatten;
pub use chute_pixels::{contain_size, cover_crop, resize_rgb, resize_rgba};

use super::error::RenderError;

/// Largest image file read (bytes).
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Decodes an image file, whatever its name says; `what` names the input in errors.
pub fn load(path: &Path, what: &str) -> Result<chute_pixels::image::DynamicImage, RenderError> {
    super::elements::check_regular_file(path, what)?;
    let bad = |reason: String| RenderError::bad_input(what, path, reason);
    let size = std::fs::metadata(path)
        .map_err(|error| bad(error.to_string()))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(bad(format!(
            "the file is {size} bytes; images up to {MAX_FILE_BYTES} bytes are read"
        )));
    }
    let bytes = std::fs::read(path).map_err(|error| bad(error.to_string()))?;
    chute_pixels::decode_image(&bytes).map_err(|error| bad(error.to_string()))
}
