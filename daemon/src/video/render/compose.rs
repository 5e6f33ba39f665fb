//! Composing frames: which scenes are on screen (the timeline), preparing each scene's
//! visual shortly before it appears (a still is decoded on another thread while the
//! frames before it are drawn, so the encoder never waits for it), closing it when it
//! has gone, and crossfading two scenes at a cut.

use std::thread::JoinHandle;

use super::clip::Clip;
use super::error::RenderError;
use super::kenburns::Still;
use super::plan::{PlanScene, VideoPlan, Visual};
use super::planes::Planes;
use super::timeline::{Shot, Timeline};

/// A still is prepared this long before it first shows (seconds).
const PRELOAD_SECONDS: f64 = 1.0;

/// A scene's visual over the render.
enum Slot {
    /// Not needed yet.
    Waiting,
    /// A still being decoded on another thread.
    Loading(JoinHandle<Result<Still, RenderError>>),
    /// Ready to draw.
    Still(Box<Still>),
    /// A clip being decoded as it is shown.
    Clip(Box<Clip>),
    /// Gone from the screen for good.
    Closed,
}

impl Slot {
    fn is_open(&self) -> bool {
        !matches!(self, Slot::Waiting | Slot::Closed)
    }
}

/// Makes the frames of a plan, one after another.
pub struct Composer<'a> {
    plan: &'a VideoPlan,
    timeline: Timeline,
    slots: Vec<Slot>,
    first: Planes,
    second: Planes,
    blended: Planes,
}

/// What a scene's visual is called in messages: `scene 2's clip`.
pub fn scene_what(index: usize, scene: &PlanScene) -> String {
    let kind = match scene.visual {
        Visual::Still { .. } => "image",
        Visual::Clip { .. } => "clip",
    };
    format!("scene {}'s {kind}", index + 1)
}

