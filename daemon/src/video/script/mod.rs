//! The script of a sales video: scenes (what is seen, what is said, the structured
//! image prompt), the character bible that keeps every person the same from shot to
//! shot, and the social posts. `work/script.json` (and the delivered `script.json`)
//! keep exactly the top-level keys `scenes`, `character_bible` and `social_media`.
//!
//! - `schema.rs`: the JSON Schema models answer against, and the checks whose messages
//!   are fed back to a model that got it wrong.
//! - `parse.rs`: model text → [`Script`], tolerant of fences, prose and small damage.
//! - `prompt.rs`: the request a text model gets.
//! - `template/`: the deterministic offline writer, per style and language.
//!
//! Other stages read the script with [`load`] and ask each scene for its
//! [`Scene::image_prompt`].

pub mod parse;
pub mod prompt;
pub mod schema;
pub mod template;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::brief::{Aspect, Brief};

/// The script file's name in `work/` and `out/`.
pub const SCRIPT_FILE: &str = "script.json";
/// The social posts' file in `out/` (the script's `social_media` object).
pub const SOCIAL_FILE: &str = "social.json";
/// Visual anchors every character carries, repeated in each image prompt showing them.
pub const ANCHORS: usize = 5;

/// A sales video's script. Daemon-written, so read leniently (unknown keys ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// The scenes, in order; one image, one clip and one voiceover each.
    pub scenes: Vec<Scene>,
    /// Every character who appears, described once.
    pub character_bible: Vec<CharacterSheet>,
    /// What is posted with the video.
    pub social_media: Social,
}

/// One scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// What happens, for a person reading the script (in the brief's language).
    pub description: String,
    /// What is spoken, and burned in as the scene's caption: one or two sentences that
    /// fit the scene's seconds.
    pub voiceover: String,
    /// The structured prompt of the scene's image and clip.
    pub prompt: ScenePrompt,
}

/// The parts of a scene's image prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenePrompt {
    /// Names (from the character bible) of the people in the shot; empty for a product
    /// shot.
    #[serde(default)]
    pub characters: Vec<String>,
    /// Where it happens: place, light, props.
    pub setting: String,
    /// The key action of the shot.
    pub action: String,
    /// Camera direction (shot size, angle, movement).
    pub camera: String,
    /// The emotion the shot carries.
    pub emotion: String,
}

/// One character, described so every image shows them the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CharacterSheet {
    /// What the script calls them.
    pub name: String,
    /// Their part in the video.
    pub role: String,
    /// How they look, in a sentence.
    pub look: String,
    /// Exactly [`ANCHORS`] short visual traits repeated in every prompt showing them.
    pub anchors: Vec<String>,
}

/// The social posts that go with the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Social {
    /// The post's text.
    pub caption: String,
    /// Hashtags, each starting with `#`.
    pub hashtags: Vec<String>,
    /// The prompt of the thumbnail image.
    pub thumbnail_prompt: String,
    /// The few words written over the thumbnail.
    pub thumbnail_text: String,
}

/// How an image prompt should look beyond the scene itself.
#[derive(Debug, Clone, Copy)]
pub struct ImageHints<'a> {
    /// The brief's style (`viral`, `koc-review`, `storytelling`, or a configured one).
    pub style: &'a str,
    /// The frame shape.
    pub aspect: Aspect,
}

impl<'a> ImageHints<'a> {
    /// The hints a brief gives.
    pub fn from_brief(brief: &'a Brief) -> Self {
        Self {
            style: &brief.style,
            aspect: brief.aspect,
        }
    }
}

impl Script {
    /// The character of this name in the bible (names compare trimmed, ignoring case).
    pub fn character(&self, name: &str) -> Option<&CharacterSheet> {
        find_character(&self.character_bible, name)
    }
}

impl Scene {
    /// The full image prompt of this scene: the frame and style, setting, action,
    /// camera and emotion, then every character in the shot with all their anchors
    /// (so each image shows them the same way). Names missing from `bible` are
    /// mentioned by name only.
    pub fn image_prompt(&self, bible: &[CharacterSheet], hints: &ImageHints<'_>) -> String {
        let (width, height) = hints.aspect.size();
        let frame = match hints.aspect {
            Aspect::Portrait => "Vertical 9:16",
            Aspect::Square => "Square 1:1",
            Aspect::Landscape => "Horizontal 16:9",
        };
        let prompt = &self.prompt;
        let mut text = format!(
            "{frame} frame ({width}x{height}), {}. Setting: {}. Action: {}. Camera: {}. Emotion: {}.",
            style_look(hints.style),
            sentence_body(&prompt.setting),
            sentence_body(&prompt.action),
            sentence_body(&prompt.camera),
            sentence_body(&prompt.emotion),
        );
        let mut shown = Vec::new();
        for name in &prompt.characters {
            match find_character(bible, name) {
                Some(sheet) => shown.push(format!(
                    "{} ({}): {}",
                    sheet.name.trim(),
                    sentence_body(&sheet.role),
                    sheet
                        .anchors
                        .iter()
                        .map(|anchor| sentence_body(anchor))
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
                None => shown.push(name.trim().to_owned()),
            }
        }
        if shown.is_empty() {
            text.push_str(" No people in the shot: the product is the hero.");
        } else {
            text.push_str(&format!(
                " Characters: {}. Keep each character's face, hair and clothes exactly as described, the same in every shot.",
                shown.join(" | ")
            ));
        }
        text.push_str(" No text, captions or watermarks in the image.");
        text
    }
}

/// The look a style asks of every image.
pub(crate) fn style_look(style: &str) -> String {
    match style {
        "viral" => "punchy social-video look, bold saturated colours, high contrast".to_owned(),
        "koc-review" => {
            "authentic creator-review look, natural window light, shot on a phone".to_owned()
        }
        "storytelling" => "cinematic look, warm film tones, soft shallow depth of field".to_owned(),
        other => format!("{other} style, clean commercial look, bright natural light"),
    }
}

/// `text` trimmed, without the full stop it may end with (it is added back between
/// the prompt's parts).
fn sentence_body(text: &str) -> &str {
    text.trim().trim_end_matches(['.', '。']).trim_end()
}

/// The character of this name (trimmed, case ignored).
fn find_character<'a>(bible: &'a [CharacterSheet], name: &str) -> Option<&'a CharacterSheet> {
    bible.iter().find(|sheet| same_name(&sheet.name, name))
}

