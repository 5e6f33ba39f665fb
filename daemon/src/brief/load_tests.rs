#![allow(clippy::unwrap_used)]
use super::*;
use crate::brief::{Aspect, ClipMode};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn error_of(dir: &Path, name: &str, text: &str) -> BriefError {
    load(&write(dir, name, text), &[]).unwrap_err()
}

#[test]
fn the_same_brief_loads_from_json_toml_and_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let json = write(
        dir.path(),
        "a.json",
        r#"{"product": {"name": "Bình giữ nhiệt", "selling_points": ["giữ nóng 12 giờ"]}, "duration_sec": 30, "language": "vi", "aspect": "1:1"}"#,
    );
    let toml = write(
        dir.path(),
        "a.toml",
        "duration_sec = 30\nlanguage = \"vi\"\naspect = \"1:1\"\n[product]\nname = \"Bình giữ nhiệt\"\nselling_points = [\"giữ nóng 12 giờ\"]\n",
    );
    let yaml = write(
        dir.path(),
        "a.yaml",
        "product:\n  name: Bình giữ nhiệt\n  selling_points:\n    - giữ nóng 12 giờ\nduration_sec: 30\nlanguage: vi\naspect: \"1:1\"\n",
    );
    let briefs: Vec<Brief> = [json, toml, yaml]
        .iter()
        .map(|path| load(path, &[]).unwrap().brief)
        .collect();
    assert_eq!(briefs[0], briefs[1]);
    assert_eq!(briefs[1], briefs[2]);
    let brief = &briefs[0];
    assert_eq!(brief.aspect, Aspect::Square);
    assert_eq!(brief.clip_mode, ClipMode::Independent);
    assert_eq!(brief.style, "viral");
    assert_eq!(brief.scene_count(5), 6);
    assert_eq!(brief.scene_count(7), 5);
}

#[test]
fn a_brief_folder_resolves_its_images() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bottle");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("bottle.png"), PNG).unwrap();
    write(
        &folder,
        "brief.yaml",
        "product:\n  name: Bottle\n  images: [bottle.png]\nduration_sec: 20\n",
    );
    let loaded = load(&folder, &[]).unwrap();
    assert_eq!(
        loaded.assets["product.images[0]"],
        folder.join("bottle.png")
    );
    assert_eq!(loaded.file, folder.join("brief.yaml"));
}

#[test]
fn bad_briefs_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases = [
        (
            "nop.json",
            r#"{"duration_sec": 30}"#,
            None,
            "missing field `product`",
        ),
        (
            "empty.json",
            r#"{"product": {"name": " "}, "duration_sec": 30}"#,
            Some("product.name"),
            "is empty",
        ),
        (
            "zero.json",
            r#"{"product": {"name": "x"}, "duration_sec": 0}"#,
            Some("duration_sec"),
            "0 is out of range",
        ),
        (
            "long.json",
            r#"{"product": {"name": "x"}, "duration_sec": 10000}"#,
            Some("duration_sec"),
            "10000 is out of range",
        ),
        (
            "style.json",
            r#"{"product": {"name": "x"}, "duration_sec": 30, "style": "epic"}"#,
            Some("style"),
            "\"epic\" is not a style",
        ),
        (
            "type.json",
            r#"{"product": {"name": "x", "selling_points": ["a", 3]}, "duration_sec": 30}"#,
            Some("product.selling_points[1]"),
            "invalid type",
        ),
        (
            "typo.json",
            r#"{"product": {"name": "x"}, "duraton_sec": 30}"#,
            Some("duraton_sec"),
            "did you mean `duration_sec`?",
        ),
        (
            "lang.json",
            r#"{"product": {"name": "x"}, "duration_sec": 30, "language": "Vietnamese"}"#,
            Some("language"),
            "not a language code",
        ),
        (
            "image.json",
            r#"{"product": {"name": "x", "images": ["a.png"]}, "duration_sec": 30}"#,
            Some("product.images[0]"),
            "cannot name files",
        ),
        (
            "broken.yaml",
            "product:\n  name: [unclosed\nduration_sec: 30\n",
            None,
            "not valid YAML",
        ),
        ("brief.md", "# A brief", None, "JSON, TOML or YAML"),
    ];
    for (name, text, field, message) in cases {
        let error = error_of(d, name, text);
        assert_eq!(error.field.as_deref(), field, "{name}: {error}");
        assert!(error.to_string().contains(message), "{name}: {error}");
        assert!(!error.hint.is_empty(), "{name}");
    }
}

#[test]
fn a_huge_brief_or_a_linked_one_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(50 * 1024 * 1024).unwrap();
    let error = load(&big, &[]).unwrap_err();
    assert!(error.message.contains("larger than"), "{error}");
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&big, &link).unwrap();
    assert!(load(&link, &[]).is_err());
}

#[test]
fn configured_styles_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "a.json",
        r#"{"product": {"name": "x"}, "duration_sec": 30, "style": "unboxing"}"#,
    );
    assert!(load(&path, &[]).is_err());
    assert_eq!(
        load(&path, &["unboxing".to_owned()]).unwrap().brief.style,
        "unboxing"
    );
}

#[test]
fn language_tags() {
    for good in ["vi", "en", "zh", "yue", "pt-BR", "zh-Hant"] {
        assert!(is_language_tag(good), "{good}");
    }
    for bad in ["", "V", "Vietnamese", "en-", "en-US-x", "e1"] {
        assert!(!is_language_tag(bad), "{bad}");
    }
}