impl<'a> Composer<'a> {
    /// A composer for `plan`.
    pub fn new(plan: &'a VideoPlan) -> Composer<'a> {
        let lengths: Vec<f64> = plan.scenes.iter().map(|scene| scene.seconds).collect();
        let timeline = Timeline::new(&lengths, plan.crossfade_seconds, plan.fps);
        let blank = || Planes::black(plan.width, plan.height);
        Composer {
            plan,
            timeline,
            slots: plan.scenes.iter().map(|_| Slot::Waiting).collect(),
            first: blank(),
            second: blank(),
            blended: blank(),
        }
    }

    /// The timeline the frames follow.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Frame `index`; `working` hears which visuals are being decoded whenever that
    /// changes, so that a crash can be blamed on the right file.
    pub fn frame(
        &mut self,
        index: u64,
        working: &mut dyn FnMut(String),
    ) -> Result<&Planes, RenderError> {
        let seconds = self.timeline.time(index);
        let closed = self.close_finished(seconds);
        let preloading = self.preload(seconds);
        if closed || preloading {
            working(self.describe(None));
        }
        match self.timeline.shot(seconds) {
            Shot::Single(scene) => {
                let mut target = std::mem::replace(&mut self.first, Planes::black(2, 2));
                let result = self.draw(scene, seconds, &mut target, working);
                self.first = target;
                result?;
                Ok(&self.first)
            }
            Shot::Fade { from, amount } => {
                let mut first = std::mem::replace(&mut self.first, Planes::black(2, 2));
                let mut second = std::mem::replace(&mut self.second, Planes::black(2, 2));
                let result = self
                    .draw(from, seconds, &mut first, working)
                    .and_then(|()| self.draw(from + 1, seconds, &mut second, working));
                if result.is_ok() {
                    self.blended.blend(&first, &second, amount);
                }
                self.first = first;
                self.second = second;
                result?;
                Ok(&self.blended)
            }
        }
    }

    fn draw(
        &mut self,
        scene: usize,
        seconds: f64,
        target: &mut Planes,
        working: &mut dyn FnMut(String),
    ) -> Result<(), RenderError> {
        let plan_scene = &self.plan.scenes[scene];
        let what = scene_what(scene, plan_scene);
        let size = (self.plan.width, self.plan.height);
        let slot = std::mem::replace(&mut self.slots[scene], Slot::Closed);
        self.slots[scene] = match slot {
            Slot::Waiting => {
                working(self.describe(Some(scene)));
                match &plan_scene.visual {
                    Visual::Still { image, motion } => {
                        Slot::Still(Box::new(Still::open(image, *motion, size, &what)?))
                    }
                    Visual::Clip { video } => Slot::Clip(Box::new(Clip::open(video, size, &what)?)),
                }
            }
            Slot::Loading(handle) => match handle.join() {
                Ok(still) => Slot::Still(Box::new(still?)),
                Err(_) => {
                    let path = match &plan_scene.visual {
                        Visual::Still { image, .. } => image.clone(),
                        Visual::Clip { video } => video.clone(),
                    };
                    return Err(RenderError::bad_input(what, path, "its decoder panicked"));
                }
            },
            Slot::Closed => {
                return Err(RenderError::Pipeline(format!(
                    "{what} was needed again after it ended"
                )));
            }
            ready => ready,
        };
        match &mut self.slots[scene] {
            Slot::Still(still) => {
                let (from, to) = self.timeline.visible(scene);
                still.render((seconds - from) / (to - from).max(1e-9), target)
            }
            Slot::Clip(clip) => {
                // The clip starts with its slot; during the crossfade before it, its
                // first frame shows.
                clip.render(seconds - self.timeline.start(scene), target)
            }
            _ => Ok(()),
        }
    }

    /// Starts decoding the stills that appear within [`PRELOAD_SECONDS`]. Says whether
    /// any started.
    fn preload(&mut self, seconds: f64) -> bool {
        let mut any = false;
        for scene in 0..self.slots.len() {
            let due = self.timeline.visible(scene).0 - PRELOAD_SECONDS;
            let Visual::Still { image, motion } = &self.plan.scenes[scene].visual else {
                continue;
            };
            if !matches!(self.slots[scene], Slot::Waiting) || due > seconds || scene == 0 {
                continue;
            }
            let (image, motion) = (image.clone(), *motion);
            let size = (self.plan.width, self.plan.height);
            let what = scene_what(scene, &self.plan.scenes[scene]);
            let spawned = std::thread::Builder::new()
                .name(format!("still-{}", scene + 1))
                .spawn(move || Still::open(&image, motion, size, &what));
            // Without a thread the still is simply decoded when it is first drawn.
            if let Ok(handle) = spawned {
                self.slots[scene] = Slot::Loading(handle);
                any = true;
            }
        }
        any
    }

    /// Closes the visuals of scenes that are no longer on screen (a clip stops
    /// decoding: the rest of a long clip is never read). Says whether any closed.
    fn close_finished(&mut self, seconds: f64) -> bool {
        let mut any = false;
        for scene in 0..self.slots.len() {
            if self.slots[scene].is_open() && self.timeline.visible(scene).1 <= seconds {
                self.slots[scene] = Slot::Closed;
                any = true;
            }
        }
        any
    }

    /// The visuals being decoded, and `opening`: `decoding scene 2's clip (c.mp4)`.
    fn describe(&self, opening: Option<usize>) -> String {
        let scenes: Vec<String> = (0..self.slots.len())
            .filter(|&scene| self.slots[scene].is_open() || opening == Some(scene))
            .map(|scene| {
                let plan_scene = &self.plan.scenes[scene];
                let file = match &plan_scene.visual {
                    Visual::Still { image, .. } => image,
                    Visual::Clip { video } => video,
                };
                format!("{} ({})", scene_what(scene, plan_scene), file.display())
            })
            .collect();
        format!("decoding {}", scenes.join(" and "))
    }
}
