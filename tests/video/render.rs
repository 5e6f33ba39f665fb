//! Whole videos: Ken-Burns stills, a clip, crossfades, voices over ducked music and
//! burned-in Vietnamese captions, checked by Discoverer, decoded frames and OCR.

use std::path::PathBuf;

use chute::video::render::captions::{self, CaptionStyle};
use chute::video::render::plan::{EncoderSettings, H264Profile, MixSettings};
use chute::video::render::{Motion, PlanScene, RenderLimits, VideoPlan, Visual, render_video};

use super::*;

const CAPTION_1: &str =
    "Serum Sáng Da giúp làn da sáng đều màu chỉ sau mười bốn ngày sử dụng mỗi tối.";
const CAPTION_2: &str = "Order today and get free shipping to your door.";
const CAPTION_3: &str = "Mua ngay hôm nay để nhận quà tặng đặc biệt.";

fn plan(width: u32, height: u32, scenes: Vec<PlanScene>, output: PathBuf) -> VideoPlan {
    VideoPlan {
        width,
        height,
        fps: 30,
        encoder: EncoderSettings::default(),
        crossfade_seconds: 0.4,
        font: "Noto Sans Bold".into(),
        scenes,
        music: None,
        mix: MixSettings::default(),
        output,
    }
}

/// Three scenes at 1080x1920 — a PNG and a JPEG with Ken-Burns moves around a short
/// clip that must hold its last frame — with Vietnamese and English voices over music:
/// the file plays on phones (H.264 4:2:0, AAC 48 kHz), lasts the sum of the slots,
/// and its captions read back with their diacritics.
#[tokio::test(flavor = "multi_thread")]
async fn a_three_scene_video_has_the_right_streams_length_and_captions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(&busy_image(1600, 2400, 1), &d.join("first.png"));
    save(&busy_image(1400, 1000, 7), &d.join("third.jpg"));
    let clip = clip(d, "clip.mp4", 30, 640, 360);
    let (voice_1, seconds_1) = speak(d, "one", "vi", CAPTION_1);
    let (voice_2, seconds_2) = speak(d, "two", "en", CAPTION_2);
    let (voice_3, seconds_3) = speak(d, "three", "vi", CAPTION_3);
    gst_launch(
        d,
        "audiotestsrc wave=sine freq=330 num-buffers=120 ! audioconvert ! vorbisenc ! oggmux ! filesink location=music.ogg",
    );
    let scenes = vec![
        PlanScene {
            visual: Visual::Still {
                image: d.join("first.png"),
                motion: Motion::for_scene(0),
            },
            voice: Some(voice_1),
            seconds: seconds_1,
            caption: CAPTION_1.into(),
            caption_words: Vec::new(),
        },
        PlanScene {
            visual: Visual::Clip { video: clip },
            voice: Some(voice_2),
            seconds: seconds_2,
            caption: CAPTION_2.into(),
            caption_words: Vec::new(),
        },
        PlanScene {
            visual: Visual::Still {
                image: d.join("third.jpg"),
                motion: Motion::for_scene(2),
            },
            voice: Some(voice_3),
            seconds: seconds_3,
            caption: CAPTION_3.into(),
            caption_words: Vec::new(),
        },
    ];
    let output = d.join("final.mp4");
    let mut plan = plan(1080, 1920, scenes, output.clone());
    plan.music = Some(d.join("music.ogg"));
    let mut progress = Vec::new();
    let report = render_video(exe(), &plan, &RenderLimits::default(), |done| {
        progress.push(done)
    })
    .await
    .unwrap();
    let total = seconds_1 + seconds_2 + seconds_3;
    assert!((report.duration_seconds - total).abs() < 0.05, "{report:?}");
    assert_eq!(report.frames, (total * 30.0).round() as u64);
    assert!(progress.windows(2).all(|pair| pair[0] <= pair[1]));
    assert_eq!(progress.last(), Some(&1.0));
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(".render"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files remain: {leftovers:?}"
    );

    let found = discover(&output);
    assert!(
        (found.seconds - total).abs() < 0.1,
        "{} s vs {total} s",
        found.seconds
    );
    let video = found.video.structure(0).unwrap();
    assert_eq!(video.name(), "video/x-h264");
    assert_eq!(video.get::<i32>("width").unwrap(), 1080);
    assert_eq!(video.get::<i32>("height").unwrap(), 1920);
    let profile = video.get::<String>("profile").unwrap();
    assert!(profile == "high" || profile == "main", "profile {profile}");
    if let Ok(chroma) = video.get::<String>("chroma-format") {
        assert_eq!(chroma, "4:2:0");
    }
    let (audio, rate) = found.audio.expect("an audio stream");
    let audio = audio.structure(0).unwrap();
    assert_eq!(audio.name(), "audio/mpeg");
    assert_eq!(audio.get::<i32>("mpegversion").unwrap(), 4, "AAC");
    assert_eq!(rate, 48_000);

    // Each caption chunk is read back in the middle of its time on screen.
    let style = CaptionStyle::for_frame(1080, 1920);
    let slots = [
        (0.0, seconds_1),
        (seconds_1, seconds_2),
        (seconds_1 + seconds_2, seconds_3),
    ];
    let cues = captions::cues(&[CAPTION_1, CAPTION_2, CAPTION_3], &[], &slots, style);
    assert!(
        cues.len() >= 4,
        "the first caption is long enough for two chunks"
    );
    let times: Vec<f64> = cues.iter().map(|cue| (cue.start + cue.end) / 2.0).collect();
    let (frames, format) = frames_at(&output, &times);
    assert_eq!(format, "I420", "4:2:0 decodes to I420");
    for (index, (cue, frame)) in cues.iter().zip(&frames).enumerate() {
        // Captions sit in the lower third, their last line ending at 80 % of the height.
        let crop = d.join(format!("caption-{index}.png"));
        let read = ocr_light_text(&band(frame, 0.6, 0.83), &crop);
        assert_reads(&cue.text, &read, 0.75, &format!("cue {index}"));
    }
}

