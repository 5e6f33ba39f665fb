//! Scene cards: a diagonal gradient in the two brand colours, the product image fitted
//! into the upper part with a margin and a soft shadow, and the headline (and body)
//! under it; without a product image, the text alone, larger and higher.

use chute_pixels::image::{Rgba, RgbaImage};

use super::error::RenderError;
use super::picture;
use super::plan::{CardPlan, parse_colour};
use super::textimage::{self, TextBlock};

/// Draws `plan`'s card into its PNG.
pub fn render(plan: &CardPlan) -> Result<(), RenderError> {
    plan.validate()?;
    let (width, height) = (plan.width, plan.height);
    let [start, end] = [
        parse_colour(&plan.colours[0])?,
        parse_colour(&plan.colours[1])?,
    ];
    let mut card = gradient(width, height, start, end);
    let text_width = (f64::from(width) * 0.86) as u32;
    let unit = width.min(height);

    let text_top = match &plan.product_image {
        Some(path) => {
            let product = picture::load(path, "the product image")?.into_rgba8();
            let margin = unit / 12;
            let box_w = width - 2 * margin;
            let box_h = (f64::from(height) * 0.52) as u32 - margin;
            let (w, h) = picture::contain_size(product.width(), product.height(), box_w, box_h);
            let fitted = picture::resize_rgba(&product, w, h)?;
            let x = (width - w) / 2;
            let y = margin + (box_h - h) / 2;
            shadow(&mut card, x, y, w, h, unit / 40);
            paste(&mut card, &fitted, x, y);
            margin + box_h + unit / 14
        }
        None => (f64::from(height) * 0.3) as u32,
    };

    let mut blocks = Vec::new();
    let (headline, headline_px, headline_lines) = textimage::fit_text(
        plan.headline.trim(),
        text_width,
        unit * 9 / 100,
        unit * 5 / 100,
        3,
    );
    let mut bottom = text_top;
    if !headline.is_empty() {
        blocks.push(TextBlock {
            text: headline,
            font: plan.font.clone(),
            size_px: headline_px,
            top: text_top,
        });
        bottom += textimage::block_height(headline_lines, headline_px);
    }
    if let Some(body) = plan
        .body
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        let (body, body_px, body_lines) =
            textimage::fit_text(body, text_width, unit * 55 / 1000, unit * 4 / 100, 4);
        let top = bottom + unit / 30;
        blocks.push(TextBlock {
            text: body,
            font: plan.font.clone(),
            size_px: body_px,
            top,
        });
        bottom = top + textimage::block_height(body_lines, body_px);
    }
    textimage::darken_band(&mut card, text_top, bottom.min(height), 0.35, unit / 20);
    textimage::save_png(&card, &blocks, &plan.output)
}

/// A diagonal gradient from `start` (top left) to `end` (bottom right), with a little
/// ordered dither so that it does not band.
fn gradient(width: u32, height: u32, start: [u8; 3], end: [u8; 3]) -> RgbaImage {
    let span = f64::from(width + height).max(1.0);
    RgbaImage::from_fn(width, height, |x, y| {
        let t = f64::from(x + y) / span;
        let dither = (f64::from((x * 7 + y * 13) % 16) / 16.0) - 0.5;
        let channel = |i: usize| {
            let value = f64::from(start[i]) + (f64::from(end[i]) - f64::from(start[i])) * t;
            (value + dither).round().clamp(0.0, 255.0) as u8
        };
        Rgba([channel(0), channel(1), channel(2), 255])
    })
}

/// A soft dark shadow under a `w`×`h` box at (`x`, `y`), offset down by `blur`.
fn shadow(card: &mut RgbaImage, x: u32, y: u32, w: u32, h: u32, blur: u32) {
    let blur = blur.max(1);
    let (cx, cy) = (
        f64::from(x) + f64::from(w) / 2.0,
        f64::from(y + blur) + f64::from(h) / 2.0,
    );
    let (hw, hh) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let from_y = y.saturating_sub(blur);
    let to_y = (y + h + 3 * blur).min(card.height());
    let from_x = x.saturating_sub(2 * blur);
    let to_x = (x + w + 2 * blur).min(card.width());
    for py in from_y..to_y {
        for px in from_x..to_x {
            let dx = ((f64::from(px) - cx).abs() - hw).max(0.0);
            let dy = ((f64::from(py) - cy).abs() - hh).max(0.0);
            let distance = (dx * dx + dy * dy).sqrt();
            let strength = 0.45 * (1.0 - distance / (2.0 * f64::from(blur))).clamp(0.0, 1.0);
            let pixel = card.get_pixel_mut(px, py);
            for channel in &mut pixel.0[..3] {
                *channel = (f64::from(*channel) * (1.0 - strength)).round() as u8;
            }
        }
    }
}

/// Lays `top` over `card` at (`x`, `y`), respecting its transparency.
fn paste(card: &mut RgbaImage, top: &RgbaImage, x: u32, y: u32) {
    for (px, py, pixel) in top.enumerate_pixels() {
        let (tx, ty) = (x + px, y + py);
        if tx >= card.width() || ty >= card.height() {
            continue;
        }
        let alpha = u16::from(pixel.0[3]);
        let under = card.get_pixel_mut(tx, ty);
        for channel in 0..3 {
            let blended = (u16::from(pixel.0[channel]) * alpha
                + u16::from(under.0[channel]) * (255 - alpha)
                + 127)
                / 255;
            under.0[channel] = blended as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_gradient_runs_between_the_brand_colours() {
        let image = gradient(100, 200, [255, 0, 0], [0, 0, 255]);
        let first = image.get_pixel(0, 0).0;
        let last = image.get_pixel(99, 199).0;
        assert!(first[0] >= 254 && first[2] <= 1, "{first:?}");
        assert!(last[2] >= 253 && last[0] <= 2, "{last:?}");
    }

    #[test]
    fn pasting_respects_transparency() {
        let mut card = RgbaImage::from_pixel(4, 4, Rgba([0, 0, 0, 255]));
        let mut top = RgbaImage::from_pixel(2, 2, Rgba([255, 255, 255, 255]));
        top.put_pixel(1, 1, Rgba([255, 255, 255, 0]));
        paste(&mut card, &top, 1, 1);
        assert_eq!(card.get_pixel(1, 1).0, [255, 255, 255, 255]);
        assert_eq!(card.get_pixel(2, 2).0, [0, 0, 0, 255]);
        assert_eq!(card.get_pixel(0, 0).0, [0, 0, 0, 255]);
    }
}
