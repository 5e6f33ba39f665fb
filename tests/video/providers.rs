//! The sales-video pipeline with remote providers: the shipped gemini (script, images,
//! speech) and veo (clips) plugins against the fake Gemini API, through the real
//! daemon. Every configured provider is used, a 429 storm on 30 % of calls still
//! completes, a failing video provider falls back to the local clip and says so, chain
//! mode sends each clip's last frame with the next submit, and a daemon killed while
//! clips render neither makes an image again nor submits a clip twice.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chute_fakes::{Call, FakeGemini, Fault, KeyMode};
use chute_pixels::image::{self, RgbImage};
use serde_json::Value;

use crate::discover;
use crate::fixtures::{KEY, TIMEOUT, brief, remote_spool, script_answer};
use crate::harness::Outcome;

/// The fake, ready to answer the script of a brief of `scenes` scenes.
fn fake(scenes: usize) -> (tokio::runtime::Runtime, FakeGemini) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = runtime.block_on(FakeGemini::start(&[(KEY, KeyMode::Valid)]));
    // Veo's real clips are 720x1280; a quarter of that keeps the render quick.
    fake.shrink_clips(4);
    fake.polls_until_done(2);
    fake.answer_text([script_answer(scenes)]);
    (runtime, fake)
}

fn scenes_output(outcome: &Outcome) -> Value {
    outcome.record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stage| stage["name"] == "scenes")
        .map(|stage| stage["outputs"].clone())
        .unwrap_or_else(|| panic!("no scenes stage in {}", outcome.record))
}

fn stage_output(outcome: &Outcome, name: &str) -> Value {
    outcome.record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stage| stage["name"] == name)
        .map(|stage| stage["outputs"].clone())
        .unwrap_or_else(|| panic!("no {name} stage in {}", outcome.record))
}

