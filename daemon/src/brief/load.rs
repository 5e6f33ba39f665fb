//! Reading a brief: a file (`.json`, `.toml`, `.yaml`) or a folder holding one named
//! `brief.*` beside its images. Every error names the field it is about.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::assets::{self, AssetKind};
use super::{BUILT_IN_STYLES, Brief, DURATION_RANGE, EXTENSIONS, fields};
use crate::spool::entry::lowercase_extension;

/// Largest brief file accepted (its images sit beside it, not inside it).
pub const MAX_BRIEF_BYTES: u64 = 1024 * 1024;

/// Stages a brief may set provider chains for.
const STAGES: [&str; 4] = ["script", "images", "clips", "voice"];

/// A brief and where its files are.
#[derive(Debug, Clone)]
pub struct LoadedBrief {
    /// The brief.
    pub brief: Brief,
    /// The brief file itself.
    pub file: PathBuf,
    /// The files it names, by field (`product.images[0]`), checked and resolved.
    pub assets: BTreeMap<String, PathBuf>,
}

/// Why a brief cannot be used: the field (when one is to blame), what is wrong, and
/// what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|field| format!("{field}: ")).unwrap_or_default())]
pub struct BriefError {
    /// The field, as a path (`product.selling_points[1]`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

impl BriefError {
    fn whole(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
            hint: hint.into(),
        }
    }

    fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
            hint: "fix the field (`chute brief check FILE` checks a brief; `chute brief schema` prints every field)".into(),
        }
    }
}

/// Loads and validates the brief at `path` (a file or a brief folder); `styles` are the
/// styles the configuration adds to the built-in ones.
pub fn load(path: &Path, styles: &[String]) -> Result<LoadedBrief, BriefError> {
    let (file, folder) = brief_file(path)?;
    let value = parse(&file)?;
    if let Some((field, message)) = fields::first_unknown(&value) {
        return Err(BriefError::field(field, message));
    }
    let brief: Brief = serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        if path == "." {
            BriefError::whole(
                format!("the brief {message}"),
                "add the field; only product.name and duration_sec are required",
            )
        } else {
            BriefError::field(path, message)
        }
    })?;
    check(&brief, styles)?;
    let mut assets = BTreeMap::new();
    let named = brief.asset_paths();
    match &folder {
        None if !named.is_empty() => {
            return Err(BriefError::field(
                named[0].0.clone(),
                "a brief file on its own cannot name files; put it as brief.json (or .toml, .yaml) in a folder with them and drop the folder",
            ));
        }
        None => {}
        Some(folder) => {
            for (field, relative) in named {
                let kind = if field == "music" {
                    AssetKind::Music
                } else {
                    AssetKind::Image
                };
                let resolved = assets::resolve(folder, relative, kind)
                    .map_err(|problem| BriefError::field(field.clone(), problem))?;
                assets.insert(field, resolved);
            }
        }
    }
    Ok(LoadedBrief {
        brief,
        file,
        assets,
    })
}

/// The brief file for `path` and, for a brief folder, the folder.
fn brief_file(path: &Path) -> Result<(PathBuf, Option<PathBuf>), BriefError> {
    let meta = std::fs::symlink_metadata(path).map_err(|error| {
        BriefError::whole(format!("cannot read the brief: {error}"), "check the path")
    })?;
    if meta.is_dir() {
        let found: Vec<PathBuf> = EXTENSIONS
            .iter()
            .map(|extension| path.join(format!("brief.{extension}")))
            .filter(|candidate| std::fs::symlink_metadata(candidate).is_ok())
            .collect();
        return match found.as_slice() {
            [file] => Ok((file.clone(), Some(path.to_owned()))),
            [] => Err(BriefError::whole(
                "the folder holds no brief.json, brief.toml or brief.yaml",
                "put the brief in the folder as brief.json (or .toml, .yaml) beside its images",
            )),
            _ => Err(BriefError::whole(
                "the folder holds more than one brief.* file",
                "keep one of brief.json, brief.toml, brief.yaml",
            )),
        };
    }
    let extension = lowercase_extension(path).unwrap_or_default();
    if !EXTENSIONS.contains(&extension.as_str()) {
        return Err(BriefError::whole(
            format!(
                "a brief is JSON, TOML or YAML, not {:?}",
                path.file_name().unwrap_or_default()
            ),
            "write it as brief.json, brief.toml or brief.yaml (`chute brief schema` shows the fields)",
        ));
    }
    Ok((path.to_owned(), None))
}

