//! Thumbnails: the candidate with the most detail and contrast (measured, reported),
//! cover-fitted to the frame, its lower part darkened, with big outlined text over it.

use std::path::PathBuf;

use chute_pixels::image::RgbImage;
use serde::{Deserialize, Serialize};

use super::error::RenderError;
use super::picture;
use super::plan::ThumbnailPlan;
use super::textimage::{self, TextBlock};

/// How the thumbnail's image was chosen.
pub const RULE: &str = "highest score = detail + contrast / 4, where detail is the mean absolute Laplacian and contrast the standard deviation of the luma, both measured at 256 pixels wide; candidates that do not decode are skipped";

/// Width at which candidates are measured.
const MEASURE_WIDTH: u32 = 256;

/// What was chosen, and how each candidate scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThumbnailReport {
    /// Index of the chosen candidate.
    pub chosen: usize,
    /// Its file.
    pub path: PathBuf,
    /// The rule it won by.
    pub rule: String,
    /// Every candidate, in order.
    pub candidates: Vec<CandidateScore>,
}

/// One candidate's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// The file.
    pub path: PathBuf,
    /// Mean absolute Laplacian of the luma (edges, texture).
    pub detail: Option<f64>,
    /// Standard deviation of the luma.
    pub contrast: Option<f64>,
    /// `detail + contrast / 4`.
    pub score: Option<f64>,
    /// Why it could not be used.
    pub problem: Option<String>,
}

/// Chooses the best candidate and draws the thumbnail.
pub fn render(plan: &ThumbnailPlan) -> Result<ThumbnailReport, RenderError> {
    plan.validate()?;
    let mut scores = Vec::new();
    let mut best: Option<(usize, f64, RgbImage)> = None;
    for (index, path) in plan.candidates.iter().enumerate() {
        let what = format!("thumbnail candidate {}", index + 1);
        match picture::load(path, &what).and_then(|image| measure(image.into_rgb8())) {
            Ok((image, detail, contrast)) => {
                let score = detail + contrast / 4.0;
                scores.push(CandidateScore {
                    path: path.clone(),
                    detail: Some(detail),
                    contrast: Some(contrast),
                    score: Some(score),
                    problem: None,
                });
                if best.as_ref().is_none_or(|(_, top, _)| score > *top) {
                    best = Some((index, score, image));
                }
            }
            Err(error) => scores.push(CandidateScore {
                path: path.clone(),
                detail: None,
                contrast: None,
                score: None,
                problem: Some(error.to_string()),
            }),
        }
    }
    let Some((chosen, _, image)) = best else {
        let first = plan.candidates.first().cloned().unwrap_or_default();
        let reasons: Vec<String> = scores.iter().filter_map(|s| s.problem.clone()).collect();
        return Err(RenderError::bad_input(
            "every thumbnail candidate",
            first,
            reasons.join("; "),
        ));
    };
    let (width, height) = (plan.width, plan.height);
    let crop = picture::cover_crop(image.width(), image.height(), width, height);
    let fitted = picture::resize_rgb(&image, crop, width, height)?;
    let mut canvas = chute_pixels::image::DynamicImage::ImageRgb8(fitted).into_rgba8();
    let unit = width.min(height);
    let (text, size, lines) = textimage::fit_text(
        plan.text.trim(),
        (f64::from(width) * 0.88) as u32,
        unit * 11 / 100,
        unit * 6 / 100,
        3,
    );
    let block = textimage::block_height(lines, size);
    let top = (f64::from(height) * 0.68) as u32;
    let top = top.min(height.saturating_sub(block + unit / 20));
    textimage::darken_band(&mut canvas, top, height, 0.55, height / 5);
    let blocks = [TextBlock {
        text,
        font: plan.font.clone(),
        size_px: size,
        top,
    }];
    textimage::save_png(&canvas, &blocks, &plan.output)?;
    Ok(ThumbnailReport {
        chosen,
        path: plan.candidates[chosen].clone(),
        rule: RULE.to_owned(),
        candidates: scores,
    })
}

/// Detail and contrast of an image, measured on a copy 256 pixels wide.
fn measure(image: RgbImage) -> Result<(RgbImage, f64, f64), RenderError> {
    let height = ((f64::from(image.height()) * f64::from(MEASURE_WIDTH) / f64::from(image.width()))
        .round() as u32)
        .max(3);
    let all = (
        0.0,
        0.0,
        f64::from(image.width()),
        f64::from(image.height()),
    );
    let small = picture::resize_rgb(&image, all, MEASURE_WIDTH, height)?;
    let (detail, contrast) = detail_and_contrast(&small);
    Ok((image, detail, contrast))
}

/// Mean absolute Laplacian and standard deviation of the luma.
fn detail_and_contrast(image: &RgbImage) -> (f64, f64) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let luma: Vec<f64> = image
        .pixels()
        .map(|p| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]))
        .collect();
    let mean = luma.iter().sum::<f64>() / luma.len().max(1) as f64;
    let variance = luma.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / luma.len().max(1) as f64;
    let mut laplacian = 0.0;
    let mut count = 0usize;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let at = y * w + x;
            let value = 4.0 * luma[at] - luma[at - 1] - luma[at + 1] - luma[at - w] - luma[at + w];
            laplacian += value.abs();
            count += 1;
        }
    }
    (laplacian / count.max(1) as f64, variance.sqrt())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn detail_prefers_texture_over_flat_images() {
        let flat = RgbImage::from_pixel(64, 64, chute_pixels::image::Rgb([120, 130, 140]));
        let checks = RgbImage::from_fn(64, 64, |x, y| {
            if (x / 4 + y / 4) % 2 == 0 {
                chute_pixels::image::Rgb([250, 250, 250])
            } else {
                chute_pixels::image::Rgb([10, 10, 10])
            }
        });
        let (flat_detail, flat_contrast) = detail_and_contrast(&flat);
        let (check_detail, check_contrast) = detail_and_contrast(&checks);
        assert!(flat_detail < 1e-9 && flat_contrast < 1e-9);
        assert!(check_detail > 50.0 && check_contrast > 100.0);
    }
}
