//! The brief: what a sales video is about, as a user writes it (JSON, TOML or YAML, or a
//! folder holding `brief.{json,toml,yaml}` with its images and music). A contract: a
//! brief written today must still load next year, so fields are only ever added, and
//! unknown fields are refused (with a did-you-mean) rather than silently ignored.
//!
//! - `load.rs`: finding and reading a brief (size limit, formats, no links).
//! - `fields.rs`: the known fields at each level, for did-you-mean and the schema test.
//! - `assets.rs`: paths inside the brief folder (images, photos, music), checked.
//! - `config.rs`: `[sales_video]` (seconds per scene, extra styles).
//!
//! `docs/brief.schema.json` is the same contract as a JSON Schema (`chute brief schema`).

mod assets;
pub mod config;
mod fields;
mod load;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use assets::image_type;
pub use load::{BriefError, LoadedBrief, MAX_BRIEF_BYTES, load};

/// The JSON Schema of a brief, as shipped in `docs/brief.schema.json`.
pub const SCHEMA: &str = include_str!("../../../docs/brief.schema.json");

/// The styles every build knows; `[sales_video] styles` may add more.
pub const BUILT_IN_STYLES: [&str; 3] = ["viral", "koc-review", "storytelling"];

/// Shortest and longest video a brief may ask for, in seconds.
pub const DURATION_RANGE: std::ops::RangeInclusive<u32> = 5..=600;

/// A brief, as validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    /// The video's working title.
    #[serde(default)]
    pub title: Option<String>,
    /// What is sold.
    pub product: Product,
    /// The idea or angle of the video, in the user's words.
    #[serde(default)]
    pub idea: Option<String>,
    /// `viral`, `koc-review`, `storytelling`, or a style the configuration adds.
    #[serde(default = "default_style")]
    pub style: String,
    /// Length of the video in seconds; the scene count follows from it.
    pub duration_sec: u32,
    /// Language of the speech and captions (`vi`, `en`, `zh`, …).
    #[serde(default = "default_language")]
    pub language: String,
    /// Frame shape.
    #[serde(default)]
    pub aspect: Aspect,
    /// A voice name for the speech provider (`vi-female-1`); its default when absent.
    #[serde(default)]
    pub voice: Option<String>,
    /// People who appear, described so every image shows them the same way.
    #[serde(default)]
    pub characters: Vec<Character>,
    /// Whether each clip starts from the previous clip's last frame.
    #[serde(default)]
    pub clip_mode: ClipMode,
    /// Background music: a file inside the brief folder.
    #[serde(default)]
    pub music: Option<String>,
    /// Per-brief provider chains by stage (`images = ["whisk", "local"]`).
    #[serde(default)]
    pub providers: BTreeMap<String, Vec<String>>,
}

/// What is sold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Its name, as said in the video.
    pub name: String,
    /// A sentence or two about it.
    #[serde(default)]
    pub description: Option<String>,
    /// What makes it worth buying, one point each.
    #[serde(default)]
    pub selling_points: Vec<String>,
    /// Its price as it should be shown (`299.000đ`, `$49`).
    #[serde(default)]
    pub price: Option<String>,
    /// Product photos: paths inside the brief folder.
    #[serde(default)]
    pub images: Vec<String>,
}

/// A person in the video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Character {
    /// What the script calls them.
    pub name: String,
    /// Their part (`presenter`, `customer`).
    #[serde(default)]
    pub role: Option<String>,
    /// How they look (age, hair, clothes), for the images.
    #[serde(default)]
    pub look: Option<String>,
    /// A reference photo: a path inside the brief folder.
    #[serde(default)]
    pub photo: Option<String>,
}

/// The frame shape of the video.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aspect {
    /// Portrait, 1080x1920 (phones, the default).
    #[default]
    #[serde(rename = "9:16")]
    Portrait,
    /// Square, 1080x1080.
    #[serde(rename = "1:1")]
    Square,
    /// Landscape, 1920x1080.
    #[serde(rename = "16:9")]
    Landscape,
}

impl Aspect {
    /// Width and height in pixels at the default resolution.
    pub fn size(self) -> (u32, u32) {
        match self {
            Aspect::Portrait => (1080, 1920),
            Aspect::Square => (1080, 1080),
            Aspect::Landscape => (1920, 1080),
        }
    }
}

/// How clips follow each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipMode {
    /// Every clip from its own scene image (they are made at once).
    #[default]
    Independent,
    /// Each clip starts from the last frame of the one before (made one by one).
    Chain,
}

fn default_style() -> String {
    BUILT_IN_STYLES[0].to_owned()
}

fn default_language() -> String {
    "en".to_owned()
}

impl Brief {
    /// How many scenes the video gets at `seconds_per_scene` each (at least one).
    pub fn scene_count(&self, seconds_per_scene: u32) -> u32 {
        self.duration_sec.div_ceil(seconds_per_scene.max(1)).max(1)
    }

    /// Every file the brief names inside its folder: product images, character photos
    /// and music.
    pub fn asset_paths(&self) -> Vec<(String, &str)> {
        let mut paths: Vec<(String, &str)> = self
            .product
            .images
            .iter()
            .enumerate()
            .map(|(index, path)| (format!("product.images[{index}]"), path.as_str()))
            .collect();
        for (index, character) in self.characters.iter().enumerate() {
            if let Some(photo) = &character.photo {
                paths.push((format!("characters[{index}].photo"), photo.as_str()));
            }
        }
        if let Some(music) = &self.music {
            paths.push(("music".to_owned(), music.as_str()));
        }
        paths
    }
}

/// A brief file's formats, by extension.
pub const EXTENSIONS: [&str; 4] = ["json", "toml", "yaml", "yml"];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The schema and the code list the same fields at every level, and the shipped
    /// samples follow the schema and load.
    #[test]
    fn the_schema_matches_the_fields_and_the_samples() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let keys = |value: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = value["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let sorted = |fields: &[&str]| -> Vec<String> {
            let mut fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            fields.sort();
            fields
        };
        assert_eq!(keys(&schema), sorted(&fields::TOP));
        assert_eq!(
            keys(&schema["properties"]["product"]),
            sorted(&fields::PRODUCT)
        );
        assert_eq!(
            keys(&schema["properties"]["characters"]["items"]),
            sorted(&fields::CHARACTER)
        );
        let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
        for sample in [samples.join("brief.json"), samples.join("brief-vi")] {
            let loaded = load(&sample, &[]).unwrap_or_else(|error| panic!("{error}"));
            let text = std::fs::read_to_string(&loaded.file).unwrap();
            let value: serde_json::Value = if loaded.file.extension().unwrap() == "json" {
                serde_json::from_str(&text).unwrap()
            } else {
                serde_norway::from_str(&text).unwrap()
            };
            let validator = jsonschema::validator_for(&schema).unwrap();
            let problems: Vec<String> = validator
                .iter_errors(&value)
                .map(|error| error.to_string())
                .collect();
            assert!(problems.is_empty(), "{}: {problems:?}", sample.display());
        }
    }
}