/// Whether two character names are the same (trimmed, case ignored).
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Reads a script written by the `script` stage (`work/script.json`).
pub fn load(path: &Path) -> std::io::Result<Script> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|error| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a script: {error}", path.display()),
        )
    })
}

/// Spoken units per second: syllables in Vietnamese (written one word each), words
/// elsewhere.
pub fn units_per_second(language: &str) -> f64 {
    if is_vietnamese(language) { 3.5 } else { 2.5 }
}

/// Whether a brief's language code is Vietnamese (`vi`, `vi-VN`).
pub fn is_vietnamese(language: &str) -> bool {
    let primary = language.split(['-', '_']).next().unwrap_or("");
    primary.eq_ignore_ascii_case("vi")
}

/// How many words (Vietnamese: syllables) fit in `seconds` of speech, at least four.
pub fn speech_budget(language: &str, seconds: f64) -> usize {
    ((seconds * units_per_second(language)).floor() as usize).max(4)
}

/// The spoken units of a text: whitespace-separated pieces holding a letter or digit.
pub fn spoken_units(text: &str) -> usize {
    text.split_whitespace()
        .filter(|piece| piece.chars().any(char::is_alphanumeric))
        .count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sheet(name: &str) -> CharacterSheet {
        CharacterSheet {
            name: name.to_owned(),
            role: "presenter".to_owned(),
            look: "woman in her 20s".to_owned(),
            anchors: (1..=5).map(|i| format!("anchor {i} of {name}")).collect(),
        }
    }

    fn scene(characters: &[&str]) -> Scene {
        Scene {
            description: "d".into(),
            voiceover: "v".into(),
            prompt: ScenePrompt {
                characters: characters.iter().map(|c| (*c).to_owned()).collect(),
                setting: "a sunny kitchen.".into(),
                action: "she pours coffee".into(),
                camera: "slow push-in".into(),
                emotion: "calm".into(),
            },
        }
    }

    #[test]
    fn an_image_prompt_repeats_every_anchor_of_each_character_in_the_shot() {
        let bible = vec![sheet("Linh"), sheet("Nam")];
        let hints = ImageHints {
            style: "koc-review",
            aspect: Aspect::Portrait,
        };
        let prompt = scene(&["linh "]).image_prompt(&bible, &hints);
        for anchor in &bible[0].anchors {
            assert!(prompt.contains(anchor.as_str()), "{prompt}");
        }
        assert!(!prompt.contains("of Nam"), "{prompt}");
        assert!(prompt.starts_with("Vertical 9:16 frame (1080x1920)"));
        assert!(
            prompt.contains("Setting: a sunny kitchen. Action:"),
            "{prompt}"
        );
        let product_shot = scene(&[]).image_prompt(&bible, &hints);
        assert!(product_shot.contains("No people in the shot"));
    }

    #[test]
    fn the_file_keeps_exactly_the_three_top_level_keys() {
        let script = Script {
            scenes: vec![scene(&["Linh"])],
            character_bible: vec![sheet("Linh")],
            social_media: Social {
                caption: "c".into(),
                hashtags: vec!["#a".into()],
                thumbnail_prompt: "t".into(),
                thumbnail_text: "x".into(),
            },
        };
        let value = serde_json::to_value(&script).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["scenes", "character_bible", "social_media"]);
        let back: Script = serde_json::from_value(value).unwrap();
        assert_eq!(back, script);
    }

    #[test]
    fn speech_is_counted_in_words_or_vietnamese_syllables() {
        assert_eq!(spoken_units("Giữ nóng 12 giờ — thật đấy!"), 6);
        assert_eq!(speech_budget("vi-VN", 5.0), 17);
        assert_eq!(speech_budget("en", 5.0), 12);
        assert_eq!(speech_budget("zh", 1.0), 4);
    }
}
