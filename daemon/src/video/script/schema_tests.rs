#![allow(clippy::unwrap_used)]

use super::*;
use crate::video::script::template;

fn brief() -> Brief {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/brief-vi");
    crate::brief::load(&dir, &[]).unwrap().brief
}

fn problems(script: &Script, scenes: usize) -> Vec<String> {
    validate(script, scenes).unwrap_err().problems
}

#[test]
fn template_scripts_match_the_schema_and_the_grammar_is_bounded() {
    let brief = brief();
    let names: Vec<String> = brief.characters.iter().map(|c| c.name.clone()).collect();
    for scenes in [1, 6, 12] {
        let schema = json_schema(scenes, &names);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let script = template::write(&brief, scenes);
        let value = serde_json::to_value(&script).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let grammar = crate::summary::grammar::from_schema(&schema).unwrap();
        assert!(
            grammar.max_bytes < 2_000 * scenes as u32 + 4_000,
            "{}",
            grammar.max_bytes
        );
    }
    // Invented characters are free-form names.
    let schema = json_schema(6, &[]);
    assert_eq!(
        schema["properties"]["character_bible"]["items"]["properties"]["name"]["type"],
        "string"
    );
    crate::summary::grammar::from_schema(&schema).unwrap();
}

#[test]
fn each_problem_names_its_field_and_what_is_expected() {
    let mut script = template::write(&brief(), 6);
    script.scenes.truncate(4);
    script.character_bible[0].anchors.truncate(3);
    script.scenes[2].voiceover = " ".to_owned();
    script.scenes[0].prompt.characters = vec!["Nam".to_owned()];
    script.scenes[1].voiceover = "Một. Hai. Ba.".to_owned();
    script.social_media.hashtags = vec!["#ok".into(), "no hash".into(), "#x".into()];
    script.social_media.thumbnail_text = "một hai ba bốn năm sáu bảy".to_owned();
    assert_eq!(
        problems(&script, 6),
        [
            "scenes has 4 entries, the brief needs 6",
            "scenes[0].prompt.characters[0] names \"Nam\", who is not in character_bible",
            "scenes[1].voiceover has 3 sentences, keep it to one or two",
            "scenes[2].voiceover is empty",
            "character_bible[0].anchors has 3 entries, needs 5",
            "social_media.hashtags[1] \"no hash\" must be # and one word of at most 40 characters",
            "social_media.thumbnail_text has 7 words, at most 6 fit a thumbnail",
        ]
    );
    let message = validate(&script, 6).unwrap_err().to_string();
    assert!(
        message.starts_with("scenes has 4 entries, the brief needs 6; scenes[0]"),
        "{message}"
    );
}

#[test]
fn repeated_names_and_anchors_are_refused() {
    let mut script = template::write(&brief(), 2);
    let mut twin = script.character_bible[0].clone();
    twin.name = " linh".to_owned();
    twin.anchors[4] = twin.anchors[0].to_uppercase();
    script.character_bible.push(twin);
    assert_eq!(
        problems(&script, 2),
        [
            "character_bible[1].name \" linh\" is used twice",
            "character_bible[1].anchors[4] repeats an earlier anchor",
        ]
    );
}

#[test]
fn the_brief_asks_for_its_characters_its_product_and_speakable_lines() {
    let brief = brief();
    let mut script = template::write(&brief, 6);
    validate_for_brief(&script, &brief, 5).unwrap();
    script.character_bible[0].name = "Mai".to_owned();
    for scene in &mut script.scenes {
        scene.prompt.characters.clear();
        scene.voiceover = scene
            .voiceover
            .replace("Bình giữ nhiệt Sen Việt 500ml", "em này");
    }
    script.scenes[3].voiceover = "Rất dài ".repeat(20).trim_end().to_owned() + ".";
    assert_eq!(
        validate_for_brief(&script, &brief, 5).unwrap_err().problems,
        [
            "character_bible has no entry for \"Linh\", a character of the brief",
            "no voiceover says the product's name \"Bình giữ nhiệt Sen Việt 500ml\"",
            "scenes[3].voiceover has 40 words, about 17 fit in 5 s",
        ]
    );
}

#[test]
fn sentences_are_counted_at_their_end_marks() {
    assert_eq!(sentence_count("Chỉ $24.90 thôi!"), 1);
    assert_eq!(sentence_count("Nặng 900 g. Nhẹ tênh!!"), 2);
    assert_eq!(sentence_count("Có nên mua không? Có… Chắc chắn"), 3);
    assert_eq!(sentence_count(""), 0);
}
