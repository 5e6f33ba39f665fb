//! Summary templates: which fields `summary.json` has, how long each may be, and the JSON
//! schema that describes them (from which the llama.cpp grammar is generated).

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

/// The built-in template, shipped as `config/summary-template.toml`.
pub const BUILT_IN: &str = include_str!("../../../config/summary-template.toml");

/// Largest cap a field may set, in bytes (keeps the grammar and the output bounded).
const MAX_FIELD_BYTES: u32 = 2000;
/// Most items a list may have.
const MAX_ITEMS: u32 = 20;

/// A summary template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// What the model is asked to do.
    pub instructions: String,
    /// The fields of summary.json, in order.
    pub fields: Vec<Field>,
}

/// One field of summary.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// The JSON key.
    pub name: String,
    /// What it holds.
    pub kind: FieldKind,
    /// Shown to the model.
    #[serde(default)]
    pub description: String,
    /// Longest text (or list item), in UTF-8 bytes.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
    /// Fewest list items.
    #[serde(default)]
    pub min_items: u32,
    /// Most list items.
    #[serde(default = "default_max_items")]
    pub max_items: u32,
    /// Prose in whole sentences: an answer that does not end with `.`, `!` or `?` was
    /// cut off mid-sentence.
    #[serde(default)]
    pub sentences: bool,
}

/// Transcript words per list item a summary may have (a 30-word memo gets two key
/// points, not five).
const WORDS_PER_ITEM: usize = 15;
/// The least a text field is capped at when fitted to a short transcript, in bytes.
const FITTED_TEXT_FLOOR: u32 = 60;

fn default_max_bytes() -> u32 {
    200
}

fn default_max_items() -> u32 {
    5
}

/// The kinds of field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// A string.
    Text,
    /// An array of strings.
    List,
    /// The transcript's language code (not generated freely).
    Language,
}

impl Template {
    /// The built-in template.
    pub fn built_in() -> Template {
        match Template::parse(BUILT_IN) {
            Ok(template) => template,
            Err(error) => unreachable!("the built-in template is checked by a test: {error}"),
        }
    }

