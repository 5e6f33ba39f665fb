//! serde's error messages in plain words: "invalid type: string \"four\", expected
//! usize" becomes "limits.max_running_jobs: expected a whole number, like 4", an unknown
//! key gets a "did you mean", and each kind of value shows the forms it accepts.

use super::document::{Found, Literal, Part};

/// An error message for operators, with an optional line under the caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// The first line of the error (after `file:line:column:`).
    pub message: String,
    /// Accepted forms, the keys a table takes, or how to fix the value.
    pub help: Option<String>,
}

/// Rewrites one serde/toml message about the key `found` (when the error's span was
/// found in the file). `home` names the section(s) that do know a key, for keys written
/// in the wrong one.
pub fn explain(
    message: &str,
    found: Option<&Found>,
    home: &dyn Fn(&str) -> Option<String>,
) -> Plain {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return unknown_key(rest, found, home);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        return unknown_variant(rest, found);
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        let field = field.trim_matches('`');
        let table = found.map_or_else(|| "the file".to_owned(), |found| section(&found.path));
        return Plain {
            message: format!("{table} needs `{field}`"),
            help: Some(format!("add a line `{field} = …` to it")),
        };
    }
    let expected = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.rsplit_once(", expected "))
        .map(|(_, expected)| expected);
    if let (Some(expected), Some(found)) = (expected, found) {
        let (kind, help) = kind(expected, found);
        return Plain {
            message: format!("{}: expected {kind}", display_path(&found.path)),
            help,
        };
    }
    Plain {
        message: match found {
            Some(found) => format!("{}: {message}", display_path(&found.path)),
            None => message.to_owned(),
        },
        help: None,
    }
}

/// A TOML syntax error in plain words; `spanned` is the text the error points at.
pub fn syntax(message: &str, spanned: &str) -> String {
    let message = message.trim();
    if message == "duplicate key" && !spanned.is_empty() {
        return format!("`{spanned}` is set twice in the same table: keep one");
    }
    message.to_owned()
}

/// `routes.1.pipeline` as `routes[1].pipeline`.
pub fn display_path(path: &str) -> String {
    let mut shown = String::new();
    for segment in path.split('.') {
        if segment.parse::<usize>().is_ok() {
            shown.push_str(&format!("[{segment}]"));
        } else {
            if !shown.is_empty() {
                shown.push('.');
            }
            shown.push_str(segment);
        }
    }
    shown
}

/// The table a key sits in, as its header is written: `[limits]`, `[[routes]]`,
/// `[providers.gemini]`, or "the top level".
fn section(path: &str) -> String {
    if path.is_empty() {
        return "the top level".to_owned();
    }
    let array = path
        .rsplit('.')
        .next()
        .is_some_and(|last| last.parse::<usize>().is_ok());
    let name: Vec<&str> = path
        .split('.')
        .filter(|segment| segment.parse::<usize>().is_err())
        .collect();
    if array {
        format!("[[{}]]", name.join("."))
    } else {
        format!("[{}]", name.join("."))
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('.').map_or("", |(parent, _)| parent)
}

/// The names between backticks in `text`, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The known name closest to `wrong`, when it is close enough to be a typo.
pub fn closest<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    let normalize = |name: &str| name.to_ascii_lowercase().replace('-', "_");
    let wrong = normalize(wrong);
    known
        .iter()
        .map(|name| {
            let name_normalized = normalize(name);
            let distance = strsim::damerau_levenshtein(&wrong, &name_normalized);
            let similarity = strsim::normalized_damerau_levenshtein(&wrong, &name_normalized);
            (distance, similarity, *name)
        })
        .filter(|(distance, similarity, _)| *distance <= 2 || *similarity >= 0.7)
        .min_by_key(|(distance, _, _)| *distance)
        .map(|(_, _, name)| name)
}

