#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use super::*;
use crate::video::script::schema::{self, sentence_count};
use crate::video::script::{ImageHints, Scene};

/// The two shipped sample briefs (English storytelling, Vietnamese koc-review).
fn samples() -> Vec<Brief> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    [dir.join("brief.json"), dir.join("brief-vi")]
        .iter()
        .map(|path| crate::brief::load(path, &[]).unwrap().brief)
        .collect()
}

fn sample(language: &str) -> Brief {
    samples()
        .into_iter()
        .find(|brief| brief.language == language)
        .unwrap()
}

/// Every string of the script, for searching.
fn strings(script: &Script) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(text) => out.push(text.clone()),
            serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            serde_json::Value::Object(fields) => fields.values().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&serde_json::to_value(script).unwrap(), &mut out);
    out
}

/// The voiceover's sentences (split after `.`, `!`, `?` before a blank).
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (index, c) in chars.iter().enumerate() {
        current.push(*c);
        let ends = chars.get(index + 1).is_none_or(|next| next.is_whitespace());
        if matches!(c, '.' | '!' | '?') && ends {
            out.push(current.trim().to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// Everything every template script must hold, for one brief and scene count.
fn check(brief: &Brief, scenes: usize) {
    let label = format!("{} {} {scenes} scenes", brief.language, brief.style);
    let script = write(brief, scenes);
    assert_eq!(script.scenes.len(), scenes, "{label}");
    if let Err(invalid) = schema::validate(&script, scenes) {
        panic!("{label}: {invalid}\n{script:#?}");
    }
    // The product is named, and every selling point is said or written somewhere.
    let product = brief.product.name.trim();
    assert!(
        script
            .scenes
            .iter()
            .any(|scene| scene.voiceover.contains(product)),
        "{label}: the product is never named"
    );
    let everything = strings(&script).join("\n");
    for point in &brief.product.selling_points {
        assert!(
            everything
                .to_lowercase()
                .contains(&clause(point).to_lowercase()),
            "{label}: {point:?} is missing"
        );
    }
    // No slot left unfilled.
    for text in strings(&script) {
        assert!(
            !text.contains('{') && !text.contains('}'),
            "{label}: {text:?}"
        );
        assert!(!text.trim().is_empty(), "{label}: an empty string");
    }
    // Each character's five anchors are in every image prompt that shows them.
    let hints = ImageHints::from_brief(brief);
    for scene in &script.scenes {
        let prompt = scene.image_prompt(&script.character_bible, &hints);
        for name in &scene.prompt.characters {
            let sheet = script.character(name).unwrap();
            assert_eq!(sheet.anchors.len(), ANCHORS);
            for anchor in &sheet.anchors {
                assert!(
                    prompt.contains(anchor.as_str()),
                    "{label}: {anchor:?} missing in {prompt}"
                );
            }
        }
    }
    // No sentence is said twice; voiceovers are one or two sentences that fit.
    let mut said = HashSet::new();
    let seconds = f64::from(brief.duration_sec) / scenes as f64;
    let budget = speech_budget(&brief.language, seconds);
    for scene in &script.scenes {
        assert!(
            sentence_count(&scene.voiceover) <= 2,
            "{label}: {:?}",
            scene.voiceover
        );
        for sentence in sentences(&scene.voiceover) {
            assert!(
                said.insert(sentence.clone()),
                "{label}: {sentence:?} said twice"
            );
        }
        let units = spoken_units(&scene.voiceover);
        assert!(
            units <= budget * 3 / 2 + 3,
            "{label}: {:?} has {units} words for a budget of {budget}",
            scene.voiceover
        );
    }
    // The camera never stays the same from one scene to the next.
    for pair in script.scenes.windows(2) {
        assert_ne!(pair[0].prompt.camera, pair[1].prompt.camera, "{label}");
    }
    // Same brief, same script.
    assert_eq!(write(brief, scenes), script, "{label}: not deterministic");
    // Vietnamese stays composed (NFC): no combining marks.
    assert!(
        !everything
            .chars()
            .any(|c| ('\u{0300}'..='\u{036f}').contains(&c)),
        "{label}: combining marks"
    );
    let social = &script.social_media;
    assert!(
        social.caption.contains(product),
        "{label}: {}",
        social.caption
    );
    if let Some(best) = brief.product.selling_points.first() {
        assert!(
            social.caption.contains(&clause(best)),
            "{label}: {}",
            social.caption
        );
    }
    assert!(
        (5..=8).contains(&social.hashtags.len()),
        "{label}: {:?}",
        social.hashtags
    );
}

#[test]
fn every_style_language_and_length_gives_a_valid_product_specific_script() {
    for brief in samples() {
        for language in ["vi", "en"] {
            for style in ["viral", "koc-review", "storytelling", "unboxing"] {
                let mut brief = brief.clone();
                brief.language = language.to_owned();
                brief.style = style.to_owned();
                for scenes in 1..=12 {
                    // As the pipeline counts them: 5 s per scene.
                    brief.duration_sec = 5 * scenes as u32;
                    check(&brief, scenes);
                }
            }
        }
    }
}

#[test]
fn a_bare_brief_still_gets_a_whole_script() {
    let brief: Brief = serde_json::from_value(serde_json::json!({
        "product": {"name": "Serum sáng da"},
        "duration_sec": 40,
        "language": "vi",
        "style": "viral",
    }))
    .unwrap();
    for scenes in 1..=8 {
        check(&brief, scenes);
    }
    let script = write(&brief, 2);
    assert_eq!(script.social_media.hashtags[0], "#SerumSangDa");
}

#[test]
fn the_vietnamese_sample_follows_the_arc() {
    let brief = sample("vi");
    let script = write(&brief, 6);
    let said: Vec<&str> = script
        .scenes
        .iter()
        .map(|scene| scene.voiceover.as_str())
        .collect();
    assert!(
        said[0].contains("Bình giữ nhiệt Sen Việt 500ml"),
        "{said:?}"
    );
    assert!(
        said[1].starts_with(
            "Một ngày bận rộn của nhân viên văn phòng, ly cà phê sáng vẫn nóng đến chiều."
        ),
        "{said:?}"
    );
    // Each point is said as written (capitalised when it starts the sentence).
    assert!(
        said[2]
            .to_lowercase()
            .contains("giữ nóng 12 giờ, giữ lạnh 24 giờ"),
        "{said:?}"
    );
    assert!(
        said[3]
            .to_lowercase()
            .contains("nắp chống tràn, bỏ túi xách không lo đổ"),
        "{said:?}"
    );
    assert!(said[4].contains("299.000đ"), "{said:?}");
    assert!(said[5].contains("giỏ hàng"), "{said:?}");
    // Linh's anchors come from her look first, then from her role and the style.
    let linh = script.character("Linh").unwrap();
    assert_eq!(
        linh.anchors[..3],
        ["cô gái 25 tuổi", "tóc ngang vai", "áo sơ mi trắng"]
    );
    assert_eq!(linh.anchors[3], "cầm sản phẩm ngang ngực khi nói");
    assert_eq!(script.character_bible.len(), 1);
    let social = &script.social_media;
    assert_eq!(social.thumbnail_text, "Giữ nóng 12 giờ!");
    assert!(
        social
            .hashtags
            .contains(&"#BinhGiuNhietSenViet500ml".to_owned())
    );
    assert!(social.hashtags.contains(&"#BinhGiuNhiet".to_owned()));
    assert!(social.hashtags.contains(&"#reviewsanpham".to_owned()));
    assert!(
        social
            .caption
            .ends_with("Chỉ 299.000đ, đặt ngay ở giỏ hàng!")
    );
}

#[test]
fn one_and_two_scenes_are_a_hook_and_a_call_to_action() {
    let brief = sample("en");
    let single = write(&brief, 1);
    let only = &single.scenes[0].voiceover;
    assert!(only.contains("TrailLite 2 hiking backpack"), "{only}");
    assert!(only.contains("weighs only 900 g"), "{only}");
    assert!(only.contains("$89"), "{only}");
    let two = write(&brief, 2);
    assert!(
        two.scenes[0]
            .voiceover
            .contains("TrailLite 2 hiking backpack")
    );
    // The price is said in the call to action when no scene before says it.
    assert!(
        two.scenes[1].voiceover.contains("$89"),
        "{:?}",
        two.scenes[1]
    );
}

#[test]
fn without_characters_a_presenter_is_invented_for_the_style() {
    let mut brief = sample("en");
    assert!(brief.characters.is_empty());
    let mut names = HashSet::new();
    for style in ["viral", "koc-review", "storytelling"] {
        brief.style = style.to_owned();
        let script = write(&brief, 6);
        let [presenter] = script.character_bible.as_slice() else {
            panic!("one presenter expected: {:?}", script.character_bible);
        };
        assert_eq!(presenter.anchors.len(), ANCHORS);
        names.insert(presenter.name.clone());
        if style == "koc-review" {
            assert!(presenter.role.contains("reviewer"), "{presenter:?}");
        }
    }
    assert_eq!(names.len(), 3, "each style invents its own presenter");
}

#[test]
fn other_languages_get_english_copy_and_bare_prices_are_formatted() {
    let mut brief = sample("en");
    brief.language = "de".to_owned();
    brief.product.price = Some("24.9".to_owned());
    let script = write(&brief, 6);
    assert!(
        script.scenes[0].voiceover.is_ascii(),
        "{:?}",
        script.scenes[0]
    );
    assert!(strings(&script).join(" ").contains("$24.90"));
    let mut vietnamese = sample("vi");
    vietnamese.product.price = Some("249000".to_owned());
    let script = write(&vietnamese, 6);
    assert!(strings(&script).join(" ").contains("249.000đ"));
}

#[test]
fn a_configured_style_keeps_its_name_in_the_prompts() {
    let mut brief = sample("vi");
    brief.style = "unboxing".to_owned();
    let script = write(&brief, 4);
    assert!(script.scenes[0].prompt.setting.contains("unboxing style"));
    let prompt =
        script.scenes[0].image_prompt(&script.character_bible, &ImageHints::from_brief(&brief));
    assert!(prompt.contains("unboxing style"), "{prompt}");
    assert!(
        script
            .social_media
            .hashtags
            .contains(&"#unboxing".to_owned())
    );
}

#[test]
fn a_second_character_joins_the_story_scenes_with_its_own_anchors() {
    let mut brief = sample("vi");
    brief.characters.push(crate::brief::Character {
        name: "Nam".to_owned(),
        role: Some("đồng nghiệp, khách hàng".to_owned()),
        look: Some("chàng trai 30 tuổi; kính gọng đen; áo vest xám".to_owned()),
        photo: None,
    });
    let script = write(&brief, 8);
    let nam = script.character("Nam").unwrap();
    assert_eq!(
        nam.anchors,
        [
            "chàng trai 30 tuổi",
            "kính gọng đen",
            "áo vest xám",
            "trang phục đời thường, giản dị",
            "dáng đứng thoải mái, tự nhiên"
        ]
    );
    let with_nam: Vec<&Scene> = script
        .scenes
        .iter()
        .filter(|scene| scene.prompt.characters.contains(&"Nam".to_owned()))
        .collect();
    assert!(!with_nam.is_empty());
    for scene in with_nam {
        assert!(scene.prompt.characters[0] == "Linh");
    }
}
