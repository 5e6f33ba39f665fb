//! The sales-video pipeline end to end through the real daemon, offline: a brief
//! dropped in `inbox/briefs/` becomes `final.mp4` with its script, captions, thumbnail
//! and social posts, made by the template writer, local scene cards, Ken-Burns moves
//! and espeak-ng. The video is read back with Discoverer, decoded frames and OCR.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Config, Outcome, Spool};
use crate::{assert_reads, band, discover, frames_at, ocr};

/// Longest a brief may take end to end in these tests (debug build, 2 cores).
const BRIEF_TIMEOUT: Duration = Duration::from_secs(240);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Copies a brief folder next to the spool, then renames it into the inbox at once.
fn drop_folder(spool: &Spool, from: &Path, name: &str) {
    let staging = spool.outside.join(name);
    fs::create_dir_all(&staging).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), staging.join(entry.file_name())).unwrap();
    }
    fs::rename(&staging, spool.inbox("briefs").join(name)).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// The delivered folder of the only brief, after waiting for it.
fn delivered(spool: &Spool) -> Outcome {
    spool.wait_delivered("briefs", 1, BRIEF_TIMEOUT);
    spool.deliveries("briefs").pop().unwrap()
}

/// The outputs of a stage in result.json.
fn stage_outputs<'a>(result: &'a Value, stage: &str) -> &'a Value {
    result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == stage)
        .map(|entry| &entry["outputs"])
        .unwrap_or_else(|| panic!("no stage {stage} in {result}"))
}

