//! The script's JSON Schema (for `TextRequest.json_schema` and, through
//! [`crate::summary::grammar`], the llama.cpp grammar) and the checks a script must
//! pass. Check messages name the field and say what is expected, so they can be fed
//! back to the model that wrote the script ("scenes has 4 entries, the brief needs 6").
//!
//! The schema stays inside what the grammar generator supports: objects whose keys are
//! all required, strings with `maxLength` (and `minLength` 1), arrays with
//! `minItems`/`maxItems`, string enums.

use serde_json::{Value, json};

use super::{ANCHORS, Script, same_name, speech_budget, spoken_units};
use crate::brief::Brief;

/// Longest scene description, in characters.
pub const DESCRIPTION_MAX: usize = 300;
/// Longest voiceover, in characters (it is also the scene's caption).
pub const VOICEOVER_MAX: usize = 240;
/// Longest setting or action of a scene prompt.
pub const SHOT_MAX: usize = 240;
/// Longest camera direction.
pub const CAMERA_MAX: usize = 120;
/// Longest emotion.
pub const EMOTION_MAX: usize = 80;
/// Longest character name.
pub const NAME_MAX: usize = 40;
/// Longest role.
pub const ROLE_MAX: usize = 80;
/// Longest look.
pub const LOOK_MAX: usize = 240;
/// Longest anchor.
pub const ANCHOR_MAX: usize = 80;
/// Longest caption.
pub const CAPTION_MAX: usize = 400;
/// Longest hashtag.
pub const HASHTAG_MAX: usize = 40;
/// Fewest and most hashtags.
pub const HASHTAGS: std::ops::RangeInclusive<usize> = 3..=10;
/// Longest thumbnail prompt.
pub const THUMBNAIL_PROMPT_MAX: usize = 600;
/// Most words of the thumbnail text.
pub const THUMBNAIL_WORDS: usize = 6;
/// Most sentences in a voiceover.
pub const VOICEOVER_SENTENCES: usize = 2;
/// Most characters a model may invent when the brief names none.
pub const INVENTED_CHARACTERS: usize = 3;

/// The JSON Schema of a script with `scenes` scenes. `characters` are the brief's
/// character names: when there are any, the bible holds exactly them and scenes can
/// only name them; otherwise the model invents one to three.
pub fn json_schema(scenes: usize, characters: &[String]) -> Value {
    let scenes = scenes.max(1);
    let name = if characters.is_empty() {
        text(NAME_MAX, "The character's name.")
    } else {
        json!({"type": "string", "enum": characters, "description": "The character's name."})
    };
    let (fewest, most) = if characters.is_empty() {
        (1, INVENTED_CHARACTERS)
    } else {
        (characters.len(), characters.len())
    };
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["character_bible", "scenes", "social_media"],
        "properties": {
            "character_bible": {
                "type": "array",
                "minItems": fewest,
                "maxItems": most,
                "description": "Every person who appears, described once.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "role", "look", "anchors"],
                    "properties": {
                        "name": name,
                        "role": text(ROLE_MAX, "Their part in the video."),
                        "look": text(LOOK_MAX, "How they look: age, face, hair, clothes."),
                        "anchors": {
                            "type": "array",
                            "minItems": ANCHORS,
                            "maxItems": ANCHORS,
                            "description": "Five short visual traits that never change (hair, clothes, accessory…), repeated in every image prompt.",
                            "items": text(ANCHOR_MAX, "One visual trait.")
                        }
                    }
                }
            },
            "scenes": {
                "type": "array",
                "minItems": scenes,
                "maxItems": scenes,
                "description": "The scenes in order: hook, problem, selling points, proof, offer, call to action.",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["description", "voiceover", "prompt"],
                    "properties": {
                        "description": text(DESCRIPTION_MAX, "What happens in the scene."),
                        "voiceover": text(VOICEOVER_MAX, "What is spoken (and shown as the caption): one or two short sentences."),
                        "prompt": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["characters", "setting", "action", "camera", "emotion"],
                            "properties": {
                                "characters": {
                                    "type": "array",
                                    "minItems": 0,
                                    "maxItems": most,
                                    "description": "Names from character_bible of the people in the shot.",
                                    "items": name
                                },
                                "setting": text(SHOT_MAX, "Place, light and props."),
                                "action": text(SHOT_MAX, "The key action of the shot."),
                                "camera": text(CAMERA_MAX, "Shot size, angle and movement."),
                                "emotion": text(EMOTION_MAX, "The emotion of the shot.")
                            }
                        }
                    }
                }
            },
            "social_media": {
                "type": "object",
                "additionalProperties": false,
                "required": ["caption", "hashtags", "thumbnail_prompt", "thumbnail_text"],
                "properties": {
                    "caption": text(CAPTION_MAX, "The post's text: the product and its best point."),
                    "hashtags": {
                        "type": "array",
                        "minItems": *HASHTAGS.start(),
                        "maxItems": *HASHTAGS.end(),
                        "items": text(HASHTAG_MAX, "A hashtag starting with #, no spaces.")
                    },
                    "thumbnail_prompt": text(THUMBNAIL_PROMPT_MAX, "The thumbnail image: the hero shot."),
                    "thumbnail_text": text(60, "At most six punchy words over the thumbnail.")
                }
            }
        }
    })
}