/// The brief file as a JSON value, whatever its format.
fn parse(file: &Path) -> Result<Value, BriefError> {
    let opened = crate::spool::entry::open_regular(file, None).map_err(|error| {
        BriefError::whole(
            format!("cannot read {}: {error}", file.display()),
            "drop a regular file (links are not followed)",
        )
    })?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_BRIEF_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| {
            BriefError::whole(format!("cannot read the brief: {error}"), "drop it again")
        })?;
    if bytes.len() as u64 > MAX_BRIEF_BYTES {
        return Err(BriefError::whole(
            format!("the brief file is larger than {MAX_BRIEF_BYTES} bytes"),
            "a brief is a short text; put images and music beside it in a brief folder",
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| BriefError::whole("the brief is not UTF-8 text", "save it as UTF-8"))?;
    let extension = lowercase_extension(file).unwrap_or_default();
    let syntax = |format: &str, error: String| {
        BriefError::whole(
            format!("the brief is not valid {format}: {error}"),
            format!("fix the {format} syntax at the place named"),
        )
    };
    match extension.as_str() {
        "json" => serde_json::from_str(&text).map_err(|error| syntax("JSON", error.to_string())),
        "toml" => toml::from_str::<toml::Value>(&text)
            .map_err(|error| syntax("TOML", error.to_string()))
            .and_then(|value| {
                serde_json::to_value(value).map_err(|error| syntax("TOML", error.to_string()))
            }),
        _ => serde_norway::from_str::<Value>(&text)
            .map_err(|error| syntax("YAML", error.to_string())),
    }
}

/// What the types cannot say.
fn check(brief: &Brief, styles: &[String]) -> Result<(), BriefError> {
    if brief.product.name.trim().is_empty() {
        return Err(BriefError::field(
            "product.name",
            "is empty; name the product",
        ));
    }
    if !DURATION_RANGE.contains(&brief.duration_sec) {
        return Err(BriefError::field(
            "duration_sec",
            format!(
                "{} is out of range: a video is {} to {} seconds",
                brief.duration_sec,
                DURATION_RANGE.start(),
                DURATION_RANGE.end()
            ),
        ));
    }
    let known_style =
        BUILT_IN_STYLES.contains(&brief.style.as_str()) || styles.contains(&brief.style);
    if !known_style {
        let mut all: Vec<&str> = BUILT_IN_STYLES.to_vec();
        all.extend(styles.iter().map(String::as_str));
        return Err(BriefError::field(
            "style",
            format!(
                "{:?} is not a style: write one of {}",
                brief.style,
                all.join(", ")
            ),
        ));
    }
    if !is_language_tag(&brief.language) {
        return Err(BriefError::field(
            "language",
            format!(
                "{:?} is not a language code: write one like vi, en, zh or pt-BR",
                brief.language
            ),
        ));
    }
    if let Some(stage) = brief
        .providers
        .keys()
        .find(|stage| !STAGES.contains(&stage.as_str()))
    {
        return Err(BriefError::field(
            format!("providers.{stage}"),
            format!(
                "is not a stage: provider chains are for {}",
                STAGES.join(", ")
            ),
        ));
    }
    Ok(())
}

/// `vi`, `en`, `zh`, `yue`, `pt-BR`, `zh-Hant`: a language and an optional region or
/// script.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    let language_ok =
        (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_lowercase());
    let rest: Vec<&str> = parts.collect();
    language_ok
        && rest.len() <= 1
        && rest.iter().all(|part| {
            (2..=4).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
