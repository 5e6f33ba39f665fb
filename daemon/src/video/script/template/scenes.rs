//! The scenes of the template writer: the arc for N scenes, and each scene's
//! voiceover, description and image prompt (who is in the shot, setting, action, a
//! camera that changes from scene to scene, the emotion of the arc).

use super::Writer;
use super::copy::Family;
use super::text::fill_checked;
use crate::video::script::spoken_units;
use crate::video::script::{Scene, ScenePrompt};

/// What a scene does in the arc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// The whole video in one scene: product, best point, call to action.
    Single,
    /// The opening: names the product.
    Hook,
    /// The brief's idea, spoken.
    Idea,
    /// The problem (a brief without an idea).
    Problem,
    /// Selling point `n`.
    Point(usize),
    /// Selling point `n` said again (long videos).
    Again(usize),
    /// A close look (a brief without selling points).
    PointPlain,
    /// The product in use.
    Demo,
    /// Proof it holds up, around selling point `n`.
    Proof(usize),
    /// Everyday life with it.
    Lifestyle,
    /// The price.
    Offer,
    /// The call to action (the last scene).
    Cta,
}

/// The arc of `scenes` scenes for a brief with `points` selling points.
pub(super) fn plan(scenes: usize, points: usize, has_price: bool, has_idea: bool) -> Vec<Slot> {
    if scenes <= 1 {
        return vec![Slot::Single];
    }
    let point = |index: usize| {
        if points == 0 {
            Slot::PointPlain
        } else {
            Slot::Point(index % points)
        }
    };
    // What the middle scenes say, most important first.
    let mut wanted = vec![point(0), if has_idea { Slot::Idea } else { Slot::Problem }];
    if points > 1 {
        wanted.push(Slot::Point(1));
    }
    if has_price {
        wanted.push(Slot::Offer);
    }
    if points > 2 {
        wanted.push(Slot::Point(2));
    }
    wanted.push(Slot::Demo);
    wanted.extend((3..points).map(Slot::Point));
    let middle = scenes - 2;
    let mut extra = 0;
    while wanted.len() < middle {
        wanted.push(match extra % 3 {
            0 => Slot::Proof(extra / 3),
            1 if points > 0 => Slot::Again((extra / 3) % points),
            1 => Slot::PointPlain,
            _ => Slot::Lifestyle,
        });
        extra += 1;
    }
    wanted.truncate(middle);
    // Told in the arc's order; the extras sit between the demo and the price.
    let rank = |slot: &Slot| match slot {
        Slot::Idea | Slot::Problem => 0,
        Slot::Point(_) | Slot::PointPlain => 1,
        Slot::Demo => 2,
        Slot::Proof(_) | Slot::Again(_) | Slot::Lifestyle => 3,
        Slot::Offer => 4,
        _ => 5,
    };
    let mut ordered: Vec<(usize, usize, Slot)> = wanted
        .into_iter()
        .enumerate()
        .map(|(position, slot)| (rank(&slot), position, slot))
        .collect();
    ordered.sort_by_key(|(rank, position, _)| (*rank, *position));
    let mut arc = vec![Slot::Hook];
    arc.extend(ordered.into_iter().map(|(_, _, slot)| slot));
    arc.push(Slot::Cta);
    arc
}