/// A non-empty string of at most `max` characters.
fn text(max: usize, description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max, "description": description})
}

/// Why a script cannot be used: every problem found, each naming its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", summary(.problems))]
pub struct Invalid {
    /// The problems, one sentence each.
    pub problems: Vec<String>,
}

/// The first problems joined, with how many more there are.
fn summary(problems: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    text
}

/// Checks the shape of a script: `expected_scenes` scenes, nothing empty or too long,
/// five distinct anchors per character, scenes naming only characters of the bible,
/// social posts complete.
pub fn validate(script: &Script, expected_scenes: usize) -> Result<(), Invalid> {
    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(text);
    if script.scenes.len() != expected_scenes {
        problem(format!(
            "scenes has {} entries, the brief needs {expected_scenes}",
            script.scenes.len()
        ));
    }
    for (index, scene) in script.scenes.iter().enumerate() {
        let at = format!("scenes[{index}]");
        bounded(
            &mut problem,
            &format!("{at}.description"),
            &scene.description,
            DESCRIPTION_MAX,
        );
        bounded(
            &mut problem,
            &format!("{at}.voiceover"),
            &scene.voiceover,
            VOICEOVER_MAX,
        );
        let sentences = sentence_count(&scene.voiceover);
        if sentences > VOICEOVER_SENTENCES {
            problem(format!(
                "{at}.voiceover has {sentences} sentences, keep it to one or two"
            ));
        }
        let shot = &scene.prompt;
        bounded(
            &mut problem,
            &format!("{at}.prompt.setting"),
            &shot.setting,
            SHOT_MAX,
        );
        bounded(
            &mut problem,
            &format!("{at}.prompt.action"),
            &shot.action,
            SHOT_MAX,
        );
        bounded(
            &mut problem,
            &format!("{at}.prompt.camera"),
            &shot.camera,
            CAMERA_MAX,
        );
        bounded(
            &mut problem,
            &format!("{at}.prompt.emotion"),
            &shot.emotion,
            EMOTION_MAX,
        );
        for (position, name) in shot.characters.iter().enumerate() {
            if script.character(name).is_none() {
                problem(format!(
                    "{at}.prompt.characters[{position}] names {name:?}, who is not in character_bible"
                ));
            } else if shot.characters[..position]
                .iter()
                .any(|earlier| same_name(earlier, name))
            {
                problem(format!("{at}.prompt.characters names {name:?} twice"));
            }
        }
    }
    for (index, sheet) in script.character_bible.iter().enumerate() {
        let at = format!("character_bible[{index}]");
        bounded(&mut problem, &format!("{at}.name"), &sheet.name, NAME_MAX);
        bounded(&mut problem, &format!("{at}.role"), &sheet.role, ROLE_MAX);
        bounded(&mut problem, &format!("{at}.look"), &sheet.look, LOOK_MAX);
        if script.character_bible[..index]
            .iter()
            .any(|earlier| same_name(&earlier.name, &sheet.name))
        {
            problem(format!("{at}.name {:?} is used twice", sheet.name));
        }
        if sheet.anchors.len() != ANCHORS {
            problem(format!(
                "{at}.anchors has {} entries, needs {ANCHORS}",
                sheet.anchors.len()
            ));
        }
        for (position, anchor) in sheet.anchors.iter().enumerate() {
            bounded(
                &mut problem,
                &format!("{at}.anchors[{position}]"),
                anchor,
                ANCHOR_MAX,
            );
            if sheet.anchors[..position]
                .iter()
                .any(|earlier| same_name(earlier, anchor))
            {
                problem(format!(
                    "{at}.anchors[{position}] repeats an earlier anchor"
                ));
            }
        }
    }
    let social = &script.social_media;
    bounded(
        &mut problem,
        "social_media.caption",
        &social.caption,
        CAPTION_MAX,
    );
    if !HASHTAGS.contains(&social.hashtags.len()) {
        problem(format!(
            "social_media.hashtags has {} entries, needs {} to {}",
            social.hashtags.len(),
            HASHTAGS.start(),
            HASHTAGS.end()
        ));
    }
    for (index, tag) in social.hashtags.iter().enumerate() {
        let well_formed = tag.len() > 1
            && tag.starts_with('#')
            && !tag.chars().any(char::is_whitespace)
            && tag.chars().count() <= HASHTAG_MAX;
        if !well_formed {
            problem(format!(
                "social_media.hashtags[{index}] {tag:?} must be # and one word of at most {HASHTAG_MAX} characters"
            ));
        }
    }
    bounded(
        &mut problem,
        "social_media.thumbnail_prompt",
        &social.thumbnail_prompt,
        THUMBNAIL_PROMPT_MAX,
    );
    bounded(
        &mut problem,
        "social_media.thumbnail_text",
        &social.thumbnail_text,
        60,
    );
    let words = social.thumbnail_text.split_whitespace().count();
    if words > THUMBNAIL_WORDS {
        problem(format!(
            "social_media.thumbnail_text has {words} words, at most {THUMBNAIL_WORDS} fit a thumbnail"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid { problems })
    }
}

/// [`validate`], and what this brief needs besides: every character of the brief in
/// the bible, the product named in at least one voiceover, and voiceovers short enough
/// to be spoken in a scene of `seconds_per_scene` (with room to spare: a model may
/// run a little long, the speech stage fits it).
pub fn validate_for_brief(
    script: &Script,
    brief: &Brief,
    seconds_per_scene: u32,
) -> Result<(), Invalid> {
    let scenes = brief.scene_count(seconds_per_scene) as usize;
    let mut problems = validate(script, scenes)
        .err()
        .map(|i| i.problems)
        .unwrap_or_default();
    for character in &brief.characters {
        if script.character(&character.name).is_none() {
            problems.push(format!(
                "character_bible has no entry for {:?}, a character of the brief",
                character.name
            ));
        }
    }
    let product = brief.product.name.trim().to_lowercase();
    if !script
        .scenes
        .iter()
        .any(|scene| scene.voiceover.to_lowercase().contains(&product))
    {
        problems.push(format!(
            "no voiceover says the product's name {:?}",
            brief.product.name.trim()
        ));
    }
    let budget = speech_budget(&brief.language, f64::from(seconds_per_scene.max(1)));
    let most = budget * 3 / 2 + 3;
    for (index, scene) in script.scenes.iter().enumerate() {
        let units = spoken_units(&scene.voiceover);
        if units > most {
            problems.push(format!(
                "scenes[{index}].voiceover has {units} words, about {budget} fit in {seconds_per_scene} s"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Invalid { problems })
    }
}

/// Reports `field` when it is empty or longer than `max` characters.
fn bounded(problem: &mut impl FnMut(String), field: &str, value: &str, max: usize) {
    let length = value.trim().chars().count();
    if length == 0 {
        problem(format!("{field} is empty"));
    } else if length > max {
        problem(format!("{field} has {length} characters, at most {max}"));
    }
}

/// Sentences in a text: runs ended by `.`, `!`, `?` or `…` before a blank or the end
/// (so `$24.90` and `900 g.` count right).
pub fn sentence_count(text: &str) -> usize {
    let chars: Vec<char> = text.trim().chars().collect();
    let mut count = 0;
    let mut pending = false;
    for (index, c) in chars.iter().enumerate() {
        if matches!(c, '.' | '!' | '?' | '…') {
            let ends = chars.get(index + 1).is_none_or(|next| next.is_whitespace());
            if ends && pending {
                count += 1;
                pending = false;
            }
        } else if c.is_alphanumeric() {
            pending = true;
        }
    }
    count + usize::from(pending)
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