    /// The template at `path`, or the built-in one when `path` is empty.
    pub fn load(path: &Path) -> Result<Template, String> {
        if path.as_os_str().is_empty() {
            return Ok(Template::built_in());
        }
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!(
                "cannot read the summary template {}: {error}",
                path.display()
            )
        })?;
        Template::parse(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Parses and checks a template.
    pub fn parse(text: &str) -> Result<Template, String> {
        let template: Template = toml::from_str(text).map_err(|error| error.to_string())?;
        if template.fields.is_empty() {
            return Err("the template has no fields".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for field in &template.fields {
            let valid_name = !field.name.is_empty()
                && field.name.len() <= 64
                && field
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_name {
                return Err(format!(
                    "field name {:?}: use letters, digits and '_' (at most 64)",
                    field.name
                ));
            }
            if !names.insert(field.name.as_str()) {
                return Err(format!("field {:?} appears twice", field.name));
            }
            if !(4..=MAX_FIELD_BYTES).contains(&field.max_bytes) {
                return Err(format!(
                    "field {:?}: max_bytes must be between 4 and {MAX_FIELD_BYTES}",
                    field.name
                ));
            }
            if field.kind == FieldKind::List
                && !(field.min_items <= field.max_items
                    && (1..=MAX_ITEMS).contains(&field.max_items))
            {
                return Err(format!(
                    "field {:?}: need min_items <= max_items, and max_items between 1 and {MAX_ITEMS}",
                    field.name
                ));
            }
        }
        Ok(template)
    }

    /// This template with its caps fitted to a transcript of `words` words and `bytes`
    /// bytes: lists get at most one item per [`WORDS_PER_ITEM`] words (never fewer than
    /// `min_items`, at least one), and no text may be longer than the transcript (but
    /// [`FITTED_TEXT_FLOOR`] bytes are always allowed). Caps only shrink.
    pub fn fitted(&self, words: usize, bytes: usize) -> Template {
        let mut fitted = self.clone();
        let items = (words / WORDS_PER_ITEM).max(1);
        let text_cap = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .max(FITTED_TEXT_FLOOR);
        for field in &mut fitted.fields {
            match field.kind {
                FieldKind::List => {
                    let items = u32::try_from(items).unwrap_or(u32::MAX);
                    field.max_items = field.max_items.min(items.max(field.min_items).max(1));
                }
                FieldKind::Text => field.max_bytes = field.max_bytes.min(text_cap),
                FieldKind::Language => {}
            }
        }
        fitted
    }

    /// The JSON schema of summary.json for a transcript in `language`.
    pub fn schema(&self, language: &str) -> Value {
        let mut properties = serde_json::Map::new();
        for field in &self.fields {
            let string = json!({
                "type": "string",
                "minLength": 1,
                "maxLength": field.max_bytes,
            });
            let value = match field.kind {
                FieldKind::Text => {
                    let mut string = string;
                    string["description"] = json!(field.description);
                    string
                }
                FieldKind::List => json!({
                    "type": "array",
                    "description": field.description,
                    "minItems": field.min_items,
                    "maxItems": field.max_items,
                    "uniqueItems": true,
                    "items": string,
                }),
                FieldKind::Language => json!({
                    "type": "string",
                    "description": field.description,
                    "const": language,
                }),
            };
            properties.insert(field.name.clone(), value);
        }
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": false,
            "required": self.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            "properties": properties,
        })
    }

    /// The field list as the model sees it in the prompt.
    pub fn describe_fields(&self) -> String {
        self.fields
            .iter()
            .filter(|field| field.kind != FieldKind::Language)
            .map(|field| match field.kind {
                FieldKind::List => format!(
                    "- {}: {} ({} to {} items)\n",
                    field.name, field.description, field.min_items, field.max_items
                ),
                _ if field.sentences => format!(
                    "- {}: {} (whole sentences, at most {} characters)\n",
                    field.name, field.description, field.max_bytes
                ),
                _ => format!(
                    "- {}: {} (at most {} characters)\n",
                    field.name, field.description, field.max_bytes
                ),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_template_parses_and_has_the_default_fields() {
        let template = Template::parse(BUILT_IN).expect("built-in template");
        let names: Vec<_> = template.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            ["title", "summary", "key_points", "keywords", "language"]
        );
        let schema = template.schema("en");
        assert_eq!(schema["properties"]["language"]["const"], "en");
        assert_eq!(schema["required"].as_array().map(Vec::len), Some(5));
    }

    /// The template for capable models ships beside the built-in one and parses.
    #[test]
    fn the_detailed_template_parses_and_asks_for_more() {
        let detailed = include_str!("../../../config/summary-template-detailed.toml");
        let template = Template::parse(detailed).expect("detailed template");
        let names: Vec<_> = template.fields.iter().map(|f| f.name.as_str()).collect();
        for name in ["decisions", "action_items", "open_questions"] {
            assert!(names.contains(&name), "{names:?}");
        }
        assert!(super::super::grammar::from_schema(&template.schema("en")).is_ok());
    }

    #[test]
    fn short_transcripts_get_fewer_items_and_shorter_texts() {
        let template = Template::built_in();
        let cap = |t: &Template, name: &str| {
            let field = t.fields.iter().find(|f| f.name == name).expect("field");
            (field.max_items, field.max_bytes)
        };
        // One sentence: one item per list, no text longer than the sentence.
        let short = template.fitted(12, 70);
        assert_eq!(cap(&short, "key_points").0, 1);
        assert_eq!(cap(&short, "keywords").0, 1);
        assert_eq!(cap(&short, "summary").1, 70);
        assert_eq!(cap(&short, "title").1, 70);
        // A long transcript keeps the template's own caps.
        let long = template.fitted(5000, 30_000);
        assert_eq!(cap(&long, "key_points"), cap(&template, "key_points"));
        assert_eq!(cap(&long, "summary"), cap(&template, "summary"));
        // min_items still holds, and the schema says every item must be different.
        let schema = template.fitted(0, 0).schema("en");
        let key_points = &schema["properties"]["key_points"];
        assert!(key_points["maxItems"].as_u64() >= key_points["minItems"].as_u64());
        assert_eq!(key_points["uniqueItems"], true);
    }

    #[test]
    fn bad_templates_are_refused_with_the_field_named() {
        let duplicate = "instructions = \"x\"\n[[fields]]\nname = \"a\"\nkind = \"text\"\n[[fields]]\nname = \"a\"\nkind = \"text\"\n";
        assert!(
            Template::parse(duplicate)
                .expect_err("refused")
                .contains("\"a\" appears twice")
        );
        let huge =
            "instructions = \"x\"\n[[fields]]\nname = \"a\"\nkind = \"text\"\nmax_bytes = 99999\n";
        assert!(
            Template::parse(huge)
                .expect_err("refused")
                .contains("max_bytes")
        );
        let bad_name = "instructions = \"x\"\n[[fields]]\nname = \"a b\"\nkind = \"text\"\n";
        assert!(Template::parse(bad_name).is_err());
        assert!(Template::parse("instructions = \"x\"\nfields = []\n").is_err());
    }
}
