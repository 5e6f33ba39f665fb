//! The template writer: a complete script from the brief alone, offline and
//! deterministic — the last writer of every chain, and the default one (the small
//! models a registry offers cannot write Vietnamese sales copy).
//!
//! It writes real copy from the brief's fields: the product's name, description,
//! every selling point, the price (a bare number is given the language's currency:
//! `249000` → `249.000đ`, `24.9` → `$24.90`; a written price is kept), the idea (spoken
//! as written in the second scene, so it reads best as a line of the story), the
//! characters. The arc for N scenes: hook → the idea (or the problem) → one scene per
//! selling point → demo → price → call to action; when N is small the points come
//! first, and a one-scene video is a hook with its call to action. Longer videos add
//! proof and everyday-life scenes and come back to the selling points in other words;
//! no sentence is said twice while the phrasings last.
//!
//! Copy is written per style family (`viral`, `koc-review`, `storytelling`; a style
//! the configuration adds writes like `viral` and keeps its name in the prompts) and
//! per language: Vietnamese (`vi`) and English; **every other language gets the
//! English copy**. Voiceovers fit the scene's seconds (≈ 2.5 words/s, Vietnamese 3.5
//! syllables/s): a second sentence is only added when it fits. Image prompt fields
//! are English (what image models follow best); descriptions, voiceovers, the
//! character bible and the social posts are in the brief's language.
//!
//! Phrasings are chosen by a hash of the brief's product name and title with the
//! scene's index, so the same brief always gets the same script.

mod copy;
mod en;
mod scenes;
mod social;
mod text;
mod vi;

use std::collections::HashSet;

use self::copy::{Copy, Family};
use self::text::{Values, clause, fill_checked, first_sentence};
use super::{ANCHORS, CharacterSheet, Script, is_vietnamese, speech_budget, spoken_units};
use crate::brief::Brief;

/// Writes the script of `brief` in `scenes` scenes (at least one).
pub fn write(brief: &Brief, scenes: usize) -> Script {
    let mut writer = Writer::new(brief, scenes.max(1));
    let scenes = writer.scenes();
    let social_media = writer.social();
    Script {
        scenes,
        character_bible: writer.cast.sheets.clone(),
        social_media,
    }
}

/// The people in the video: the bible, who leads, who else appears.
struct Cast {
    sheets: Vec<CharacterSheet>,
    host: String,
    others: Vec<String>,
}

/// One script being written.
struct Writer<'a> {
    brief: &'a Brief,
    copy: &'static Copy,
    family: Family,
    scenes: usize,
    seed: u64,
    values: Values,
    points: Vec<String>,
    budget: usize,
    cast: Cast,
    used_phrasings: HashSet<&'static str>,
    used_sentences: HashSet<String>,
}

impl<'a> Writer<'a> {
    fn new(brief: &'a Brief, scenes: usize) -> Self {
        let vietnamese = is_vietnamese(&brief.language);
        let copy = if vietnamese { &vi::COPY } else { &en::COPY };
        let family = Family::of(&brief.style);
        let product = &brief.product;
        let seconds = f64::from(brief.duration_sec.max(1)) / scenes as f64;
        let cast = cast(brief, copy, family);
        let values = Values {
            product: product.name.trim().to_owned(),
            point: String::new(),
            price: product
                .price
                .as_deref()
                .map(|price| text::price(price, vietnamese))
                .unwrap_or_default(),
            idea: brief
                .idea
                .as_deref()
                .map(first_sentence)
                .unwrap_or_default(),
            desc: product
                .description
                .as_deref()
                .map(first_sentence)
                .unwrap_or_default(),
            host: cast.host.clone(),
            named_with_article: !vietnamese
                && product.name.trim().to_lowercase().starts_with("the "),
        };
        let mut seen = HashSet::new();
        let points = product
            .selling_points
            .iter()
            .map(|point| clause(point))
            .filter(|point| !point.is_empty() && seen.insert(point.to_lowercase()))
            .collect();
        let identity = format!(
            "{}\n{}",
            product.name.trim(),
            brief.title.as_deref().unwrap_or("")
        );
        Writer {
            brief,
            copy,
            family,
            scenes,
            seed: text::stable_hash(&identity),
            values,
            points,
            budget: speech_budget(&brief.language, seconds),
            cast,
            used_phrasings: HashSet::new(),
            used_sentences: HashSet::new(),
        }
    }

    /// The values with `point` in the `{point}` slot.
    fn with_point(&self, point: Option<&str>) -> Values {
        let mut values = self.values.clone();
        values.point = point.unwrap_or_default().to_owned();
        values
    }