impl Writer<'_> {
    /// Every scene of the video.
    pub(super) fn scenes(&mut self) -> Vec<Scene> {
        let arc = plan(
            self.scenes,
            self.points.len(),
            !self.values.price.is_empty(),
            !self.values.idea.is_empty(),
        );
        let says_price = arc.contains(&Slot::Offer);
        let mut scenes: Vec<Scene> = Vec::with_capacity(arc.len());
        let mut point_shots = 0;
        for (index, slot) in arc.iter().copied().enumerate() {
            let voiceover = self.voiceover(slot, index, says_price);
            let point = match slot {
                Slot::Point(n) | Slot::Again(n) | Slot::Proof(n) => self.points.get(n).cloned(),
                Slot::Single => self.points.first().cloned(),
                _ => None,
            };
            let values = self.with_point(point.as_deref());
            let describe = &self.copy.describe;
            let description = match slot {
                Slot::Single => describe.single,
                Slot::Hook => describe.hook,
                Slot::Idea => describe.idea,
                Slot::Problem => describe.problem,
                Slot::Point(_) | Slot::Again(_) => describe.point,
                Slot::PointPlain => describe.point_plain,
                Slot::Demo => describe.demo,
                Slot::Proof(_) => describe.proof,
                Slot::Lifestyle => describe.lifestyle,
                Slot::Offer => describe.offer,
                Slot::Cta => describe.cta,
            };
            let description = values.fill(description);
            let characters = match slot {
                Slot::Point(_) | Slot::Again(_) | Slot::PointPlain => {
                    point_shots += 1;
                    // Every other selling point is a product shot.
                    if point_shots % 2 == 1 {
                        Vec::new()
                    } else {
                        vec![self.cast.host.clone()]
                    }
                }
                Slot::Idea | Slot::Problem | Slot::Demo | Slot::Proof(_) | Slot::Lifestyle => {
                    let mut names = vec![self.cast.host.clone()];
                    names.extend(self.cast.others.iter().take(2).cloned());
                    names
                }
                Slot::Single | Slot::Hook | Slot::Offer | Slot::Cta => {
                    vec![self.cast.host.clone()]
                }
            };
            let previous_camera = scenes.last().map(|scene| scene.prompt.camera.clone());
            let prompt = ScenePrompt {
                setting: self.setting(slot, !characters.is_empty()),
                action: self.action(slot, &values, !characters.is_empty()),
                camera: self.camera(slot, index, previous_camera.as_deref()),
                emotion: emotion(slot, self.family).to_owned(),
                characters,
            };
            scenes.push(Scene {
                description,
                voiceover,
                prompt,
            });
        }
        scenes
    }

    /// What is said in scene `index`.
    fn voiceover(&mut self, slot: Slot, index: usize, says_price: bool) -> String {
        let copy = self.copy;
        let family = self.family;
        let point = |n: usize| self.points.get(n).map(String::as_str);
        let values = match slot {
            Slot::Point(n) | Slot::Again(n) | Slot::Proof(n) => self.with_point(point(n)),
            Slot::Single | Slot::Hook => self.with_point(point(0)),
            _ => self.with_point(None),
        };
        let main = |writer: &mut Self, options: &[&'static str]| {
            writer
                .pick(options, &values, index, false)
                .or_else(|| {
                    // Every phrasing of this part was said: borrow from the parts any
                    // scene can say.
                    let fallback = [copy.proof.of(family), copy.lifestyle.of(family)].concat();
                    writer.pick(&fallback, &values, index, false)
                })
                .unwrap_or_else(|| values.product.clone())
        };
        match slot {
            Slot::Single => {
                let close = if values.price.is_empty() {
                    copy.short_cta.of(family)
                } else {
                    copy.short_cta_price.of(family)
                };
                let close = main(self, close);
                // The best point only when it leaves time for the call to action.
                let room = (self.budget + self.budget / 4).saturating_sub(spoken_units(&close));
                let fitting: Vec<&'static str> = copy
                    .single
                    .of(family)
                    .iter()
                    .copied()
                    .filter(|lead| {
                        fill_checked(lead, &values).is_some_and(|text| spoken_units(&text) <= room)
                    })
                    .collect();
                let lead = match self.pick(&fitting, &values, index, true) {
                    Some(lead) => lead,
                    None => main(self, copy.single_plain.of(family)),
                };
                format!("{lead} {close}")
            }
            Slot::Hook => {
                let hook = main(self, copy.hook.of(family));
                if self.scenes == 2 {
                    self.with_tail(hook, copy.hook_point.of(family), &values, index)
                } else {
                    hook
                }
            }
            Slot::Idea => {
                let idea = format!("{}.", super::text::capitalize(&values.idea));
                self.used_sentences.insert(idea.clone());
                self.with_tail(idea, copy.idea_tail.of(family), &values, index)
            }
            Slot::Problem => main(self, copy.problem.of(family)),
            Slot::Point(n) => {
                // "Another plus" only after a first one.
                let options = if n == 0 {
                    copy.point.of(family).to_vec()
                } else {
                    [copy.point.of(family), copy.point_more.of(family)].concat()
                };
                let said = main(self, &options);
                self.with_tail(said, copy.point_tail.of(family), &values, index)
            }
            Slot::Again(_) => main(self, copy.point_again.of(family)),
            Slot::PointPlain => main(self, copy.point_plain.of(family)),
            Slot::Demo => {
                let said = main(self, copy.demo.of(family));
                self.with_tail(said, copy.demo_tail.of(family), &values, index)
            }
            Slot::Proof(_) => main(self, copy.proof.of(family)),
            Slot::Lifestyle => main(self, copy.lifestyle.of(family)),
            Slot::Offer => main(self, copy.offer.of(family)),
            Slot::Cta => {
                let options = if says_price || values.price.is_empty() {
                    copy.cta.of(family)
                } else {
                    copy.cta_price.of(family)
                };
                main(self, options)
            }
        }
    }

    /// Where the shot happens (English, for the image model).
    fn setting(&self, slot: Slot, with_people: bool) -> String {
        let idea = &self.values.idea;
        let base = match self.family {
            Family::Viral => "bright studio with a bold colour-block backdrop, crisp light",
            Family::Review => "cozy home desk by a window, soft daylight, a few tidy props",
            Family::Story => "lived-in everyday place, warm natural light",
        };
        let setting = match slot {
            Slot::Idea | Slot::Demo if !idea.is_empty() => {
                format!("the moment of the story ({idea}), real everyday surroundings")
            }
            Slot::Problem | Slot::Idea => {
                "an ordinary day before the product, a little cluttered, flat light".to_owned()
            }
            Slot::Demo => "real life where the product is used, natural light".to_owned(),
            Slot::Point(_) | Slot::Again(_) | Slot::PointPlain if !with_people => {
                "clean tabletop close to the camera, soft daylight, uncluttered background"
                    .to_owned()
            }
            Slot::Lifestyle | Slot::Proof(_) => {
                "everyday life: home, work, on the go, natural light".to_owned()
            }
            Slot::Offer => {
                "the product on a simple podium, soft spotlight, clean background".to_owned()
            }
            _ => base.to_owned(),
        };
        if crate::brief::BUILT_IN_STYLES.contains(&self.brief.style.as_str()) {
            setting
        } else {
            format!("{setting}, in the {} style", self.brief.style)
        }
    }

    /// The key action of the shot (English).
    fn action(&self, slot: Slot, values: &super::text::Values, with_people: bool) -> String {
        let template = match slot {
            Slot::Single => "{host} holds the {product} up to the camera, smiles and points at it",
            Slot::Hook => match self.family {
                Family::Viral => "{host} bursts into frame holding the {product} up to the camera",
                Family::Review => "{host} unboxes the {product} and holds it up to the camera",
                Family::Story => {
                    "{host} pauses, holding the {product}, and looks at it thoughtfully"
                }
            },
            Slot::Idea => "{host} lives this moment: {idea}",
            Slot::Problem => "{host} struggles with the everyday hassle the {product} solves",
            Slot::Point(_) | Slot::Again(_) if with_people => {
                "{host} demonstrates it on camera: {point}"
            }
            Slot::Point(_) | Slot::Again(_) => "the {product} up close, showing: {point}",
            Slot::PointPlain if with_people => "{host} turns the {product} to show its details",
            Slot::PointPlain => "the {product} turns slowly, every detail in focus",
            Slot::Demo => "{host} uses the {product} for real, from start to finish",
            Slot::Proof(_) => "{host} shows how the {product} holds up after days of use",
            Slot::Lifestyle => "{host} goes through the day with the {product} close at hand",
            Slot::Offer => "{host} presents the {product} with a delighted look",
            Slot::Cta => "{host} smiles at the camera and points down to the shop link",
        };
        fill_checked(template, values).unwrap_or_else(|| values.fill(template))
    }

    /// The camera of scene `index`, never the same as the scene before.
    fn camera(&self, slot: Slot, index: usize, previous: Option<&str>) -> String {
        let options: &[&str] = match slot {
            Slot::Single | Slot::Hook => &[
                "handheld close-up, quick push-in",
                "low-angle hero shot, slow push-in",
                "medium close-up, whip pan into frame",
            ],
            Slot::Idea | Slot::Problem => &[
                "handheld medium shot, slight natural shake",
                "over-the-shoulder shot",
                "static wide shot, eye level",
            ],
            Slot::Point(_) | Slot::Again(_) | Slot::PointPlain => &[
                "extreme close-up, macro detail",
                "top-down flat lay, slow rotation",
                "slow orbit around the product",
                "rack focus from the hand to the product",
            ],
            Slot::Demo => &[
                "tracking shot following the action",
                "POV shot",
                "medium shot, smooth gimbal move",
            ],
            Slot::Proof(_) | Slot::Lifestyle => &[
                "wide establishing shot, slow pan",
                "tracking shot, walking alongside",
                "medium shot through a doorway",
            ],
            Slot::Offer => &[
                "slow push-in on the product",
                "low-angle hero shot of the product",
            ],
            Slot::Cta => &[
                "medium close-up at eye level, slow pull-back",
                "handheld selfie-style shot",
            ],
        };
        let start = (self.seed.wrapping_add(index as u64) % options.len() as u64) as usize;
        let chosen = options
            .iter()
            .cycle()
            .skip(start)
            .take(options.len())
            .find(|camera| Some(**camera) != previous)
            .unwrap_or(&options[start]);
        (*chosen).to_owned()
    }
}

/// The emotion of a part of the arc, in the style's key.
fn emotion(slot: Slot, family: Family) -> &'static str {
    let [viral, review, story] = match slot {
        Slot::Single | Slot::Hook => [
            "surprised, high energy",
            "curious, friendly",
            "wistful, curious",
        ],
        Slot::Idea => [
            "intrigued, playful",
            "relatable, candid",
            "reflective, warm",
        ],
        Slot::Problem => [
            "frustrated, dramatic",
            "honest, relatable",
            "tired, quietly frustrated",
        ],
        Slot::Point(_) | Slot::Again(_) | Slot::PointPlain => [
            "impressed, excited",
            "convinced, pleased",
            "pleasantly surprised",
        ],
        Slot::Demo => ["confident, thrilled", "focused, honest", "relieved"],
        Slot::Proof(_) | Slot::Lifestyle => ["joyful", "satisfied", "content, warm"],
        Slot::Offer => ["excited", "delighted", "hopeful"],
        Slot::Cta => ["energetic, inviting", "warm, trustworthy", "warm, inspired"],
    };
    match family {
        Family::Viral => viral,
        Family::Review => review,
        Family::Story => story,
    }
}