/// A 540x960 render with hard cuts, Main profile at a set bitrate, no voices and a clip
/// longer than its slot (trimmed): the length is still exactly the slots'.
#[tokio::test(flavor = "multi_thread")]
async fn clips_are_trimmed_and_settings_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(&busy_image(800, 800, 3), &d.join("square.png"));
    let long_clip = clip(d, "long.mp4", 150, 320, 240);
    let scenes = vec![
        PlanScene {
            visual: Visual::Clip { video: long_clip },
            voice: None,
            seconds: 1.5,
            caption: String::new(),
            caption_words: Vec::new(),
        },
        PlanScene {
            visual: Visual::Still {
                image: d.join("square.png"),
                motion: Motion::for_scene(1),
            },
            voice: None,
            seconds: 1.0,
            caption: "Giao hàng miễn phí".into(),
            caption_words: Vec::new(),
        },
    ];
    let output = d.join("short.mp4");
    let mut plan = plan(540, 960, scenes, output.clone());
    plan.crossfade_seconds = 0.0;
    plan.encoder.profile = H264Profile::Main;
    plan.encoder.bitrate_kbps = Some(900);
    plan.encoder.threads = 2;
    let report = render_video(exe(), &plan, &RenderLimits::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.frames, 75);
    let found = discover(&output);
    assert!((found.seconds - 2.5).abs() < 0.1, "{} s", found.seconds);
    let video = found.video.structure(0).unwrap();
    assert_eq!(video.get::<String>("profile").unwrap(), "main");
    assert_eq!(video.get::<i32>("width").unwrap(), 540);
    assert!(found.audio.is_some(), "a silent soundtrack is still there");
    // A hard cut: the last clip frame and the first still frame differ completely.
    let (frames, _) = frames_at(&output, &[1.5 - 1.0 / 30.0, 1.5]);
    let difference: u64 = frames[0]
        .as_raw()
        .iter()
        .zip(frames[1].as_raw())
        .map(|(a, b)| u64::from(a.abs_diff(*b)))
        .sum();
    assert!(difference / frames[0].as_raw().len() as u64 > 20);
}
