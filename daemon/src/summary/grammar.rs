//! GBNF grammars for llama.cpp, generated from a JSON schema.
//!
//! Supported: objects (keys in `required` order, no extra keys), strings with
//! `maxLength` (+ `minLength` 0 or 1), `const` and `enum` strings, and arrays of such
//! strings with `minItems`/`maxItems`. The output is compact JSON. `uniqueItems` is
//! honoured by the grammar for arrays of `enum` values (which then come in the enum's
//! order); for free strings no grammar of sane size can, so it is checked after parsing.
//!
//! Lengths are capped in UTF-8 **bytes** (a `maxLength` of N allows N bytes, so never more
//! than N characters). A token always adds at least one byte (llama.cpp's grammar refuses
//! empty pieces), so [`Grammar::max_bytes`] tokens always suffice: generation can never
//! stop half-way through the JSON.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

/// A generated grammar.
#[derive(Debug, Clone)]
pub struct Grammar {
    /// The GBNF text (root rule `root`).
    pub text: String,
    /// Longest output the grammar allows, in bytes.
    pub max_bytes: u32,
}

/// Characters inside a JSON string, by encoded length. `c1` is printable ASCII except
/// `"` and `\`; `c1f` also excludes the space (no leading blanks).
const CHAR_RULES: &str = r#"c1 ::= [ !#-\[\]-~]
c1f ::= [!#-\[\]-~]
c2 ::= [\u0080-\u07FF]
c3 ::= [\u0800-\uFFFF]
c4 ::= [\U00010000-\U0010FFFF]
esc ::= "\\" ["\\/nt]
"#;

/// Most enum values an array of unique choices may offer (its grammar grows with the
/// square of this).
const MAX_UNIQUE_CHOICES: u32 = 32;

struct Builder {
    rules: Vec<String>,
    /// Lengths `n` for which `s{n}` (0..n bytes of string content) is needed.
    string_lengths: BTreeSet<u32>,
}

/// Generates the grammar for `schema`.
pub fn from_schema(schema: &Value) -> Result<Grammar, String> {
    let mut builder = Builder {
        rules: Vec::new(),
        string_lengths: BTreeSet::new(),
    };
    let (root, max_bytes) = builder.value(schema, "root")?;
    let mut text = format!("root ::= {root}\n");
    for rule in &builder.rules {
        text.push_str(rule);
        text.push('\n');
    }
    text.push_str(CHAR_RULES);
    if let Some(&longest) = builder.string_lengths.iter().next_back() {
        text.push_str(&string_rules(longest));
    }
    Ok(Grammar { text, max_bytes })
}

impl Builder {
    /// Returns the expression for `schema` and its longest output in bytes.
    fn value(&mut self, schema: &Value, name: &str) -> Result<(String, u32), String> {
        if let Some(constant) = schema.get("const") {
            let literal = json_literal(constant)?;
            return Ok((gbnf_literal(&literal), literal.len() as u32));
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            let literals = options
                .iter()
                .map(json_literal)
                .collect::<Result<Vec<_>, _>>()?;
            if literals.is_empty() {
                return Err(format!("{name}: empty enum"));
            }
            let longest = literals.iter().map(String::len).max().unwrap_or(0) as u32;
            let alternatives: Vec<_> = literals.iter().map(|l| gbnf_literal(l)).collect();
            return Ok((format!("( {} )", alternatives.join(" | ")), longest));
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => self.object(schema, name),
            Some("string") => self.string(schema, name),
            Some("array") => self.array(schema, name),
            other => Err(format!("{name}: unsupported schema type {other:?}")),
        }
    }

    fn object(&mut self, schema: &Value, name: &str) -> Result<(String, u32), String> {
        let properties = schema
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{name}: an object needs properties"))?;
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if required.len() != properties.len() || required.is_empty() {
            return Err(format!(
                "{name}: every property must be required (listed once in `required`)"
            ));
        }
        let mut parts = Vec::new();
        let mut max_bytes = 2 + required.len() as u32 - 1; // braces and commas
        for key in required {
            let property = properties
                .get(key)
                .ok_or_else(|| format!("{name}: required key {key:?} has no property"))?;
            let rule = format!("{name}-{}", key.replace('_', "-"));
            let (expression, bytes) = self.value(property, &rule)?;
            self.rules.push(format!("{rule} ::= {expression}"));
            let key_literal = json_literal(&Value::String(key.to_owned()))?;
            max_bytes += key_literal.len() as u32 + 1 + bytes;
            parts.push(format!("{} \":\" {rule}", gbnf_literal(&key_literal)));
        }
        Ok((
            format!("\"{{\" {} \"}}\"", parts.join(" \",\" ")),
            max_bytes,
        ))
    }

    fn string(&mut self, schema: &Value, name: &str) -> Result<(String, u32), String> {
        let max = schema
            .get("maxLength")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                format!("{name}: strings need maxLength (the output must be bounded)")
            })?;
        let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
        if min > 1 || !(1..=100_000).contains(&max) {
            return Err(format!(
                "{name}: supported string lengths are minLength 0 or 1 and maxLength 1..100000"
            ));
        }
        let max = max as u32;
        let body = if min == 1 {
            self.non_empty(max)
        } else {
            self.string_lengths.insert(max);
            format!("s{max}")
        };
        Ok((format!("\"\\\"\" {body} \"\\\"\""), max + 2))
    }

    /// One or more bytes, at most `max`, not starting with a space.
    fn non_empty(&mut self, max: u32) -> String {
        let mut alternatives = Vec::new();
        for (first, width) in [("c1f", 1), ("c2", 2), ("esc", 2), ("c3", 3), ("c4", 4)] {
            if width > max {
                continue;
            }
            if width == max {
                alternatives.push(first.to_owned());
            } else {
                self.string_lengths.insert(max - width);
                alternatives.push(format!("{first} s{}", max - width));
            }
        }
        format!("( {} )", alternatives.join(" | "))
    }

    fn array(&mut self, schema: &Value, name: &str) -> Result<(String, u32), String> {
        let items = schema
            .get("items")
            .ok_or_else(|| format!("{name}: an array needs items"))?;
        let max_items = schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("{name}: arrays need maxItems (the output must be bounded)"))?
            as u32;
        let min_items = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as u32;
        if min_items > max_items || max_items == 0 || max_items > 1000 {
            return Err(format!("{name}: need minItems <= maxItems <= 1000"));
        }
        let unique = schema.get("uniqueItems").and_then(Value::as_bool) == Some(true);
        if let (true, Some(options)) = (unique, items.get("enum").and_then(Value::as_array)) {
            return self.unique_choices(name, options, min_items, max_items);
        }
        // Free strings cannot be kept distinct by a context-free grammar of sane size:
        // `uniqueItems` on them is enforced after parsing (and discouraged by the
        // worker's repetition penalties).
        let item = format!("{name}-item");
        let (expression, item_bytes) = self.value(items, &item)?;
        self.rules.push(format!("{item} ::= {expression}"));
        // Items after the first: `rest{k}` allows up to k more, each after a comma.
        let mut expression = String::from("\"[\" ");
        let optional_after = if min_items == 0 {
            // ( item rest{max-1} )?
            let rest = self.rest_rule(name, &item, max_items - 1);
            let _ = write!(expression, "( {item} {rest} )?");
            0
        } else {
            let _ = write!(expression, "{item}");
            for _ in 1..min_items {
                let _ = write!(expression, " \",\" {item}");
            }
            max_items - min_items
        };
        if min_items > 0 && optional_after > 0 {
            let rest = self.rest_rule(name, &item, optional_after);
            let _ = write!(expression, " {rest}");
        }
        expression.push_str(" \"]\"");
        let max_bytes = 2 + max_items * item_bytes + (max_items - 1);
        Ok((expression, max_bytes))
    }

    /// An array of distinct `enum` values: the values come in the enum's order, so none
    /// can come twice. `{name}-u{i}-{c}` continues after value `i` as item number `c`;
    /// a value is offered only while enough later ones remain to reach `min_items`.
    fn unique_choices(
        &mut self,
        name: &str,
        options: &[Value],
        min_items: u32,
        max_items: u32,
    ) -> Result<(String, u32), String> {
        let literals = options
            .iter()
            .map(json_literal)
            .collect::<Result<Vec<_>, _>>()?;
        let count = literals.len() as u32;
        if count == 0 || count > MAX_UNIQUE_CHOICES {
            return Err(format!(
                "{name}: unique items from an enum need 1 to {MAX_UNIQUE_CHOICES} values"
            ));
        }
        let max_items = max_items.min(count);
        if min_items > max_items {
            return Err(format!(
                "{name}: minItems is more than the enum's distinct values"
            ));
        }
        // Value `j` as item number `c` can still reach `min_items` items.
        let reachable = |j: u32, c: u32| c >= min_items || min_items - c < count - j;
        // Which continuation rules are non-empty, built from the last item backwards.
        let mut exists = std::collections::BTreeSet::new();
        for c in (1..max_items).rev() {
            for i in 0..count {
                let alternatives: Vec<String> = (i + 1..count)
                    .filter(|&j| reachable(j, c + 1))
                    .map(|j| {
                        let mut alternative = gbnf_literal(&literals[j as usize]);
                        if exists.contains(&(j, c + 1)) {
                            let _ = write!(alternative, " {name}-u{j}-{}", c + 1);
                        }
                        alternative
                    })
                    .collect();
                if alternatives.is_empty() {
                    continue;
                }
                let optional = if c >= min_items { "?" } else { "" };
                self.rules.push(format!(
                    "{name}-u{i}-{c} ::= ( \",\" ( {} ) ){optional}",
                    alternatives.join(" | ")
                ));
                exists.insert((i, c));
            }
        }
        let first: Vec<String> = (0..count)
            .filter(|&i| reachable(i, 1))
            .map(|i| {
                let mut alternative = gbnf_literal(&literals[i as usize]);
                if exists.contains(&(i, 1)) {
                    let _ = write!(alternative, " {name}-u{i}-1");
                }
                alternative
            })
            .collect();
        let optional = if min_items == 0 { "?" } else { "" };
        let longest = literals.iter().map(String::len).max().unwrap_or(0) as u32;
        Ok((
            format!("\"[\" ( {} ){optional} \"]\"", first.join(" | ")),
            2 + max_items * longest + max_items.saturating_sub(1),
        ))
    }

    /// `{name}-rest{k}`: up to k more items, each preceded by a comma.
    fn rest_rule(&mut self, name: &str, item: &str, count: u32) -> String {
        if count == 0 {
            return String::new();
        }
        for k in 1..=count {
            let tail = if k == 1 {
                String::new()
            } else {
                format!(" {name}-rest{}", k - 1)
            };
            self.rules
                .push(format!("{name}-rest{k} ::= ( \",\" {item}{tail} )?"));
        }
        format!("{name}-rest{count}")
    }
}

