//! Where each scene sits in time: slots back to back (the video lasts their sum), and
//! crossfades centred on each cut, overlapping the two scenes without adding time.

/// What one frame shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shot {
    /// One scene.
    Single(usize),
    /// Scene `from` fading into scene `from + 1`; `amount` goes from 0 to 1.
    Fade {
        /// The earlier scene.
        from: usize,
        /// How far the fade has gone.
        amount: f64,
    },
}

/// The scenes' slots and crossfades.
#[derive(Debug, Clone)]
pub struct Timeline {
    starts: Vec<f64>,
    lengths: Vec<f64>,
    /// Crossfade length at each cut (between scene i and i + 1).
    fades: Vec<f64>,
    fps: u32,
}

impl Timeline {
    /// Slots of `lengths` seconds, crossfades of `crossfade` seconds (shortened where a
    /// slot is too short to hold them), at `fps` frames per second.
    pub fn new(lengths: &[f64], crossfade: f64, fps: u32) -> Timeline {
        let mut starts = Vec::with_capacity(lengths.len());
        let mut at = 0.0;
        for length in lengths {
            starts.push(at);
            at += length;
        }
        let fades = lengths
            .windows(2)
            .map(|pair| crossfade.max(0.0).min(pair[0].min(pair[1]) / 2.0))
            .collect();
        Timeline {
            starts,
            lengths: lengths.to_vec(),
            fades,
            fps: fps.max(1),
        }
    }

    /// The video's length in seconds.
    pub fn total(&self) -> f64 {
        self.lengths.iter().sum()
    }

    /// The number of frames.
    pub fn frames(&self) -> u64 {
        (self.total() * f64::from(self.fps)).round() as u64
    }

    /// The time of frame `index`, in seconds.
    pub fn time(&self, index: u64) -> f64 {
        index as f64 / f64::from(self.fps)
    }

    /// Each slot's start and length.
    pub fn slots(&self) -> Vec<(f64, f64)> {
        self.starts
            .iter()
            .copied()
            .zip(self.lengths.iter().copied())
            .collect()
    }

    /// When slot `index` starts.
    pub fn start(&self, index: usize) -> f64 {
        self.starts.get(index).copied().unwrap_or(0.0)
    }

    /// When scene `index` is on screen, crossfades included.
    pub fn visible(&self, index: usize) -> (f64, f64) {
        let start = self.starts.get(index).copied().unwrap_or(0.0);
        let end = start + self.lengths.get(index).copied().unwrap_or(0.0);
        let before = index
            .checked_sub(1)
            .and_then(|cut| self.fades.get(cut))
            .copied()
            .unwrap_or(0.0);
        let after = self.fades.get(index).copied().unwrap_or(0.0);
        (start - before / 2.0, end + after / 2.0)
    }

    /// What the frame at `seconds` shows.
    pub fn shot(&self, seconds: f64) -> Shot {
        let count = self.starts.len();
        let index = self
            .starts
            .iter()
            .rposition(|&start| start <= seconds)
            .unwrap_or(0)
            .min(count.saturating_sub(1));
        let end = self.starts[index] + self.lengths[index];
        if let Some(&fade) = self.fades.get(index)
            && fade > 0.0
            && seconds >= end - fade / 2.0
        {
            return Shot::Fade {
                from: index,
                amount: (seconds - (end - fade / 2.0)) / fade,
            };
        }
        if index > 0 {
            let fade = self.fades[index - 1];
            let start = self.starts[index];
            if fade > 0.0 && seconds < start + fade / 2.0 {
                return Shot::Fade {
                    from: index - 1,
                    amount: (seconds - (start - fade / 2.0)) / fade,
                };
            }
        }
        Shot::Single(index)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn crossfades_overlap_cuts_without_adding_time() {
        let timeline = Timeline::new(&[2.0, 3.0, 0.6], 0.4, 30);
        assert!((timeline.total() - 5.6).abs() < 1e-9);
        assert_eq!(timeline.frames(), 168);
        assert_eq!(timeline.shot(1.0), Shot::Single(0));
        assert_eq!(timeline.shot(1.75), Shot::Single(0));
        let Shot::Fade { from, amount } = timeline.shot(2.0) else {
            panic!("a fade at the cut");
        };
        assert_eq!(from, 0);
        assert!((amount - 0.5).abs() < 1e-9);
        assert!(matches!(timeline.shot(1.85), Shot::Fade { from: 0, .. }));
        assert!(matches!(timeline.shot(2.1), Shot::Fade { from: 0, .. }));
        assert_eq!(timeline.shot(2.25), Shot::Single(1));
        assert_eq!(timeline.visible(0), (0.0, 2.2));
        let (start, end) = timeline.visible(1);
        assert!((start - 1.8).abs() < 1e-9 && (end - 5.15).abs() < 1e-9);
        // The last slot is 0.6 s: its fade is shortened to 0.3 s.
        assert_eq!(timeline.shot(4.84), Shot::Single(1));
        assert!(matches!(timeline.shot(4.86), Shot::Fade { from: 1, .. }));
        assert_eq!(timeline.shot(5.5), Shot::Single(2));
    }

    #[test]
    fn hard_cuts_without_crossfade() {
        let timeline = Timeline::new(&[1.0, 1.0], 0.0, 25);
        assert_eq!(timeline.shot(0.99), Shot::Single(0));
        assert_eq!(timeline.shot(1.0), Shot::Single(1));
        assert_eq!(timeline.visible(1), (1.0, 2.0));
    }
}
