//! Ken-Burns stills: the image is decoded once, scaled to the resolution the closest
//! view needs and converted to I420; each frame is then a sub-pixel crop of it,
//! resampled to the frame (so a move of a fifth of a pixel per frame stays smooth).

use std::path::Path;

use super::error::RenderError;
use super::picture;
use super::plan::{Motion, Rect};
use super::planes::{Planes, Scaler};

/// A still image ready to be moved across.
pub struct Still {
    planes: Planes,
    /// The cover-fitted part of `planes`: left, top, width, height in pixels.
    cover: (f64, f64, f64, f64),
    motion: Motion,
    scaler: Scaler,
}

impl Still {
    /// Decodes `path` for frames of `width`×`height`; `what` names it in errors.
    pub fn open(
        path: &Path,
        motion: Motion,
        (width, height): (u32, u32),
        what: &str,
    ) -> Result<Still, RenderError> {
        let decoded = picture::load(path, what)?;
        let rgb = picture::flatten(decoded);
        // The closest view must still have at least one source pixel per frame pixel;
        // anything sharper is wasted work in every frame.
        let (_, _, cover_w, _) = picture::cover_crop(rgb.width(), rgb.height(), width, height);
        let needed = f64::from(width) / motion.closest().clamp(0.05, 1.0);
        let scale = (needed / cover_w).min(1.0);
        let working = if scale < 0.95 {
            let w = ((f64::from(rgb.width()) * scale).round() as u32).max(2);
            let h = ((f64::from(rgb.height()) * scale).round() as u32).max(2);
            let all = (0.0, 0.0, f64::from(rgb.width()), f64::from(rgb.height()));
            picture::resize_rgb(&rgb, all, w, h)?
        } else {
            rgb
        };
        let planes = Planes::from_rgb(&working);
        let cover = picture::cover_crop(planes.width, planes.height, width, height);
        Ok(Still {
            planes,
            cover,
            motion,
            scaler: Scaler::new(),
        })
    }

    /// Draws the view `progress` (0..1) of the way through the move into `target`.
    pub fn render(&mut self, progress: f64, target: &mut Planes) -> Result<(), RenderError> {
        let view = view_at(&self.motion, progress.clamp(0.0, 1.0));
        let (cx, cy, cw, ch) = self.cover;
        let crop = (cx + view.x * cw, cy + view.y * ch, view.w * cw, view.h * ch);
        Ok(self.scaler.scale(&self.planes, crop, target)?)
    }
}

/// The view at `t`: its size changes geometrically (a zoom at a steady pace, not one
/// that speeds up as it closes in) and its centre moves in a straight line.
pub fn view_at(motion: &Motion, t: f64) -> Rect {
    let (from, to) = (motion.from, motion.to);
    let grow = |a: f64, b: f64| a * (b / a).powf(t);
    let w = grow(from.w, to.w);
    let h = grow(from.h, to.h);
    let centre_x = from.x + from.w / 2.0 + (to.x + to.w / 2.0 - from.x - from.w / 2.0) * t;
    let centre_y = from.y + from.h / 2.0 + (to.y + to.h / 2.0 - from.y - from.h / 2.0) * t;
    Rect {
        x: (centre_x - w / 2.0).clamp(0.0, 1.0 - w),
        y: (centre_y - h / 2.0).clamp(0.0, 1.0 - h),
        w,
        h,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn views_move_steadily_from_start_to_end() {
        for index in 0..5 {
            let motion = Motion::for_scene(index);
            let start = view_at(&motion, 0.0);
            let end = view_at(&motion, 1.0);
            for (a, b) in [(start, motion.from), (end, motion.to)] {
                assert!(
                    (a.x - b.x).abs() < 1e-9 && (a.w - b.w).abs() < 1e-9,
                    "{index}"
                );
            }
            // Equal steps in time give steps of nearly equal size (no jumps).
            let steps: Vec<f64> = (0..100)
                .map(|i| {
                    let a = view_at(&motion, f64::from(i) / 100.0);
                    let b = view_at(&motion, f64::from(i + 1) / 100.0);
                    (b.x - a.x).abs() + (b.w - a.w).abs()
                })
                .collect();
            let max = steps.iter().cloned().fold(0.0, f64::max);
            let min = steps.iter().cloned().fold(f64::MAX, f64::min);
            assert!(max < min * 1.5 + 1e-12, "{index}: {min}..{max}");
        }
    }
}