fn unknown_key(rest: &str, found: Option<&Found>, home: &dyn Fn(&str) -> Option<String>) -> Plain {
    let names = backticked(rest);
    let Some((wrong, known)) = names.split_first() else {
        return Plain {
            message: format!("unknown key {rest}"),
            help: None,
        };
    };
    let table_path = found.map_or("", |found| parent(&found.path));
    let top = table_path.is_empty();
    let is_table = found.is_some_and(|found| found.part == Part::Key && found.value.is_none());
    let shown = |name: &str| match name {
        "routes" if top => "[[routes]]".to_owned(),
        "providers" if top => "[providers.NAME]".to_owned(),
        name if top => format!("[{name}]"),
        name => format!("`{name}`"),
    };
    let what = if top && is_table {
        format!("unknown section [{wrong}]")
    } else if top {
        format!("unknown key `{wrong}` at the top level")
    } else {
        format!("unknown key `{wrong}` in {}", section(table_path))
    };
    // A key of another section, written exactly, is more likely misplaced than misspelt.
    let suggestion = match (home(wrong), closest(wrong, known)) {
        (Some(home), _) => format!(": it belongs in {home}"),
        (None, Some(near)) => format!(": did you mean {}?", shown(near)),
        (None, None) => String::new(),
    };
    let listed: Vec<String> = known.iter().map(|name| shown(name)).collect();
    let help = if known.is_empty() {
        format!("{} takes no keys", section(table_path))
    } else if top {
        format!("the sections are {}", listed.join(", "))
    } else {
        format!("{} takes {}", section(table_path), listed.join(", "))
    };
    Plain {
        message: format!("{what}{suggestion}"),
        help: Some(help),
    }
}

fn unknown_variant(rest: &str, found: Option<&Found>) -> Plain {
    let names = backticked(rest);
    let Some((wrong, known)) = names.split_first() else {
        return Plain {
            message: format!("unknown value {rest}"),
            help: None,
        };
    };
    let key = found.map_or_else(String::new, |found| {
        format!("{}: ", display_path(&found.path))
    });
    let suggestion = closest(wrong, known)
        .map(|near| format!(": did you mean \"{near}\"?"))
        .unwrap_or_default();
    let choices: Vec<String> = known.iter().map(|name| format!("\"{name}\"")).collect();
    Plain {
        message: format!("{key}\"{wrong}\" is not a choice{suggestion}"),
        help: Some(format!("write one of {}", choices.join(", "))),
    }
}

