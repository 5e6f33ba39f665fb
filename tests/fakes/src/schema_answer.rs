//! A JSON value that matches a JSON Schema, worded from the prompt: what a model in
//! JSON mode answers (Gemini's JSON mode, OpenAI's structured outputs). Objects get
//! every property, arrays `minItems` items (at least one, at most `maxItems`),
//! strings fit their length bounds and follow a "starting with #" instruction, enums
//! take their first value.

use serde_json::{Map, Value, json};

/// The part of `prompt` a model answers about: the text of its last `"""` block when it
/// has one (a transcript, a brief), else the whole prompt. A model words its answer
/// from that material, not from the instructions around it.
pub fn material(prompt: &str) -> &str {
    let mut blocks = prompt.rsplitn(3, "\"\"\"");
    match (blocks.next(), blocks.next(), blocks.next()) {
        (Some(_after), Some(inside), Some(_before)) if !inside.trim().is_empty() => inside,
        _ => prompt,
    }
}

/// A value for `schema`, worded from `prompt`.
pub fn value(schema: &Value, prompt: &str) -> Value {
    let words: Vec<String> = prompt
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|word| word.chars().count() >= 3 && word.chars().all(char::is_alphanumeric))
        .map(str::to_string)
        .collect();
    let words = if words.is_empty() {
        vec!["product".to_string(), "video".into(), "scene".into()]
    } else {
        words
    };
    let mut next = 0;
    build(schema, &words, &mut next)
}

fn build(schema: &Value, words: &[String], next: &mut usize) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut object = Map::new();
            for (name, property) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                object.insert(name.clone(), build(property, words, next));
            }
            Value::Object(object)
        }
        "array" => {
            let least = bound(schema, "minItems").unwrap_or(1).max(1);
            let most = bound(schema, "maxItems").unwrap_or(least.max(2));
            let count = least.min(most);
            let items = schema
                .get("items")
                .cloned()
                .unwrap_or(json!({"type": "string"}));
            Value::Array((0..count).map(|_| build(&items, words, next)).collect())
        }
        "integer" => json!(bound(schema, "minimum").unwrap_or(1)),
        "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0)),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => Value::String(string(schema, words, next)),
    }
}

fn string(schema: &Value, words: &[String], next: &mut usize) -> String {
    let hashtag = schema
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|description| description.contains("starting with #"));
    let least = bound(schema, "minLength").unwrap_or(1);
    let most = bound(schema, "maxLength").unwrap_or(200);
    let count = if hashtag { 1 } else { 3 + *next % 4 };
    let mut phrase: Vec<&str> = Vec::with_capacity(count);
    for _ in 0..count {
        phrase.push(&words[*next % words.len()]);
        *next += 1;
    }
    let mut text = if hashtag {
        format!("#{}{}", phrase.concat(), *next)
    } else {
        let mut sentence = phrase.join(" ");
        if let Some(first) = sentence.get(..1) {
            sentence = first.to_uppercase() + &sentence[1..];
        }
        sentence + "."
    };
    while text.chars().count() < least {
        text.push_str(" more");
    }
    text.chars().take(most).collect()
}

fn bound(schema: &Value, name: &str) -> Option<usize> {
    schema.get(name)?.as_u64().map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_fit_the_schema_they_were_asked_with() {
        let schema = json!({"type": "object", "properties": {
            "scenes": {"type": "array", "minItems": 3, "maxItems": 3, "items": {"type": "object", "properties": {
                "voiceover": {"type": "string", "minLength": 1, "maxLength": 20}}}},
            "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "description": "A hashtag starting with #, no spaces."}},
            "mood": {"type": "string", "enum": ["calm", "loud"]}}});
        let answer = value(&schema, "Fresh coffee beans roasted every morning");
        assert_eq!(answer["scenes"].as_array().map(Vec::len), Some(3));
        assert!(
            answer["scenes"][0]["voiceover"]
                .as_str()
                .is_some_and(|v| v.chars().count() <= 20)
        );
        assert!(
            answer["tags"][1]
                .as_str()
                .is_some_and(|tag| tag.starts_with('#') && !tag.contains(' '))
        );
        assert_eq!(answer["mood"], "calm");
    }

    #[test]
    fn the_material_is_the_last_quoted_block() {
        let prompt =
            "Summarize the transcript.\nTranscript:\n\"\"\"\nThe budget grows in spring\n\"\"\"";
        assert_eq!(material(prompt).trim(), "The budget grows in spring");
        assert_eq!(material("No block here"), "No block here");
        let schema = json!({"type": "object", "properties": {"title": {"type": "string"}}});
        let title = value(&schema, material(prompt))["title"].to_string();
        assert!(!title.contains("Summarize"), "{title}");
    }
}
