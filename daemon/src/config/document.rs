//! The parsed file with the place of every key and value, so an error found by serde or
//! by a section's own checks can point at the line it is about.
//!
//! Keys are named by dotted paths as operators write them (`limits.max_running_jobs`);
//! an entry of an array is named by its index (`routes.1.name` is the `name` of the
//! second `[[routes]]`).

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A parsed configuration file with spans.
pub struct Document<'i> {
    root: Spanned<DeTable<'i>>,
}

/// Where a span was found: on a key, or on the value written after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The key itself (`max_runing_jobs` in `max_runing_jobs = 3`).
    Key,
    /// The value after `=` (or a whole table or array entry).
    Value,
}

/// The key an error span belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Dotted path of the key (array entries by index).
    pub path: String,
    /// Whether the span was the key or its value.
    pub part: Part,
    /// The value, rendered as written in TOML when it is a plain value (not a table).
    pub value: Option<Literal>,
}

/// A plain value as written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A quoted string (its text, unquoted).
    String(String),
    /// An integer, as written.
    Integer(String),
    /// A float, as written.
    Float(String),
    /// `true` or `false`.
    Boolean(bool),
    /// Anything else (dates, arrays).
    Other,
}

impl<'i> Document<'i> {
    /// Parses TOML text, keeping the spans.
    pub fn parse(text: &'i str) -> Result<Self, toml::de::Error> {
        DeTable::parse(text).map(|root| Self { root })
    }

    /// A deserializer for the whole document (the document is kept for locating).
    pub fn deserializer(&self) -> toml::de::Deserializer<'i> {
        toml::de::Deserializer::from(self.root.clone())
    }

    /// The key whose key or value has exactly `span` (the innermost one).
    pub fn find(&self, span: &Range<usize>) -> Option<Found> {
        find_in_table(self.root.get_ref(), "", span)
    }

    /// The span of the value of the key at `path`, or of the key itself when `part` is
    /// [`Part::Key`]; `None` when the file does not write that key.
    pub fn span_of(&self, path: &str, part: Part) -> Option<Range<usize>> {
        let mut segments = path.split('.');
        let first = segments.next()?;
        let (mut key, mut value) = entry(self.root.get_ref(), first)?;
        for segment in segments {
            match value.get_ref() {
                DeValue::Table(table) => {
                    (key, value) = entry(table, segment)?;
                }
                DeValue::Array(items) => {
                    let index: usize = segment.parse().ok()?;
                    value = items.get(index)?;
                    key = value.span();
                }
                _ => return None,
            }
        }
        Some(match part {
            Part::Key => key,
            Part::Value => value.span(),
        })
    }
}

/// The span of `name`'s key and its value in `table`.
fn entry<'a, 'i>(
    table: &'a DeTable<'i>,
    name: &str,
) -> Option<(Range<usize>, &'a Spanned<DeValue<'i>>)> {
    table
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == name)
        .map(|(key, value)| (key.span(), value))
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn find_in_table(table: &DeTable<'_>, prefix: &str, span: &Range<usize>) -> Option<Found> {
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        if let Some(found) = find_in_value(value, &path, span) {
            return Some(found);
        }
        if key.span() == *span {
            return Some(Found {
                path,
                part: Part::Key,
                value: literal(value.get_ref()),
            });
        }
    }
    None
}

fn find_in_value(value: &Spanned<DeValue<'_>>, path: &str, span: &Range<usize>) -> Option<Found> {
    // Inner keys first: a table's span may equal the span of its only key's header.
    let inner = match value.get_ref() {
        DeValue::Table(table) => find_in_table(table, path, span),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| find_in_value(item, &join(path, &index.to_string()), span)),
        _ => None,
    };
    inner.or_else(|| {
        (value.span() == *span).then(|| Found {
            path: path.to_owned(),
            part: Part::Value,
            value: literal(value.get_ref()),
        })
    })
}

fn literal(value: &DeValue<'_>) -> Option<Literal> {
    Some(match value {
        DeValue::String(text) => Literal::String(text.to_string()),
        DeValue::Integer(integer) => Literal::Integer(integer.as_str().to_owned()),
        DeValue::Float(float) => Literal::Float(float.as_str().to_owned()),
        DeValue::Boolean(boolean) => Literal::Boolean(*boolean),
        DeValue::Table(_) => return None,
        DeValue::Datetime(_) | DeValue::Array(_) => Literal::Other,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = "[limits]\nmax_running_jobs = \"four\"\n\n[[routes]]\nname = \"a\"\n\n[[routes]]\nname = \"b\"\n";

    #[test]
    fn paths_and_spans_go_both_ways() {
        let document = Document::parse(TEXT).unwrap();
        let span = document
            .span_of("limits.max_running_jobs", Part::Value)
            .unwrap();
        assert_eq!(&TEXT[span.clone()], "\"four\"");
        let found = document.find(&span).unwrap();
        assert_eq!(found.path, "limits.max_running_jobs");
        assert_eq!(found.part, Part::Value);
        assert_eq!(found.value, Some(Literal::String("four".into())));

        let name = document.span_of("routes.1.name", Part::Value).unwrap();
        assert_eq!(&TEXT[name.clone()], "\"b\"");
        assert_eq!(document.find(&name).unwrap().path, "routes.1.name");
        let key = document.span_of("routes.1.name", Part::Key).unwrap();
        assert_eq!(&TEXT[key.clone()], "name");
        assert_eq!(document.find(&key).unwrap().part, Part::Key);

        assert_eq!(document.span_of("limits.claim_batch", Part::Value), None);
        assert_eq!(document.span_of("routes.7.name", Part::Value), None);
    }
}