/// What serde's `expected` means in plain words, and what to write instead.
fn kind(expected: &str, found: &Found) -> (String, Option<String>) {
    let key = found.path.rsplit('.').next().unwrap_or_default();
    let value = found.value.as_ref();
    let text = match value {
        Some(Literal::String(text)) => Some(text.trim()),
        _ => None,
    };
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            let (phrase, limit) = match expected {
                _ if key.ends_with("_percent") => {
                    ("a percentage from 0 to 100, like 90".to_owned(), None)
                }
                "u8" => ("a whole number from 0 to 255".to_owned(), None),
                "u16" => ("a whole number, like 4".to_owned(), Some(u64::from(u16::MAX))),
                "u32" => ("a whole number, like 4".to_owned(), Some(u64::from(u32::MAX))),
                _ => ("a whole number, like 4".to_owned(), None),
            };
            let help = match value {
                Some(Literal::String(text)) if text.trim().parse::<i64>().is_ok() => {
                    Some(format!("write it without quotes: {}", text.trim()))
                }
                Some(Literal::Float(_)) => Some("write it without a decimal point".to_owned()),
                Some(Literal::Integer(number)) if number.starts_with('-') && expected.starts_with('u') => {
                    Some("it cannot be negative".to_owned())
                }
                Some(Literal::Integer(_)) => limit.map(|limit| format!("at most {limit}")),
                _ => None,
            };
            (phrase, help)
        }
        "f32" | "f64" => (
            "a number, like 0.5".to_owned(),
            text.filter(|text| text.parse::<f64>().is_ok())
                .map(|text| format!("write it without quotes: {text}")),
        ),
        "a boolean" => (
            "true or false".to_owned(),
            text.map(|_| "write true or false without quotes".to_owned()),
        ),
        "a duration" => {
            let bare = match value {
                Some(Literal::String(text)) if text.trim().parse::<f64>().is_ok() => Some(text.trim()),
                Some(Literal::Integer(number) | Literal::Float(number)) => Some(number.as_str()),
                _ => None,
            };
            (
                "a duration like 30s or 5m".to_owned(),
                Some(match bare {
                    Some(number) => format!(
                        "a duration needs its unit, in quotes: \"{number}s\" (units: ms, s, m, h, d)"
                    ),
                    None => "durations: \"500ms\", \"30s\", \"5m\", \"2h\", \"7d\", \"1h 30m\"".to_owned(),
                }),
            )
        }
        "parsable string" | "an integer or string" | "integer overflow" => (
            "a size like 4GiB or 512MiB".to_owned(),
            Some("sizes: \"512KiB\", \"64MiB\", \"4GiB\", \"1TiB\" (or \"4GB\" for powers of 1000); a bare whole number counts bytes".to_owned()),
        ),
        "a string" | "a borrowed string" | "string" => (
            "text in quotes".to_owned(),
            Some("put the value in double quotes: \"…\"".to_owned()),
        ),
        "path string" => (
            "a path in quotes, like \"/var/lib/chute\"".to_owned(),
            None,
        ),
        "a sequence" => (
            "a list in brackets, like [\"a\", \"b\"]".to_owned(),
            (!found.path.contains('.'))
                .then(|| format!("or write each entry as a [[{}]] table", found.path)),
        ),
        expected if expected.starts_with("struct ") || expected == "a map" => {
            let header = section(&found.path);
            (
                format!("a table ({header})"),
                Some(format!("write {header} on a line of its own, then its keys below it")),
            )
        }
        expected => (expected.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(path: &str, part: Part, value: Option<Literal>) -> Found {
        Found {
            path: path.to_owned(),
            part,
            value,
        }
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_key_set_twice_is_named() {
        assert_eq!(
            syntax("duplicate key", "max_running_jobs"),
            "`max_running_jobs` is set twice in the same table: keep one"
        );
        assert_eq!(
            syntax("unclosed table, expected `]`", ""),
            "unclosed table, expected `]`"
        );
    }

    #[test]
    fn paths_and_sections_read_as_written() {
        assert_eq!(display_path("routes.1.pipeline"), "routes[1].pipeline");
        assert_eq!(section("routes.1"), "[[routes]]");
        assert_eq!(section("providers.gemini"), "[providers.gemini]");
        assert_eq!(section(""), "the top level");
    }

    #[test]
    fn typos_are_close_and_strangers_are_not() {
        let known = ["max_running_jobs", "max_queue_depth", "claim_batch"];
        assert_eq!(closest("max_runing_jobs", &known), Some("max_running_jobs"));
        assert_eq!(
            closest("Max-Running-Jobs", &known),
            Some("max_running_jobs")
        );
        assert_eq!(closest("bogus", &known), None);
        let pipelines = ["sales-video", "transcribe", "passthrough", "generate"];
        assert_eq!(closest("passthru", &pipelines), Some("passthrough"));
    }

    #[test]
    fn unknown_keys_and_sections() {
        let plain = explain(
            "unknown field `max_runing_jobs`, expected one of `max_running_jobs`, `claim_batch`",
            Some(&found(
                "limits.max_runing_jobs",
                Part::Key,
                Some(Literal::Integer("3".into())),
            )),
            &none,
        );
        assert_eq!(
            plain.message,
            "unknown key `max_runing_jobs` in [limits]: did you mean `max_running_jobs`?"
        );
        assert_eq!(
            plain.help.as_deref(),
            Some("[limits] takes `max_running_jobs`, `claim_batch`")
        );
        let plain = explain(
            "unknown field `limts`, expected one of `limits`, `routes`",
            Some(&found("limts", Part::Key, None)),
            &none,
        );
        assert_eq!(
            plain.message,
            "unknown section [limts]: did you mean [limits]?"
        );
        assert_eq!(
            plain.help.as_deref(),
            Some("the sections are [limits], [[routes]]")
        );
        let plain = explain(
            "unknown field `settle`, expected `claim_batch`",
            Some(&found("limits.settle", Part::Key, None)),
            &|key| (key == "settle").then(|| "[watch]".to_owned()),
        );
        assert_eq!(
            plain.message,
            "unknown key `settle` in [limits]: it belongs in [watch]"
        );
    }

    #[test]
    fn values_of_the_wrong_kind_say_what_to_write() {
        let cases = [
            (
                "invalid type: string \"four\", expected usize",
                "limits.max_running_jobs",
                Literal::String("four".into()),
                "limits.max_running_jobs: expected a whole number, like 4",
                None,
            ),
            (
                "invalid type: string \"4\", expected usize",
                "limits.max_running_jobs",
                Literal::String("4".into()),
                "limits.max_running_jobs: expected a whole number, like 4",
                Some("write it without quotes: 4"),
            ),
            (
                "invalid type: floating point `2.5`, expected usize",
                "limits.max_running_jobs",
                Literal::Float("2.5".into()),
                "limits.max_running_jobs: expected a whole number, like 4",
                Some("write it without a decimal point"),
            ),
            (
                "invalid value: integer `-3`, expected usize",
                "limits.claim_batch",
                Literal::Integer("-3".into()),
                "limits.claim_batch: expected a whole number, like 4",
                Some("it cannot be negative"),
            ),
            (
                "invalid value: integer `300`, expected u8",
                "disk.pause_percent",
                Literal::Integer("300".into()),
                "disk.pause_percent: expected a percentage from 0 to 100, like 90",
                None,
            ),
            (
                "invalid value: string \"30\", expected a duration",
                "limits.shutdown_grace",
                Literal::String("30".into()),
                "limits.shutdown_grace: expected a duration like 30s or 5m",
                Some("a duration needs its unit, in quotes: \"30s\" (units: ms, s, m, h, d)"),
            ),
            (
                "invalid value: string \"4 gigs\", expected parsable string",
                "native.model_budget",
                Literal::String("4 gigs".into()),
                "native.model_budget: expected a size like 4GiB or 512MiB",
                Some(
                    "sizes: \"512KiB\", \"64MiB\", \"4GiB\", \"1TiB\" (or \"4GB\" for powers of 1000); a bare whole number counts bytes",
                ),
            ),
            (
                "invalid type: string \"yes\", expected a boolean",
                "spool.fsync",
                Literal::String("yes".into()),
                "spool.fsync: expected true or false",
                Some("write true or false without quotes"),
            ),
        ];
        for (serde, path, value, message, help) in cases {
            let plain = explain(serde, Some(&found(path, Part::Value, Some(value))), &none);
            assert_eq!(plain.message, message, "{serde}");
            assert_eq!(plain.help.as_deref(), help, "{serde}");
        }
        let plain = explain(
            "unknown variant `passthru`, expected one of `sales-video`, `passthrough`",
            Some(&found(
                "routes.0.pipeline",
                Part::Value,
                Some(Literal::String("passthru".into())),
            )),
            &none,
        );
        assert_eq!(
            plain.message,
            "routes[0].pipeline: \"passthru\" is not a choice: did you mean \"passthrough\"?"
        );
        assert_eq!(
            plain.help.as_deref(),
            Some("write one of \"sales-video\", \"passthrough\"")
        );
        let plain = explain(
            "invalid type: integer `3`, expected struct LimitsConfig",
            Some(&found(
                "limits",
                Part::Value,
                Some(Literal::Integer("3".into())),
            )),
            &none,
        );
        assert_eq!(plain.message, "limits: expected a table ([limits])");
    }
}
