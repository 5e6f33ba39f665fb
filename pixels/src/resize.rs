//! Fitting pictures into frames: cover and contain geometry, and Lanczos resampling of
//! RGB and RGBA images (alpha-aware).

use fast_image_resize as fr;
use image::{RgbImage, RgbaImage};

/// Resampling failed (sizes that do not fit their buffers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resampling failed: {0}")]
pub struct ResizeError(pub String);

fn failed(error: impl std::fmt::Display) -> ResizeError {
    ResizeError(error.to_string())
}

/// The centred part of a `src_w`×`src_h` image with the aspect ratio of
/// `dst_w`×`dst_h` (what "cover" shows): left, top, width, height in source pixels.
pub fn cover_crop(src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> (f64, f64, f64, f64) {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let aspect = f64::from(dst_w) / f64::from(dst_h.max(1));
    if sw / sh.max(1.0) > aspect {
        let w = sh * aspect;
        ((sw - w) / 2.0, 0.0, w, sh)
    } else {
        let h = sw / aspect;
        (0.0, (sh - h) / 2.0, sw, h)
    }
}

/// The size of a `src_w`×`src_h` image scaled to fit inside `box_w`×`box_h`.
pub fn contain_size(src_w: u32, src_h: u32, box_w: u32, box_h: u32) -> (u32, u32) {
    let scale = (f64::from(box_w) / f64::from(src_w.max(1)))
        .min(f64::from(box_h) / f64::from(src_h.max(1)));
    let size = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
    (size(src_w), size(src_h))
}

/// Resamples the `crop` (left, top, width, height, in pixels) of an RGB image to
/// `width`×`height`.
pub fn resize_rgb(
    source: &RgbImage,
    crop: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> Result<RgbImage, ResizeError> {
    let data = resize_raw(
        source.as_raw(),
        (source.width(), source.height()),
        fr::PixelType::U8x3,
        crop,
        (width, height),
    )?;
    RgbImage::from_raw(width, height, data).ok_or_else(|| failed("RGB buffer size"))
}

/// Resamples a whole RGBA image (alpha-aware) to `width`×`height`.
pub fn resize_rgba(source: &RgbaImage, width: u32, height: u32) -> Result<RgbaImage, ResizeError> {
    let crop = (
        0.0,
        0.0,
        f64::from(source.width()),
        f64::from(source.height()),
    );
    let data = resize_raw(
        source.as_raw(),
        (source.width(), source.height()),
        fr::PixelType::U8x4,
        crop,
        (width, height),
    )?;
    RgbaImage::from_raw(width, height, data).ok_or_else(|| failed("RGBA buffer size"))
}

fn resize_raw(
    data: &[u8],
    (src_w, src_h): (u32, u32),
    pixel: fr::PixelType,
    (left, top, w, h): (f64, f64, f64, f64),
    (dst_w, dst_h): (u32, u32),
) -> Result<Vec<u8>, ResizeError> {
    let source = fr::images::ImageRef::new(src_w, src_h, data, pixel).map_err(failed)?;
    let mut target = fr::images::Image::new(dst_w, dst_h, pixel);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
        .crop(left, top, w, h);
    fr::Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(failed)?;
    Ok(target.into_vec())
}

/// The picture as RGB; transparent parts are laid over black.
pub fn flatten(decoded: image::DynamicImage) -> RgbImage {
    if !decoded.color().has_alpha() {
        return decoded.into_rgb8();
    }
    let rgba = decoded.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 127) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cover_and_contain_keep_the_aspect() {
        let (x, y, w, h) = cover_crop(2000, 1000, 1080, 1920);
        assert!((w / h - 1080.0 / 1920.0).abs() < 1e-9);
        assert!((x - (2000.0 - w) / 2.0).abs() < 1e-9 && y == 0.0);
        let (_, y, w, h) = cover_crop(1000, 4000, 1080, 1920);
        assert!(w == 1000.0 && (y - (4000.0 - h) / 2.0).abs() < 1e-9);
        assert_eq!(contain_size(2000, 1000, 800, 800), (800, 400));
        assert_eq!(contain_size(500, 1000, 800, 800), (400, 800));
    }

    #[test]
    fn resampling_keeps_flat_colours() {
        let red = RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 10]));
        let small = resize_rgb(&red, (5.5, 0.0, 20.0, 30.0), 10, 15).unwrap();
        assert!(small.pixels().all(|p| p.0 == [200, 10, 10]));
        let clear = RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 0]));
        assert!(
            resize_rgba(&clear, 4, 4)
                .unwrap()
                .pixels()
                .all(|p| p.0[3] == 0)
        );
    }
}
