//! A JSON Schema rewritten as OpenAI's strict mode requires: every object closed
//! (`additionalProperties: false`) and with every property required (the optional
//! ones become nullable), and the keywords strict mode refuses removed. The answer is
//! still checked against the caller's own schema afterwards, so nothing is lost but
//! the constraint during decoding.

use chute_plugin_sdk::serde_json::{Map, Value, json};

/// Keywords strict mode does not support (OpenAI's structured-outputs guide lists the
/// supported ones; these are refused with a 400 `invalid_json_schema`).
const UNSUPPORTED: &[&str] = &[
    "$schema",
    "$id",
    "minLength",
    "maxLength",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "unevaluatedItems",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
    "if",
    "then",
    "else",
    "not",
    "dependentRequired",
    "dependentSchemas",
    "default",
    "examples",
];

/// `schema` as strict mode takes it.
pub fn strict(schema: &Value) -> Value {
    let mut schema = schema.clone();
    rewrite(&mut schema);
    schema
}

fn rewrite(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    for keyword in UNSUPPORTED {
        object.remove(*keyword);
    }
    if is_object(object) {
        close(object);
    }
    if let Some(items) = object.get_mut("items") {
        rewrite(items);
    }
    for list in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(entries)) = object.get_mut(list) {
            entries.iter_mut().for_each(rewrite);
        }
    }
    for defs in ["$defs", "definitions"] {
        if let Some(Value::Object(entries)) = object.get_mut(defs) {
            entries.values_mut().for_each(rewrite);
        }
    }
}

fn is_object(object: &Map<String, Value>) -> bool {
    match object.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        _ => object.contains_key("properties"),
    }
}

/// Closes an object schema and requires all its properties.
fn close(object: &mut Map<String, Value>) {
    object.insert("additionalProperties".into(), Value::Bool(false));
    let required: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut names = Vec::new();
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            rewrite(property);
            if !required.contains(name) {
                nullable(property);
            }
            names.push(Value::String(name.clone()));
        }
    } else {
        object.insert("properties".into(), json!({}));
    }
    object.insert("required".into(), Value::Array(names));
}

/// Lets a once-optional property be `null` (strict mode's way of saying "optional").
fn nullable(property: &mut Value) {
    let Some(fields) = property.as_object_mut() else {
        return;
    };
    match fields.get_mut("type") {
        Some(Value::String(kind)) if kind != "null" => {
            let kind = kind.clone();
            fields.insert("type".into(), json!([kind, "null"]));
        }
        Some(Value::Array(kinds)) if !kinds.iter().any(|kind| kind == "null") => {
            kinds.push(json!("null"));
        }
        Some(_) => {}
        None => {
            if let Some(Value::Array(options)) = fields.get_mut("anyOf") {
                if !options.iter().any(|option| option["type"] == "null") {
                    options.push(json!({"type": "null"}));
                }
                return;
            }
        }
    }
    if let Some(Value::Array(values)) = fields.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_closed_every_property_required_and_refused_keywords_dropped() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 80},
                "mood": {"type": "string", "enum": ["calm", "loud"]},
                "points": {"type": "array", "minItems": 1, "uniqueItems": true,
                    "items": {"type": "object", "properties": {"text": {"type": "string"}}}}
            }
        });
        let strict = strict(&schema);
        assert_eq!(strict["additionalProperties"], false);
        let mut required: Vec<&str> = strict["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["mood", "points", "title"]);
        assert!(strict.get("$schema").is_none());
        assert_eq!(strict["properties"]["title"], json!({"type": "string"}));
        assert_eq!(
            strict["properties"]["mood"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            strict["properties"]["mood"]["enum"],
            json!(["calm", "loud", null])
        );
        let points = &strict["properties"]["points"];
        assert_eq!(points["minItems"], 1);
        assert!(points.get("uniqueItems").is_none());
        assert_eq!(points["items"]["additionalProperties"], false);
        assert_eq!(points["items"]["required"], json!(["text"]));
        assert_eq!(
            points["items"]["properties"]["text"]["type"],
            json!(["string", "null"])
        );
    }
}