    /// A phrasing of `options` for scene `scene`, filled: one not used yet in this
    /// video when there is one (first an unused phrasing, then at least an unused
    /// sentence); `None` when every usable one was said already and `fresh_only`.
    fn pick(
        &mut self,
        options: &[&'static str],
        values: &Values,
        scene: usize,
        fresh_only: bool,
    ) -> Option<String> {
        let usable: Vec<(&'static str, String)> = options
            .iter()
            .filter_map(|phrasing| fill_checked(phrasing, values).map(|text| (*phrasing, text)))
            .collect();
        if usable.is_empty() {
            return None;
        }
        let start = (self
            .seed
            .wrapping_add((scene as u64).wrapping_mul(0x9e37_79b9))
            % usable.len() as u64) as usize;
        let rotated = || usable.iter().cycle().skip(start).take(usable.len());
        let fresh = |(phrasing, text): &&(&'static str, String)| {
            !self.used_phrasings.contains(phrasing) && !self.used_sentences.contains(text)
        };
        let unsaid = |(_, text): &&(&'static str, String)| !self.used_sentences.contains(text);
        let fits = |(_, text): &&(&'static str, String)| spoken_units(text) <= self.budget;
        let chosen = rotated()
            .find(|option| fresh(option) && fits(option))
            .or_else(|| rotated().find(fresh))
            .or_else(|| rotated().find(|option| unsaid(option) && fits(option)))
            .or_else(|| rotated().find(unsaid))
            .or(if fresh_only { None } else { usable.get(start) })?
            .clone();
        self.used_phrasings.insert(chosen.0);
        self.used_sentences.insert(chosen.1.clone());
        Some(chosen.1)
    }

    /// `main`, followed by a tail from `tails` when both fit the scene's seconds and
    /// make at most two sentences.
    fn with_tail(
        &mut self,
        main: String,
        tails: &'static [&'static str],
        values: &Values,
        scene: usize,
    ) -> String {
        let room = self.budget.saturating_sub(spoken_units(&main));
        let sentences = super::schema::sentence_count(&main);
        if sentences >= 2 || room < 2 {
            return main;
        }
        let fitting: Vec<&'static str> = tails
            .iter()
            .copied()
            .filter(|tail| {
                fill_checked(tail, values).is_some_and(|text| spoken_units(&text) <= room)
            })
            .collect();
        match self.pick(&fitting, values, scene, true) {
            Some(tail) => format!("{main} {tail}"),
            None => main,
        }
    }
}

/// The bible: the brief's characters (or one presenter invented for the style), each
/// with five anchors.
fn cast(brief: &Brief, copy: &'static Copy, family: Family) -> Cast {
    let sheets: Vec<CharacterSheet> = if brief.characters.is_empty() {
        let presenter = &copy.presenters[family.index()];
        vec![sheet(
            presenter.name,
            presenter.role,
            presenter.look,
            copy,
            family,
        )]
    } else {
        brief
            .characters
            .iter()
            .map(|character| {
                let role = character
                    .role
                    .as_deref()
                    .map(str::trim)
                    .filter(|role| !role.is_empty())
                    .unwrap_or(copy.default_roles.of(family)[0]);
                let look = character
                    .look
                    .as_deref()
                    .map(str::trim)
                    .filter(|look| !look.is_empty())
                    .unwrap_or(if character.photo.is_some() {
                        copy.photo_look
                    } else {
                        copy.default_look
                    });
                sheet(character.name.trim(), role, look, copy, family)
            })
            .collect()
    };
    let host = sheets
        .first()
        .map(|sheet| sheet.name.clone())
        .unwrap_or_default();
    let others = sheets
        .iter()
        .skip(1)
        .map(|sheet| sheet.name.clone())
        .collect();
    Cast {
        sheets,
        host,
        others,
    }
}

/// One character's sheet: anchors from the look (split on commas and semicolons),
/// then anchors for the role, the style, and anyone, never the same one twice.
fn sheet(
    name: &str,
    role: &str,
    look: &str,
    copy: &'static Copy,
    family: Family,
) -> CharacterSheet {
    let lowered = role.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| lowered.contains(word));
    let for_role: &[&str] = if has(&["review", "koc", "đánh giá"]) {
        copy.anchors_reviewer
    } else if has(&[
        "khách",
        "customer",
        "buyer",
        "người mua",
        "người dùng",
        "user",
    ]) {
        copy.anchors_customer
    } else if has(&["kể", "narrat", "story", "chuyện"]) {
        copy.anchors_narrator
    } else {
        copy.anchors_presenter
    };
    let from_look = look
        .split([',', ';'])
        .map(clause)
        .filter(|anchor| !anchor.is_empty());
    let padding = for_role
        .iter()
        .chain(copy.anchors_style.of(family))
        .chain(copy.anchors_generic)
        .map(|anchor| (*anchor).to_owned());
    let mut anchors: Vec<String> = Vec::with_capacity(ANCHORS);
    for anchor in from_look.chain(padding) {
        if anchors.len() == ANCHORS {
            break;
        }
        if !anchors.iter().any(|kept| super::same_name(kept, &anchor)) {
            anchors.push(anchor);
        }
    }
    CharacterSheet {
        name: name.to_owned(),
        role: role.to_owned(),
        look: look.to_owned(),
        anchors,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
