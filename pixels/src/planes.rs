//! I420 pictures as three contiguous planes: made from RGB (BT.709, limited range) or
//! copied from strided decoder output, resampled with a sub-pixel crop (SIMD, for
//! smooth Ken-Burns moves), and blended for crossfades.

use fast_image_resize as fr;
use image::RgbImage;

use crate::resize::ResizeError;

/// An I420 picture: full-size luma, half-size chroma, rows without padding.
#[derive(Debug, Clone, PartialEq)]
pub struct Planes {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Luma, `width` × `height`.
    pub y: Vec<u8>,
    /// Blue-difference chroma, `width/2` × `height/2`.
    pub u: Vec<u8>,
    /// Red-difference chroma, `width/2` × `height/2`.
    pub v: Vec<u8>,
}

impl Planes {
    /// A black picture.
    pub fn black(width: u32, height: u32) -> Planes {
        let luma = width as usize * height as usize;
        let chroma = (width / 2) as usize * (height / 2) as usize;
        Planes {
            width,
            height,
            y: vec![16; luma],
            u: vec![128; chroma],
            v: vec![128; chroma],
        }
    }

    /// Converts an RGB image (cropped to even sides) to I420, BT.709 limited range.
    pub fn from_rgb(image: &RgbImage) -> Planes {
        let width = image.width() & !1;
        let height = image.height() & !1;
        let mut planes = Planes::black(width, height);
        let stride = image.width() as usize * 3;
        let raw = image.as_raw();
        let (w, h) = (width as usize, height as usize);
        let luma =
            |r: f32, g: f32, b: f32| 16.0 + (0.2126 * r + 0.7152 * g + 0.0722 * b) * 0.858_823_5;
        for row in 0..h {
            let line = &raw[row * stride..row * stride + w * 3];
            for (col, pixel) in line.chunks_exact(3).enumerate() {
                let (r, g, b) = (
                    f32::from(pixel[0]),
                    f32::from(pixel[1]),
                    f32::from(pixel[2]),
                );
                planes.y[row * w + col] = luma(r, g, b).round() as u8;
            }
        }
        let cw = w / 2;
        for row in 0..h / 2 {
            for col in 0..cw {
                let mut sum = [0f32; 3];
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let at = (row * 2 + dy) * stride + (col * 2 + dx) * 3;
                    for (channel, total) in sum.iter_mut().enumerate() {
                        *total += f32::from(raw[at + channel]);
                    }
                }
                let [r, g, b] = sum.map(|total| total / 4.0);
                let u = 128.0 + (-0.114_572 * r - 0.385_428 * g + 0.5 * b) * 0.878_431_4;
                let v = 128.0 + (0.5 * r - 0.454_153 * g - 0.045_847 * b) * 0.878_431_4;
                planes.u[row * cw + col] = u.round().clamp(0.0, 255.0) as u8;
                planes.v[row * cw + col] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        planes
    }

    /// Copies planes that may carry padding at the end of each row.
    pub fn from_strided(
        width: u32,
        height: u32,
        planes: [(&[u8], usize); 3],
    ) -> Result<Planes, ResizeError> {
        let mut out = Planes::black(width, height);
        let sizes = [
            (width as usize, height as usize),
            ((width / 2) as usize, (height / 2) as usize),
            ((width / 2) as usize, (height / 2) as usize),
        ];
        for ((target, (source, stride)), (w, h)) in [&mut out.y, &mut out.u, &mut out.v]
            .into_iter()
            .zip(planes)
            .zip(sizes)
        {
            if stride < w || source.len() < stride * h.saturating_sub(1) + w {
                return Err(ResizeError(
                    "a decoded frame is smaller than its caps".into(),
                ));
            }
            for row in 0..h {
                target[row * w..(row + 1) * w]
                    .copy_from_slice(&source[row * stride..row * stride + w]);
            }
        }
        Ok(out)
    }

    /// Sets `self` to `a` faded into `b` by `amount` (0 = all `a`, 1 = all `b`).
    pub fn blend(&mut self, a: &Planes, b: &Planes, amount: f64) {
        let weight = (amount.clamp(0.0, 1.0) * 256.0).round() as u16;
        let keep = 256 - weight;
        for (target, (first, second)) in [
            (&mut self.y, (&a.y, &b.y)),
            (&mut self.u, (&a.u, &b.u)),
            (&mut self.v, (&a.v, &b.v)),
        ] {
            for ((out, &x), &y) in target.iter_mut().zip(first.iter()).zip(second.iter()) {
                *out = ((u16::from(x) * keep + u16::from(y) * weight + 128) >> 8) as u8;
            }
        }
    }
}

/// Resamples a crop of one I420 picture into another, reusing its buffers between
/// frames. Crops are in luma pixels and may be fractional: the convolution weights
/// follow the exact position, so slow moves do not jitter from pixel to pixel.
pub struct Scaler {
    resizers: [fr::Resizer; 3],
    options: fr::ResizeOptions,
}

impl Default for Scaler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scaler {
    /// A bilinear scaler (sharp enough for zooms under 1.5×, and fast).
    pub fn new() -> Scaler {
        Scaler {
            resizers: [fr::Resizer::new(), fr::Resizer::new(), fr::Resizer::new()],
            options: fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Bilinear)),
        }
    }

    /// Fills `target` with the `(left, top, width, height)` part of `source`.
    pub fn scale(
        &mut self,
        source: &Planes,
        (left, top, width, height): (f64, f64, f64, f64),
        target: &mut Planes,
    ) -> Result<(), ResizeError> {
        let failed = |error: &dyn std::fmt::Display| ResizeError(error.to_string());
        let jobs = [
            (
                &source.y,
                &mut target.y,
                1.0,
                (source.width, source.height),
                (target.width, target.height),
            ),
            (
                &source.u,
                &mut target.u,
                0.5,
                (source.width / 2, source.height / 2),
                (target.width / 2, target.height / 2),
            ),
            (
                &source.v,
                &mut target.v,
                0.5,
                (source.width / 2, source.height / 2),
                (target.width / 2, target.height / 2),
            ),
        ];
        for ((from, to, factor, (sw, sh), (tw, th)), resizer) in
            jobs.into_iter().zip(&mut self.resizers)
        {
            let image = fr::images::ImageRef::new(sw, sh, from, fr::PixelType::U8)
                .map_err(|e| failed(&e))?;
            let mut out = fr::images::Image::from_slice_u8(tw, th, to, fr::PixelType::U8)
                .map_err(|e| failed(&e))?;
            let crop = (left * factor, top * factor, width * factor, height * factor);
            let options = self.options.crop(crop.0, crop.1, crop.2, crop.3);
            resizer
                .resize(&image, &mut out, &options)
                .map_err(|e| failed(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rgb_converts_to_limited_range_bt709() {
        let white = RgbImage::from_pixel(4, 4, image::Rgb([255, 255, 255]));
        let planes = Planes::from_rgb(&white);
        assert!(planes.y.iter().all(|&y| y == 235));
        assert!(planes.u.iter().chain(&planes.v).all(|&c| c == 128));
        let red = Planes::from_rgb(&RgbImage::from_pixel(2, 2, image::Rgb([255, 0, 0])));
        assert_eq!((red.y[0], red.u[0], red.v[0]), (63, 102, 240));
    }

    #[test]
    fn blends_and_subpixel_crops() {
        let a = Planes::black(8, 8);
        let mut b = Planes::black(8, 8);
        b.y.fill(216);
        let mut out = Planes::black(8, 8);
        out.blend(&a, &b, 0.5);
        assert_eq!(out.y[0], 116);
        // A horizontal ramp, cropped half a pixel further right, is brighter everywhere.
        let mut ramp = Planes::black(64, 16);
        for (i, y) in ramp.y.iter_mut().enumerate() {
            *y = (i % 64) as u8 * 3;
        }
        let mut scaler = Scaler::new();
        let mut first = Planes::black(32, 8);
        let mut second = Planes::black(32, 8);
        scaler
            .scale(&ramp, (10.0, 0.0, 32.0, 8.0), &mut first)
            .unwrap();
        scaler
            .scale(&ramp, (10.5, 0.0, 32.0, 8.0), &mut second)
            .unwrap();
        let mid = 4 * 32 + 16;
        assert!(
            second.y[mid] > first.y[mid],
            "{} {}",
            first.y[mid],
            second.y[mid]
        );
        assert!(second.y[mid] - first.y[mid] <= 2);
    }
}
