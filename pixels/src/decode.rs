//! Still images from untrusted bytes: the format is sniffed (never taken from a file
//! name) and must be PNG, JPEG or WebP; decoders run under size and allocation limits;
//! a truncated JPEG is refused instead of decoding into a half-grey picture.

use image::{DynamicImage, ImageFormat};

/// Largest image side accepted (pixels).
pub const MAX_SIDE: u32 = 12_000;
/// Largest allocation a decoder may make (bytes).
pub const MAX_ALLOC: u64 = 600 << 20;

/// Why bytes are not a usable image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not a format we read.
    #[error("not a PNG, JPEG or WebP image")]
    NotAnImage,
    /// A known image format we do not read.
    #[error("a {0} image; only PNG, JPEG and WebP are read")]
    Unsupported(String),
    /// A JPEG without its end marker.
    #[error("the JPEG is truncated (it has no end marker)")]
    Truncated,
    /// The decoder refused it (corrupt data, over the limits).
    #[error("the image does not decode: {0}")]
    Corrupt(String),
    /// Too small to show.
    #[error("the image is smaller than 2x2 pixels")]
    TooSmall,
}

/// Decodes PNG, JPEG or WebP `bytes`.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage, DecodeError> {
    let format = image::guess_format(bytes).map_err(|_| DecodeError::NotAnImage)?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err(DecodeError::Unsupported(format!("{format:?}")));
    }
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(DecodeError::Truncated);
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|error| DecodeError::Corrupt(error.to_string()))?;
    if decoded.width() < 2 || decoded.height() < 2 {
        return Err(DecodeError::TooSmall);
    }
    Ok(decoded)
}

/// Whether a JPEG's segments run to an end-of-image marker. Segments are skipped by
/// their lengths, so the end marker of a thumbnail embedded in an APP segment does not
/// count; data after the end marker (some cameras append a video) is allowed.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8 {
        return false;
    }
    let mut at = 2;
    let mut in_scan = false;
    while at + 1 < bytes.len() {
        if bytes[at] != 0xFF {
            if !in_scan {
                return false;
            }
            at += 1;
            continue;
        }
        let marker = bytes[at + 1];
        match marker {
            // Fill bytes, stuffed 0xFF in entropy-coded data, restart markers.
            0xFF => at += 1,
            0x00 | 0xD0..=0xD7 | 0x01 => at += 2,
            0xD9 => return true,
            _ => {
                let Some(length) = bytes
                    .get(at + 2..at + 4)
                    .map(|pair| usize::from(u16::from_be_bytes([pair[0], pair[1]])))
                else {
                    return false;
                };
                if length < 2 {
                    return false;
                }
                at += 2 + length;
                in_scan = marker == 0xDA;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use image::RgbImage;

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn truncated_jpegs_are_told_from_complete_ones() {
        let whole = encoded(64, 48, ImageFormat::Jpeg);
        assert!(jpeg_is_complete(&whole));
        for cut in [whole.len() - 2, whole.len() / 2, 200, 3] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
            assert_eq!(
                decode_image(&whole[..cut]).unwrap_err(),
                DecodeError::Truncated
            );
        }
        let mut trailer = whole.clone();
        trailer.extend_from_slice(b"trailing data after the image");
        assert!(jpeg_is_complete(&trailer));
        assert_eq!(decode_image(&trailer).unwrap().width(), 64);
    }

    #[test]
    fn only_pictures_in_known_formats_decode() {
        let png = encoded(8, 8, ImageFormat::Png);
        assert_eq!(decode_image(&png).unwrap().height(), 8);
        assert_eq!(
            decode_image(b"<html>not an image</html>").unwrap_err(),
            DecodeError::NotAnImage
        );
        let cut = &png[..png.len() - 20];
        assert!(matches!(decode_image(cut), Err(DecodeError::Corrupt(_))));
        let tiny = encoded(1, 1, ImageFormat::Png);
        assert_eq!(decode_image(&tiny).unwrap_err(), DecodeError::TooSmall);
    }
}
