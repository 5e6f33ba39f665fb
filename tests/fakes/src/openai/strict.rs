//! The schema checks OpenAI makes under `strict: true` (providers.md §6): the root is
//! an object, every object has `additionalProperties: false` and lists every property
//! in `required`, and keywords strict mode does not support are refused. Messages
//! name the place as OpenAI does (`In context=('properties', 'scenes', 'items')`).

use serde_json::Value;

/// Keywords strict mode refuses.
const UNSUPPORTED: &[&str] = &[
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
    "allOf",
];

/// What is wrong with `schema` under strict mode, in OpenAI's words (without the
/// `Invalid schema for response_format 'NAME': ` prefix).
pub fn check(schema: &Value) -> Result<(), String> {
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "object" {
        return Err(format!(
            "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."
        ));
    }
    walk(schema, &mut Vec::new())
}

fn walk(schema: &Value, context: &mut Vec<String>) -> Result<(), String> {
    let Some(fields) = schema.as_object() else {
        return Ok(());
    };
    if let Some(keyword) = UNSUPPORTED.iter().find(|k| fields.contains_key(**k)) {
        return Err(format!(
            "In context={}, '{keyword}' is not permitted.",
            place(context)
        ));
    }
    let is_object = match fields.get("type") {
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        _ => fields.contains_key("properties"),
    };
    if is_object {
        if fields.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Err(format!(
                "In context={}, 'additionalProperties' is required to be supplied and to be false.",
                place(context)
            ));
        }
        let required: Vec<&str> = fields
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = fields.get("properties").and_then(Value::as_object);
        if let Some(missing) = properties
            .into_iter()
            .flat_map(|properties| properties.keys())
            .find(|name| !required.contains(&name.as_str()))
        {
            return Err(format!(
                "In context={}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'.",
                place(context)
            ));
        }
        for (name, property) in properties.into_iter().flatten() {
            context.extend(["properties".to_string(), name.clone()]);
            walk(property, context)?;
            context.truncate(context.len() - 2);
        }
    }
    if let Some(items) = fields.get("items") {
        context.push("items".into());
        walk(items, context)?;
        context.pop();
    }
    for list in ["anyOf", "oneOf"] {
        for (index, entry) in fields
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            context.extend([list.to_string(), index.to_string()]);
            walk(entry, context)?;
            context.truncate(context.len() - 2);
        }
    }
    for defs in ["$defs", "definitions"] {
        for (name, entry) in fields
            .get(defs)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            context.extend([defs.to_string(), name.clone()]);
            walk(entry, context)?;
            context.truncate(context.len() - 2);
        }
    }
    Ok(())
}

/// A Python tuple of the path, as OpenAI prints it: `()`, `('items',)`, `('a', 'b')`.
fn place(context: &[String]) -> String {
    let quoted: Vec<String> = context.iter().map(|part| format!("'{part}'")).collect();
    match quoted.len() {
        0 => "()".into(),
        1 => format!("({},)", quoted[0]),
        _ => format!("({})", quoted.join(", ")),
    }
}
