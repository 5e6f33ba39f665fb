//! The fields a brief may have at each level, so an unknown one is answered with the
//! field it most likely meant (and the schema test can hold the JSON Schema to them).

use serde_json::Value;

/// Top-level fields.
pub const TOP: [&str; 12] = [
    "title",
    "product",
    "idea",
    "style",
    "duration_sec",
    "language",
    "aspect",
    "voice",
    "characters",
    "clip_mode",
    "music",
    "providers",
];

/// Fields of `product`.
pub const PRODUCT: [&str; 5] = ["name", "description", "selling_points", "price", "images"];

/// Fields of each of `characters`.
pub const CHARACTER: [&str; 4] = ["name", "role", "look", "photo"];

/// The first field of `brief` that is not a known one: its path and a message with the
/// closest known field.
pub fn first_unknown(brief: &Value) -> Option<(String, String)> {
    let Value::Object(top) = brief else {
        return None;
    };
    let mut levels: Vec<(String, &serde_json::Map<String, Value>, &[&str])> =
        vec![(String::new(), top, &TOP)];
    if let Some(Value::Object(product)) = top.get("product") {
        levels.push(("product.".to_owned(), product, &PRODUCT));
    }
    if let Some(Value::Array(characters)) = top.get("characters") {
        for (index, character) in characters.iter().enumerate() {
            if let Value::Object(character) = character {
                levels.push((format!("characters[{index}]."), character, &CHARACTER));
            }
        }
    }
    for (prefix, object, known) in levels {
        if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
            let path = format!("{prefix}{unknown}");
            let message = match closest(unknown, known) {
                Some(meant) => format!("unknown field: did you mean `{prefix}{meant}`?"),
                None => format!("unknown field (known here: {})", known.join(", ")),
            };
            return Some((path, message));
        }
    }
    None
}

/// The known field closest to `word`, when it is close enough to be a typo or a
/// shortening (`duration` for `duration_sec`).
fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|candidate| {
            let shortened = word.len() >= 4 && candidate.starts_with(word);
            let distance = if shortened {
                1
            } else {
                strsim::damerau_levenshtein(word, candidate)
            };
            (distance, *candidate)
        })
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_name_their_place_and_what_was_meant() {
        let brief = json!({"product": {"name": "x", "sellling_points": []}, "duration_sec": 30});
        assert_eq!(
            first_unknown(&brief),
            Some((
                "product.sellling_points".to_owned(),
                "unknown field: did you mean `product.selling_points`?".to_owned()
            ))
        );
        let brief = json!({"product": {"name": "x"}, "duration": 30});
        assert_eq!(
            first_unknown(&brief).map(|(_, message)| message),
            Some("unknown field: did you mean `duration_sec`?".to_owned())
        );
        let brief =
            json!({"product": {"name": "x"}, "characters": [{"name": "An", "colour": "red"}]});
        assert_eq!(
            first_unknown(&brief).map(|(path, _)| path),
            Some("characters[0].colour".to_owned())
        );
        assert_eq!(first_unknown(&json!({"product": {"name": "x"}})), None);
    }
}
