//! The checks after generation on real bad answers: the ones SmolLM2-135M gave in the
//! offline demo (copied field descriptions, JSON punctuation as list items, text cut
//! off at its cap, one sentence four times) and a good one.

use serde_json::{Value, json};

use super::*;
use crate::summary::{Checker, SYSTEM_PROMPT};

fn built_in() -> Template {
    Template::built_in()
}

fn inspect_value(value: &Value) -> Inspection {
    let template = built_in();
    inspect(
        &template,
        &CopySources::new(&template, SYSTEM_PROMPT),
        value,
    )
}

fn causes(inspection: &Inspection) -> Vec<(Cause, String)> {
    inspection
        .defects
        .iter()
        .map(|d| (d.cause, d.field.clone()))
        .collect()
}

fn good() -> Value {
    json!({
        "title": "Weekly planning: onboarding release",
        "summary": "The team agreed to ship the new onboarding flow on Friday. Maria sends the release note to sales by Thursday.",
        "key_points": ["Onboarding flow ships on Friday", "Maria sends the release note by Thursday"],
        "keywords": ["onboarding", "release note", "Maria"],
        "language": "en",
    })
}

#[test]
fn a_good_answer_passes_unchanged() {
    let inspection = inspect_value(&good());
    assert!(inspection.passed(), "{:?}", inspection.defects);
    assert_eq!(inspection.value, Some(good()));
    assert_eq!(inspection.dropped_repeats, 0);
}

/// "A Short, Specific Title (at most 80 characters)": the field description and the
/// prompt's cap, copied as the title.
#[test]
fn a_copied_field_description_is_refused() {
    let mut answer = good();
    answer["title"] = json!("A Short, Specific Title (at most 80 characters)");
    assert_eq!(
        causes(&inspect_value(&answer)),
        [(Cause::CopiedTemplate, "title".to_owned())]
    );
    let mut answer = good();
    answer["title"] = json!("Name the topic of the recording");
    assert_eq!(
        causes(&inspect_value(&answer)),
        [(Cause::CopiedTemplate, "title".to_owned())]
    );
    let mut answer = good();
    answer["key_points"] = json!([
        "Each a different point that was made",
        "Maria sends the note"
    ]);
    let inspection = inspect_value(&answer);
    assert_eq!(
        causes(&inspection),
        [(Cause::CopiedTemplate, "key_points".to_owned())]
    );
    // The copied item is removed from what would be delivered.
    assert_eq!(
        inspection.value.expect("parsed")["key_points"],
        json!(["Maria sends the note"])
    );
}

/// `","` and `"action_items:["` as list items: punctuation and JSON fragments.
#[test]
fn items_without_words_are_refused_and_removed() {
    let mut answer = good();
    answer["key_points"] = json!([",", "action_items:[", "Onboarding ships Friday"]);
    answer["keywords"] = json!(["\",\"", "onboarding", "...", "key_points"]);
    let inspection = inspect_value(&answer);
    assert_eq!(
        causes(&inspection),
        [
            (Cause::NoWords, "key_points".to_owned()),
            (Cause::NoWords, "key_points".to_owned()),
            (Cause::NoWords, "keywords".to_owned()),
            (Cause::NoWords, "keywords".to_owned()),
            (Cause::NoWords, "keywords".to_owned()),
        ]
    );
    let value = inspection.value.expect("parsed");
    assert_eq!(value["key_points"], json!(["Onboarding ships Friday"]));
    assert_eq!(value["keywords"], json!(["onboarding"]));
    let mut answer = good();
    answer["title"] = json!("\"}");
    assert_eq!(
        causes(&inspect_value(&answer)),
        [(Cause::NoWords, "title".to_owned())]
    );
}

