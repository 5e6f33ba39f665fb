#![allow(clippy::unwrap_used)]

use super::*;
use crate::video::script::template;

/// A real script (the Vietnamese sample's, from the template writer) and its JSON.
fn script() -> (Script, String) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/brief-vi");
    let brief = crate::brief::load(&dir, &[]).unwrap().brief;
    let script = template::write(&brief, 3);
    let json = serde_json::to_string_pretty(&script).unwrap();
    (script, json)
}

#[test]
fn fences_and_the_prose_around_them_are_dropped() {
    let (script, json) = script();
    let answer = format!(
        "Chắc chắn rồi! Đây là kịch bản:\n```json\n{json}\n```\nBạn muốn chỉnh gì thì cứ nói nhé {{ok}}."
    );
    assert_eq!(parse(&answer).unwrap(), script);
}

#[test]
fn stray_braces_in_the_prose_before_the_object_are_skipped() {
    let (script, json) = script();
    let answer = format!("Use the {{scenes}} layout you asked for: {json}");
    assert_eq!(parse(&answer).unwrap(), script);
}

#[test]
fn trailing_commas_and_missing_commas_are_mended() {
    let (script, json) = script();
    let damaged = json
        .replace("\"\n      ]", "\",\n      ]")
        .replace("\"\n    }", "\",\n    }")
        .replace("},\n    {", "}\n    {");
    assert_ne!(damaged, json);
    assert!(serde_json::from_str::<serde_json::Value>(&damaged).is_err());
    assert_eq!(parse(&damaged).unwrap(), script);
}

#[test]
fn smart_quotes_around_keys_are_straightened() {
    let (script, json) = script();
    let damaged = json
        .replace("\"voiceover\":", "“voiceover”:")
        .replace("\"scenes\":", "“scenes\":");
    assert_eq!(parse(&damaged).unwrap(), script);
}

#[test]
fn smart_quotes_inside_a_value_are_kept() {
    let answer = r##"{"scenes": [], "character_bible": [], "social_media": {"caption": "Gọi là “bình thần kỳ”", "hashtags": ["#a"], "thumbnail_prompt": "p", "thumbnail_text": "t"}}"##;
    let parsed = parse(answer).unwrap();
    assert_eq!(parsed.social_media.caption, "Gọi là “bình thần kỳ”");
}

#[test]
fn line_breaks_and_lone_backslashes_inside_strings_are_escaped() {
    let (mut script, json) = script();
    let first = script.scenes[0].voiceover.clone();
    let damaged = json.replacen(&first, &format!("{first}\nGiá tốt \\d"), 1);
    script.scenes[0].voiceover = format!("{first}\nGiá tốt \\d");
    assert_eq!(parse(&damaged).unwrap(), script);
}

#[test]
fn an_answer_cut_off_after_its_last_value_is_closed() {
    let (script, json) = script();
    let cut = json.trim_end_matches(|c: char| c == '}' || c.is_whitespace());
    assert!(cut.ends_with('"'));
    assert_eq!(parse(cut).unwrap(), script);
}

#[test]
fn an_answer_cut_off_mid_key_names_the_missing_field() {
    let (_, json) = script();
    let at = json.find("\"thumbnail_text\"").unwrap();
    let cut = &json[..at + 9];
    let error = parse(cut).unwrap_err();
    assert_eq!(
        error,
        ParseError::Shape("social_media: missing field `thumbnail_text`".to_owned()),
        "{error}"
    );
}

#[test]
fn a_wrapper_object_and_hashtags_in_one_string_are_accepted() {
    let (script, json) = script();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["social_media"]["hashtags"] = serde_json::json!("#BinhGiuNhiet review, #KOC");
    let wrapped = serde_json::json!({"script": value}).to_string();
    let parsed = parse(&wrapped).unwrap();
    assert_eq!(parsed.scenes, script.scenes);
    assert_eq!(
        parsed.social_media.hashtags,
        ["#BinhGiuNhiet", "#review", "#KOC"]
    );
}

#[test]
fn a_wrong_shape_names_its_field() {
    let (_, json) = script();
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["scenes"][1]["prompt"]["camera"] = serde_json::json!(5);
    let error = parse(&value.to_string()).unwrap_err();
    assert!(
        matches!(&error, ParseError::Shape(text) if text.starts_with("scenes[1].prompt.camera: invalid type: integer `5`")),
        "{error}"
    );
}

#[test]
fn text_without_json_is_refused() {
    assert_eq!(
        parse("Xin lỗi, mình không viết được.").unwrap_err(),
        ParseError::NoJson
    );
    assert!(matches!(
        parse("{ this is not json at all ]").unwrap_err(),
        ParseError::Syntax(_)
    ));
}

#[test]
fn repair_leaves_valid_json_alone_and_drops_what_follows() {
    let valid = r#"{"a": [1, 2, {"b": "c}"}], "d": "e\"f"}"#;
    assert_eq!(repair(&format!("{valid} trailing words")), valid);
    assert_eq!(
        repair(r#"{"a": [1, 2,], "b": {"c": 3,},}"#),
        r#"{"a": [1, 2], "b": {"c": 3}}"#
    );
    assert_eq!(repair(r#"{"a": [1, 2"#), r#"{"a": [1, 2]}"#);
    assert_eq!(repair(r#"{"a": "x", "b": "#), r#"{"a": "x"}"#);
    assert_eq!(repair(r#"{"a": {"b": 1]"#), r#"{"a": {"b": 1}}"#);
}
