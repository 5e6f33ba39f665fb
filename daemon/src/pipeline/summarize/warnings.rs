//! The notes a delivered summary carries in result.json (the summarize stage's
//! `outputs.warnings`, listed among the job's `warnings`): answers kept despite failed
//! checks, named by cause with the remedy, and recordings with nothing to summarize.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::models::catalog;
use crate::summary::quality::{Cause, Defect};

/// Details quoted per cause (the rest are counted).
const DETAILS_PER_CAUSE: usize = 3;

/// The larger models suggested, smallest first.
const LARGER_MODELS: [&str; 2] = ["qwen2.5-1.5b-instruct", "qwen2.5-3b-instruct"];

/// One warning per cause of the defects an accepted summary still had, each naming the
/// remedy: a larger model from the catalog (not the one in use), and the template for
/// capable models once it is there.
pub fn quality_warnings(defects: &[Defect], models: &Path, model: &Path) -> Vec<Value> {
    let mut by_cause: BTreeMap<Cause, Vec<&Defect>> = BTreeMap::new();
    for defect in defects {
        by_cause.entry(defect.cause).or_default().push(defect);
    }
    let hint = remedy(models, model);
    by_cause
        .into_iter()
        .map(|(cause, defects)| {
            let mut details: Vec<String> = defects
                .iter()
                .take(DETAILS_PER_CAUSE)
                .map(ToString::to_string)
                .collect();
            if defects.len() > DETAILS_PER_CAUSE {
                details.push(format!("{} more", defects.len() - DETAILS_PER_CAUSE));
            }
            json!({
                "cause": cause.name(),
                "reason": format!(
                    "summary.json is the best of the model's answers but still poor: {} ({})",
                    cause.explain(),
                    details.join("; ")
                ),
                "hint": hint,
            })
        })
        .collect()
}

/// What to do about answers a model cannot get right.
fn remedy(models: &Path, model: &Path) -> String {
    let current = catalog::at_path(models, model).map(|known| known.name);
    let larger = LARGER_MODELS
        .iter()
        .filter_map(|name| catalog::find(name))
        .find(|known| Some(known.name) != current);
    match larger {
        Some(larger) => format!(
            "use a larger model: `chute models pull {}`, then set summarize.model = \"{}\" (and, for more fields, summarize.template = \"config/summary-template-detailed.toml\")",
            larger.name, larger.path
        ),
        None => "use a larger model (`chute models list` shows them), or a template with fewer and shorter fields".to_owned(),
    }
}

/// The note of a recording with nothing to summarize.
pub fn nothing_to_summarize(reason: &str) -> Value {
    json!({
        "cause": "nothing_to_summarize",
        "reason": reason,
        "hint": "no summary.json is written for a recording without speech; the transcript is delivered as heard",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defect(cause: Cause, field: &str) -> Defect {
        Defect {
            cause,
            field: field.to_owned(),
            detail: "\"…\"".to_owned(),
        }
    }

    #[test]
    fn one_warning_per_cause_naming_a_larger_model() {
        let models = Path::new("/models");
        let defects = [
            defect(Cause::CutOff, "summary"),
            defect(Cause::CopiedTemplate, "title"),
            defect(Cause::CutOff, "key_points"),
        ];
        let warnings = quality_warnings(
            &defects,
            models,
            Path::new("gguf/SmolLM2-135M-Instruct.Q4_1.gguf"),
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!(warnings[0]["cause"], "copied_template");
        assert_eq!(warnings[1]["cause"], "cut_off");
        let reason = warnings[1]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("cut_off in summary") && reason.contains("cut_off in key_points"),
            "{reason}"
        );
        let hint = warnings[0]["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains("chute models pull qwen2.5-1.5b-instruct"),
            "{hint}"
        );
        // Already on the 1.5B model: the next one up.
        let warnings = quality_warnings(
            &defects,
            models,
            Path::new("gguf/qwen2.5-1.5b-instruct-q4_k_m.gguf"),
        );
        let hint = warnings[0]["hint"].as_str().unwrap_or_default();
        assert!(
            hint.contains("chute models pull qwen2.5-3b-instruct"),
            "{hint}"
        );
    }
}