/// `s1` … `s{longest}`: zero up to that many bytes of string content.
fn string_rules(longest: u32) -> String {
    let mut text = String::new();
    for n in 1..=longest {
        let mut alternatives = Vec::new();
        for (class, width) in [("c1", 1), ("c2", 2), ("esc", 2), ("c3", 3), ("c4", 4)] {
            match n.cmp(&width) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => alternatives.push(class.to_owned()),
                std::cmp::Ordering::Greater => alternatives.push(format!("{class} s{}", n - width)),
            }
        }
        let _ = writeln!(text, "s{n} ::= ( {} )?", alternatives.join(" | "));
    }
    text
}

/// The compact JSON text of a constant.
fn json_literal(value: &Value) -> Result<String, String> {
    serde_json::to_string(value).map_err(|error| error.to_string())
}

/// A GBNF string literal matching `text` exactly.
fn gbnf_literal(text: &str) -> String {
    let mut literal = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(literal, "\\x{:02X}", c as u32);
            }
            c => literal.push(c),
        }
    }
    literal.push('"');
    literal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_keys_follow_required_order_and_bounds_add_up() {
        let schema = json!({
            "type": "object",
            "required": ["b_key", "a"],
            "properties": {
                "a": {"type": "string", "const": "en"},
                "b_key": {"type": "array", "minItems": 1, "maxItems": 2,
                          "items": {"type": "string", "minLength": 1, "maxLength": 3}},
            }
        });
        let grammar = from_schema(&schema).expect("grammar");
        assert!(
            grammar.text.starts_with(
                "root ::= \"{\" \"\\\"b_key\\\"\" \":\" root-b-key \",\" \"\\\"a\\\"\" \":\" root-a \"}\""
            ),
            "{}",
            grammar.text
        );
        // {"b_key":["xyz","xyz"],"a":"en"} is the longest output: 33 bytes.
        let longest = r#"{"b_key":["xyz","xyz"],"a":"en"}"#;
        assert_eq!(grammar.max_bytes, longest.len() as u32);
        assert!(
            grammar
                .text
                .contains("root-b-key-rest1 ::= ( \",\" root-b-key-item )?")
        );
        assert!(grammar.text.contains("s2 ::= ( c1 s1 | c2 | esc )?"));
    }

    #[test]
    fn unbounded_schemas_are_refused() {
        let unbounded = json!({"type": "object", "required": ["a"],
            "properties": {"a": {"type": "string"}}});
        assert!(
            from_schema(&unbounded)
                .expect_err("refused")
                .contains("maxLength")
        );
        let list = json!({"type": "array", "items": {"type": "string", "maxLength": 3}});
        assert!(
            from_schema(&list)
                .expect_err("refused")
                .contains("maxItems")
        );
    }

    /// Unique choices come in the enum's order: `["b","a"]` and `["a","a"]` are out of
    /// the grammar's language, `["a","c"]` is in it.
    #[test]
    fn unique_enum_items_can_never_repeat() {
        let schema = json!({"type": "array", "uniqueItems": true, "minItems": 1,
            "maxItems": 2, "items": {"enum": ["a", "b", "c"]}});
        let grammar = from_schema(&schema).expect("grammar");
        assert!(
            grammar.text.starts_with(
                "root ::= \"[\" ( \"\\\"a\\\"\" root-u0-1 | \"\\\"b\\\"\" root-u1-1 | \"\\\"c\\\"\" ) \"]\"\n"
            ),
            "{}",
            grammar.text
        );
        assert!(
            grammar
                .text
                .contains("root-u0-1 ::= ( \",\" ( \"\\\"b\\\"\" | \"\\\"c\\\"\" ) )?"),
            "{}",
            grammar.text
        );
        assert!(!grammar.text.contains("root-u2-1"), "{}", grammar.text);
        assert_eq!(grammar.max_bytes, r#"["a","b"]"#.len() as u32);
        // Two of three at least: the last value cannot start the list.
        let schema = json!({"type": "array", "uniqueItems": true, "minItems": 2,
            "maxItems": 3, "items": {"enum": ["a", "b", "c"]}});
        let grammar = from_schema(&schema).expect("grammar");
        assert!(
            grammar.text.starts_with(
                "root ::= \"[\" ( \"\\\"a\\\"\" root-u0-1 | \"\\\"b\\\"\" root-u1-1 ) \"]\"\n"
            ),
            "{}",
            grammar.text
        );
        assert!(
            grammar
                .text
                .contains("root-u1-1 ::= ( \",\" ( \"\\\"c\\\"\" ) )\n")
        );
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(gbnf_literal("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