/// Checks everything a delivered sales video must hold; returns the script.
fn check_delivery(outcome: &Outcome, scenes: usize, size: (u32, u32)) -> Value {
    let dir = &outcome.dir;
    for file in [
        "final.mp4",
        "script.json",
        "captions.srt",
        "thumbnail.png",
        "social.json",
    ] {
        assert!(
            dir.join(file).is_file(),
            "{file} missing from {}",
            dir.display()
        );
    }
    let script = read_json(&dir.join("script.json"));
    assert_eq!(
        script["scenes"].as_array().unwrap().len(),
        scenes,
        "{script}"
    );
    let bible = script["character_bible"].as_array().unwrap();
    assert!(!bible.is_empty(), "a character bible: {script}");
    for character in bible {
        assert_eq!(
            character["anchors"].as_array().unwrap().len(),
            5,
            "{character}"
        );
    }
    assert_eq!(read_json(&dir.join("social.json")), script["social_media"]);

    // The video: size, H.264 4:2:0, AAC, as long as the voiceovers laid end to end.
    let found = discover(&dir.join("final.mp4"));
    let video = found.video.structure(0).unwrap();
    assert_eq!(video.name(), "video/x-h264");
    assert_eq!(video.get::<i32>("width").unwrap() as u32, size.0);
    assert_eq!(video.get::<i32>("height").unwrap() as u32, size.1);
    let profile = video.get::<String>("profile").unwrap();
    assert!(
        matches!(
            profile.as_str(),
            "high" | "main" | "constrained-baseline" | "baseline"
        ),
        "profile {profile}"
    );
    let (audio, _) = found.audio.as_ref().expect("an audio stream");
    assert_eq!(audio.structure(0).unwrap().name(), "audio/mpeg");
    let voice_seconds = stage_outputs(&outcome.record, "scenes")["voice_seconds"]
        .as_f64()
        .unwrap();
    assert!(
        (found.seconds - voice_seconds).abs() <= 0.5,
        "video {:.2} s, voiceovers {voice_seconds:.2} s",
        found.seconds
    );

    // One caption cue per voiceover line, in order, timed end to end.
    let srt = fs::read_to_string(dir.join("captions.srt")).unwrap();
    let cues: Vec<&str> = srt
        .split("\n\n")
        .filter(|cue| !cue.trim().is_empty())
        .collect();
    assert_eq!(cues.len(), scenes, "{srt}");
    for (cue, scene) in cues.iter().zip(script["scenes"].as_array().unwrap()) {
        let text: Vec<&str> = cue.lines().skip(2).collect();
        assert_eq!(
            text.join(" "),
            scene["voiceover"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    // Scene media is delivered beside the video.
    let scene_files = fs::read_dir(dir.join("scenes")).unwrap().count();
    assert!(scene_files >= 2 * scenes, "{scene_files} scene files");
    let thumbnail = chute_pixels::image::image_dimensions(dir.join("thumbnail.png")).unwrap();
    assert_eq!(thumbnail, size, "thumbnail size");
    script
}

/// Reads the caption of each scene back from the middle of its slot.
fn check_captions_read_back(outcome: &Outcome, script: &Value, share: f64) {
    let voices = stage_outputs(&outcome.record, "scenes")["voice"]
        .as_array()
        .unwrap()
        .clone();
    // Long captions are shown in chunks across their scene: look early and late.
    let mut start = 0.0;
    let mut times = Vec::new();
    for voice in &voices {
        let seconds = voice["seconds"].as_f64().unwrap();
        times.push(start + seconds * 0.3);
        times.push(start + seconds * 0.75);
        start += seconds;
    }
    let (frames, format) = frames_at(&outcome.dir.join("final.mp4"), &times);
    assert_eq!(format, "I420", "4:2:0 video");
    let scratch = tempfile::tempdir().unwrap();
    let mut read_all = String::new();
    let mut expected_all = String::new();
    for (index, frame) in frames.iter().enumerate() {
        let png = scratch.path().join(format!("frame-{index}.png"));
        // The captions are white: keep only near-white pixels, as black on white, so
        // OCR is not misled by a bright background around the caption box.
        let mut caption = band(frame, 0.55, 1.0);
        for pixel in caption.pixels_mut() {
            let white = pixel.0.iter().all(|&channel| channel > 200);
            pixel.0 = if white { [0, 0, 0] } else { [255, 255, 255] };
        }
        caption.save(&png).unwrap();
        read_all.push_str(&ocr(&png));
        read_all.push('\n');
    }
    for scene in script["scenes"].as_array().unwrap() {
        expected_all.push_str(scene["voiceover"].as_str().unwrap());
        expected_all.push(' ');
    }
    assert_reads(&expected_all, &read_all, share, "burned-in captions");
}

#[test]
fn the_english_sample_brief_becomes_a_video_offline() {
    let spool = Spool::new(&Config::default());
    let _daemon = spool.start_daemon();
    spool.drop_file(
        "briefs",
        "brief.json",
        &fs::read(repo("samples/brief.json")).unwrap(),
    );
    let outcome = delivered(&spool);
    let script = check_delivery(&outcome, 6, (1080, 1920));
    let voiceovers = script["scenes"].to_string();
    assert!(
        voiceovers.contains("TrailLite"),
        "product-specific copy: {voiceovers}"
    );
    check_captions_read_back(&outcome, &script, 0.6);
    // Nothing was paid for and result.json says so beside the estimate.
    let cost = &stage_outputs(&outcome.record, "render")["cost"];
    assert_eq!(cost["calls"], 0, "{cost}");
    assert_eq!(cost["estimated"], 0.0, "{cost}");
}

#[test]
fn a_vietnamese_brief_folder_keeps_its_diacritics_on_screen() {
    let spool = Spool::new(&Config::default());
    let _daemon = spool.start_daemon();
    drop_folder(&spool, &repo("samples/brief-vi"), "serum-vi");
    let outcome = delivered(&spool);
    let brief: Value =
        serde_norway::from_slice(&fs::read(repo("samples/brief-vi/brief.yaml")).unwrap()).unwrap();
    let seconds = brief["duration_sec"].as_u64().unwrap() as usize;
    let script = check_delivery(&outcome, seconds.div_ceil(5), (1080, 1920));
    check_captions_read_back(&outcome, &script, 0.6);
}

#[test]
fn a_square_brief_renders_square() {
    let spool = Spool::new(&Config::default());
    let _daemon = spool.start_daemon();
    let brief = r#"{"product": {"name": "Cà phê Sữa Đá Lon", "selling_points": ["pha sẵn, uống liền", "đậm vị cà phê phin"]},
        "duration_sec": 10, "language": "vi", "aspect": "1:1", "style": "viral"}"#;
    spool.drop_file("briefs", "square.json", brief.as_bytes());
    let outcome = delivered(&spool);
    check_delivery(&outcome, 2, (1080, 1080));
}

/// A finished scene image, by name: its inode and modification time.
fn image_marks(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let mut marks: Vec<_> = fs::read_dir(dir)
        .map(|entries| entries.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata().ok()?;
            (name.ends_with(".png") && !name.contains("last"))
                .then(|| (name, meta.ino(), meta.modified().unwrap()))
        })
        .collect();
    marks.sort();
    marks
}

#[test]
fn a_killed_daemon_does_not_make_finished_scenes_again() {
    let config = Config {
        extra: "[sales_video]\nscene_concurrency = 1\n".to_owned(),
        ..Config::default()
    };
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    let brief = r#"{"product": {"name": "Đèn bàn Lumi", "selling_points": ["ánh sáng vàng dịu mắt", "sạc một lần dùng cả tuần", "gập gọn bỏ túi"], "price": "349.000đ"},
        "duration_sec": 60, "language": "vi", "style": "koc-review"}"#;
    spool.drop_file("briefs", "lumi.json", brief.as_bytes());
    // Wait until some scene images are checkpointed but not all twelve.
    let mut job = PathBuf::new();
    spool.wait_until(BRIEF_TIMEOUT, "a few scene images checkpointed", || {
        let Some(entry) = fs::read_dir(spool.path("jobs"))
            .ok()
            .and_then(|mut entries| entries.next())
        else {
            return false;
        };
        job = entry.unwrap().path();
        let done = fs::read_dir(job.join("work/items/images"))
            .map(|entries| entries.count())
            .unwrap_or(0);
        done >= 3
    });
    daemon.kill9();
    let checkpointed: Vec<String> = fs::read_dir(job.join("work/items/images"))
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_owned)
        })
        .collect();
    assert!(
        checkpointed.len() < 12,
        "the kill came before the last image"
    );
    let before = image_marks(&job.join("out/scenes"));
    let _daemon = spool.start_daemon();
    let outcome = delivered(&spool);
    let after = image_marks(&outcome.dir.join("scenes"));
    assert_eq!(after.len(), 12, "{after:?}");
    for item in checkpointed {
        let index: usize = item.parse().unwrap();
        let name = format!("scene-{:02}.png", index + 1);
        let old = before
            .iter()
            .find(|mark| mark.0 == name)
            .unwrap_or_else(|| panic!("{name} before the kill"));
        let new = after.iter().find(|mark| mark.0 == name).unwrap();
        assert_eq!(old, new, "{name} was made again after the restart");
    }
    check_delivery(&outcome, 12, (1080, 1920));
}