/// Prose that stops mid-sentence, and an item that fills its whole cap.
#[test]
fn cut_off_text_is_refused() {
    let mut answer = good();
    answer["summary"] = json!("The new onboarding flow ships on Friday. The plan is to have a 30");
    let inspection = inspect_value(&answer);
    assert_eq!(causes(&inspection), [(Cause::CutOff, "summary".to_owned())]);
    assert!(
        inspection.defects[0].detail.contains("mid-sentence"),
        "{:?}",
        inspection.defects
    );
    let mut answer = good();
    // 120 bytes, the built-in cap of a key point, ending in "by the 1".
    let cut = "The new onboarding flow is going to be shipped on Friday and Maria will send the release note to the sales team by the 1";
    assert_eq!(cut.len(), 120);
    answer["key_points"] = json!([cut, "Maria sends the release note"]);
    let inspection = inspect_value(&answer);
    assert_eq!(
        causes(&inspection),
        [(Cause::CutOff, "key_points".to_owned())]
    );
    assert!(inspection.defects[0].detail.contains("cap of 120 bytes"));
    // An answer that did not even finish its JSON hit the token limit.
    let template = built_in();
    let checker = Checker::new(&template, "en").expect("checker");
    let inspection = checker.inspect("{\"title\":\"Weekly plan", StopReason::MaxTokens);
    assert_eq!(causes(&inspection), [(Cause::CutOff, String::new())]);
}

/// The demo's summary said one sentence four times (and its lists said little else):
/// the repeats are removed, and an answer that is mostly repeats is refused.
#[test]
fn a_cut_off_item_the_list_needs_is_kept_and_named() {
    // What SmolLM2 gave for a short clip: every keyword in one item, at the 24-byte cap.
    let mut answer = good();
    answer["keywords"] = json!(["budget, campaign, spring"]);
    let inspection = inspect_value(&answer);
    assert_eq!(
        causes(&inspection),
        [(Cause::CutOff, "keywords".to_owned())]
    );
    assert!(
        inspection.defects[0].detail.contains("item kept"),
        "{:?}",
        inspection.defects
    );
    let value = inspection.value.expect("parsed");
    assert_eq!(value["keywords"], json!(["budget, campaign, spring"]));
    // With a good item beside it, the list no longer needs the cut one.
    answer["keywords"] = json!(["budget, campaign, spring", "budget"]);
    let inspection = inspect_value(&answer);
    assert!(inspection.defects[0].detail.contains("item removed"));
    assert_eq!(
        inspection.value.expect("parsed")["keywords"],
        json!(["budget"])
    );
}

#[test]
fn repetition_is_removed_and_a_loop_refused() {
    let said = "The plan is to have a meeting with the sales team by the end of the week.";
    let mut answer = good();
    answer["summary"] = json!(format!(
        "The new onboarding flow ships on Friday. {said} {said} {said} {said}"
    ));
    answer["keywords"] = json!([
        "onboarding",
        "plan a meeting",
        "the plan: a meeting",
        "Meeting plan"
    ]);
    let inspection = inspect_value(&answer);
    assert_eq!(
        causes(&inspection),
        [
            (Cause::Repeated, "summary".to_owned()),
            (Cause::Repeated, "keywords".to_owned())
        ]
    );
    let value = inspection.value.expect("parsed");
    assert_eq!(
        value["summary"],
        json!(format!("The new onboarding flow ships on Friday. {said}"))
    );
    assert_eq!(value["keywords"], json!(["onboarding", "plan a meeting"]));
    assert_eq!(inspection.dropped_repeats, 5);
    assert_eq!(crate::summary::repetition::repeated_share(&value), 0.0);
    // One repeated item among several different ones is just dropped.
    let mut answer = good();
    answer["key_points"] = json!([
        "Onboarding flow ships on Friday",
        "Maria sends the release note by Thursday",
        "The onboarding flow ships Friday"
    ]);
    let inspection = inspect_value(&answer);
    assert!(inspection.passed(), "{:?}", inspection.defects);
    assert_eq!(inspection.dropped_repeats, 1);
}

/// The whole answer the offline demo delivered as done: every cause at once.
#[test]
fn the_demo_answer_fails_the_checks() {
    let demo = include_str!("quality_demo_answer.json");
    let template = built_in();
    let checker = Checker::new(&template, "en").expect("checker");
    let inspection = checker.inspect(demo, StopReason::EndOfTurn);
    let found: std::collections::BTreeSet<Cause> =
        inspection.defects.iter().map(|d| d.cause).collect();
    assert!(found.contains(&Cause::CutOff), "{:?}", inspection.defects);
    assert!(!inspection.passed());
    assert!(checker.check(demo).is_err());
}