fn providers_of(scenes: &Value, what: &str) -> Vec<String> {
    scenes[what]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["provider"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The final video is whole: the frame size, and as long as the voiceovers.
fn check_video(outcome: &Outcome) {
    let found = discover(&outcome.dir.join("final.mp4"));
    let video = found.video.structure(0).unwrap();
    let size = (
        video.get::<i32>("width").unwrap(),
        video.get::<i32>("height").unwrap(),
    );
    assert_eq!(size, (1080, 1920));
    assert!(found.audio.is_some(), "no audio stream");
    let voiced = scenes_output(outcome)["voice_seconds"].as_f64().unwrap();
    assert!(
        (found.seconds - voiced).abs() <= 0.5,
        "{} s of video for {voiced} s of voice",
        found.seconds
    );
}

#[test]
fn every_configured_provider_is_used_and_a_429_storm_on_30_percent_of_calls_still_completes() {
    let (_runtime, fake) = fake(3);
    fake.faults().storm_on(
        &[
            Call::Text,
            Call::Image,
            Call::Speech,
            Call::Submit,
            Call::Poll,
        ],
        0.3,
        Fault::RateLimited(Duration::from_millis(400)),
        11,
    );
    let spool = remote_spool(&fake, "");
    let _daemon = spool.start_daemon();
    spool.drop_file("briefs", "grinder.json", brief(3, "independent").as_bytes());
    spool.wait_delivered("briefs", 1, TIMEOUT);
    let outcome = spool.deliveries("briefs").pop().unwrap();

    assert!(fake.faults().injected() > 0, "the storm never hit");
    let script = stage_output(&outcome, "script");
    assert_eq!(script["writer"], "gemini", "{script}");
    let scenes = scenes_output(&outcome);
    assert_eq!(providers_of(&scenes, "images"), ["gemini"; 3], "{scenes}");
    assert_eq!(providers_of(&scenes, "clips"), ["veo"; 3], "{scenes}");
    assert_eq!(providers_of(&scenes, "voice"), ["gemini"; 3], "{scenes}");
    for clip in scenes["clips"].as_array().unwrap() {
        assert_eq!(clip["kind"], "video", "{clip}");
    }
    // Each kind of call reached the fake (and only with the operator's key).
    for path in [
        "gemini-test-flash:generateContent",
        "gemini-test-flash-image:generateContent",
        "gemini-test-flash-tts:generateContent",
        "veo-3.1-test-preview:predictLongRunning",
    ] {
        let seen = fake.seen_ending(path);
        assert!(seen.iter().any(|s| s.status == 200), "no successful {path}");
        assert!(seen.iter().all(|s| s.key.as_deref() == Some(KEY)));
    }
    assert_eq!(fake.submitted(), 3, "one clip submitted per scene");
    let storage = fake.recorder().all();
    assert!(
        storage
            .iter()
            .filter(|s| s.origin == "storage")
            .all(|s| s.key.is_none()),
        "the key went to the storage origin"
    );
    check_video(&outcome);
}

#[test]
fn a_failing_video_provider_falls_back_to_the_local_clip_and_result_json_says_so() {
    let (_runtime, fake) = fake(2);
    fake.fail_operations(true);
    let spool = remote_spool(&fake, "");
    let _daemon = spool.start_daemon();
    spool.drop_file("briefs", "grinder.json", brief(2, "independent").as_bytes());
    spool.wait_delivered("briefs", 1, TIMEOUT);
    let outcome = spool.deliveries("briefs").pop().unwrap();
    let scenes = scenes_output(&outcome);
    for clip in scenes["clips"].as_array().unwrap() {
        assert_eq!(clip["kind"], "ken-burns", "{clip}");
        let why = clip["fell_back"]
            .as_str()
            .unwrap_or_else(|| panic!("{clip}"));
        assert!(why.contains("veo"), "{why}");
    }
    assert_eq!(providers_of(&scenes, "images"), ["gemini"; 2]);
    check_video(&outcome);
}

/// The mean colour of an image.
fn mean(image: &RgbImage) -> [f64; 3] {
    let mut sum = [0.0; 3];
    for pixel in image.pixels() {
        for channel in 0..3 {
            sum[channel] += pixel[channel] as f64;
        }
    }
    let count = (image.width() * image.height()) as f64;
    sum.map(|total| total / count)
}

fn close(a: [f64; 3], b: [f64; 3], tolerance: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tolerance)
}

#[test]
fn chain_mode_sends_each_clips_last_frame_with_the_next_submit() {
    let (_runtime, fake) = fake(3);
    let spool = remote_spool(&fake, "");
    let _daemon = spool.start_daemon();
    spool.drop_file("briefs", "grinder.json", brief(3, "chain").as_bytes());
    spool.wait_delivered("briefs", 1, TIMEOUT);
    let outcome = spool.deliveries("briefs").pop().unwrap();
    let submits = fake.seen_ending(":predictLongRunning");
    let operations = fake.operations();
    assert_eq!(submits.len(), 3, "chain mode submits each clip once");
    assert_eq!(operations.len(), 3);
    for (index, submit) in submits.iter().enumerate().skip(1) {
        let sent = &submit.json()["instances"][0]["image"];
        let bytes = {
            use chute_fakes::base64::Engine as _;
            chute_fakes::base64::engine::general_purpose::STANDARD
                .decode(sent["bytesBase64Encoded"].as_str().unwrap())
                .unwrap()
        };
        let first_frame = image::load_from_memory(&bytes).unwrap().to_rgb8();
        let [r, g, b] = chute_fakes::media::colour(&operations[index - 1]);
        // The previous clip is that colour with a small white ball.
        let expected = [r as f64, g as f64, b as f64];
        assert!(
            close(mean(&first_frame), expected, 24.0),
            "submit {} sent {:?}, clip {} was {expected:?}",
            index + 1,
            mean(&first_frame),
            index
        );
    }
    check_video(&outcome);
}

/// Inode and mtime of each scene image (made again = a new inode or mtime).
fn image_marks(dir: &Path) -> Vec<(String, u64, std::time::SystemTime)> {
    use std::os::unix::fs::MetadataExt;
    let mut marks: Vec<_> = fs::read_dir(dir)
        .map(|entries| entries.flatten().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".png"))
        .map(|entry| {
            let meta = entry.metadata().unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                meta.ino(),
                meta.modified().unwrap(),
            )
        })
        .collect();
    marks.sort();
    marks
}

#[test]
fn a_daemon_killed_while_clips_render_neither_redraws_images_nor_submits_twice() {
    let (_runtime, fake) = fake(3);
    fake.polls_until_done(u32::MAX);
    let spool = remote_spool(&fake, "");
    let daemon = spool.start_daemon();
    spool.drop_file("briefs", "grinder.json", brief(3, "independent").as_bytes());
    spool.wait_until(TIMEOUT, "three clips submitted and polled", || {
        fake.submitted() == 3 && !fake.seen_ending("/operations/op000003").is_empty()
    });
    daemon.kill9();
    let job: PathBuf = fs::read_dir(spool.path("jobs"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let before = image_marks(&job.join("out/scenes"));
    assert_eq!(before.len(), 3, "{before:?}");
    let images_made = fake
        .seen_ending("gemini-test-flash-image:generateContent")
        .len();

    fake.polls_until_done(1);
    let _daemon = spool.start_daemon();
    spool.wait_delivered("briefs", 1, TIMEOUT);
    let outcome = spool.deliveries("briefs").pop().unwrap();
    assert_eq!(
        fake.submitted(),
        3,
        "a clip was submitted again after the restart"
    );
    assert_eq!(
        fake.seen_ending("gemini-test-flash-image:generateContent")
            .len(),
        images_made,
        "an image was generated again"
    );
    let after = image_marks(&outcome.dir.join("scenes"));
    assert_eq!(before, after, "scene images were made again");
    for clip in scenes_output(&outcome)["clips"].as_array().unwrap() {
        assert_eq!(clip["provider"], "veo", "{clip}");
    }
    check_video(&outcome);
}

/// Cue times of an SRT file, in seconds.
fn srt_times(srt: &str) -> Vec<(f64, f64)> {
    let seconds = |stamp: &str| {
        let (clock, millis) = stamp.trim().split_once(',').unwrap();
        let parts: Vec<f64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2] + millis.parse::<f64>().unwrap() / 1000.0
    };
    srt.lines()
        .filter_map(|line| line.split_once(" --> "))
        .map(|(from, to)| (seconds(from), seconds(to)))
        .collect()
}

#[test]
fn word_timings_from_the_speech_provider_time_the_captions() {
    const ELEVEN_KEY: &str = "sk_FAKE-elevenlabs-0000000000000000";
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = runtime.block_on(chute_fakes::FakeElevenLabs::start(&[(
        ELEVEN_KEY,
        KeyMode::Valid,
    )]));
    let spool = crate::harness::Spool::new(&crate::harness::Config::default());
    fs::create_dir_all(&spool.outside).unwrap();
    let key = spool.outside.join("eleven.key");
    fs::write(&key, ELEVEN_KEY).unwrap();
    let config = crate::harness::Config {
        extra: format!(
            "[sales_video]\nvoice_providers = [\"elevenlabs\"]\n\n[providers.elevenlabs]\nbase_url = \"{}\"\nkeys = [\"file:{}\"]\ntimestamps = true\n",
            fake.url,
            key.display()
        ),
        ..crate::harness::Config::default()
    };
    spool.write_config(&config);
    let plugins = spool.root.join("plugins");
    fs::create_dir_all(&plugins).unwrap();
    fs::copy(
        crate::plugins::built_plugin("elevenlabs"),
        plugins.join("elevenlabs.wasm"),
    )
    .unwrap();
    let _daemon = spool.start_daemon();
    spool.drop_file("briefs", "grinder.json", brief(2, "independent").as_bytes());
    spool.wait_delivered("briefs", 1, TIMEOUT);
    let outcome = spool.deliveries("briefs").pop().unwrap();
    let scenes = scenes_output(&outcome);
    assert_eq!(
        providers_of(&scenes, "voice"),
        ["elevenlabs"; 2],
        "{scenes}"
    );
    let voices = scenes["voice"].as_array().unwrap();
    let cues = srt_times(&fs::read_to_string(outcome.dir.join("captions.srt")).unwrap());
    assert_eq!(cues.len(), 2, "{cues:?}");
    let mut slot_start = 0.0;
    for (cue, voice) in cues.iter().zip(voices) {
        let words = voice["words"]
            .as_array()
            .unwrap_or_else(|| panic!("{voice}"));
        let spoken = words.len();
        assert!(spoken >= 2, "{voice}");
        let seconds = voice["seconds"].as_f64().unwrap();
        let last_end = words[spoken - 1]["end"].as_f64().unwrap();
        // The cue ends with the last word, before the voiceover's trailing pause.
        assert!(
            (cue.1 - (slot_start + last_end)).abs() < 0.01,
            "{cue:?} vs {last_end}"
        );
        assert!(
            cue.1 < slot_start + seconds - 0.1,
            "{cue:?} fills the slot of {seconds} s"
        );
        slot_start += seconds;
    }
    check_video(&outcome);
}
