//! Briefs and provider set-ups shared by the remote-provider tests and the fan-out
//! benchmark: a brief with one named character, the script a capable model writes for
//! it, and a spool whose sales-video chains are the shipped gemini and veo plugins
//! pointed at a fake.

use std::fs;
use std::time::Duration;

use chute_fakes::FakeGemini;
use serde_json::{Value, json};

use crate::harness::{Config, Spool};

/// The key the fake accepts.
pub const KEY: &str = "AIzaSyFAKE-sales-video-00000000000000";
/// Longest a brief may take in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// A brief with one named character (the script's bible then holds exactly them).
pub fn brief(scenes: u32, clip_mode: &str) -> String {
    format!(
        r#"{{"product": {{"name": "Brew Buddy grinder", "selling_points": ["grinds in ten seconds", "quiet ceramic burrs"], "price": "$59"}},
            "duration_sec": {}, "language": "en", "style": "viral", "clip_mode": "{clip_mode}",
            "characters": [{{"name": "Linh", "role": "barista", "look": "short black hair, green apron"}}]}}"#,
        scenes * 5
    )
}

/// The script a capable model writes for [`brief`]: it names the product, keeps the
/// character's five anchors and fits each scene's time.
pub fn script_answer(scenes: usize) -> String {
    let lines = [
        "Meet the Brew Buddy grinder.",
        "It grinds in ten seconds.",
        "Quiet ceramic burrs, every morning.",
        "Only $59 today.",
    ];
    let scenes: Vec<Value> = (0..scenes)
        .map(|n| {
            json!({"description": format!("Linh shows the grinder at the counter, moment {}", n + 1),
                   "voiceover": format!("{} Part {}.", lines[n % lines.len()], n + 1),
                   "prompt": {"characters": ["Linh"], "setting": "a bright cafe counter at dawn",
                              "action": format!("Linh presses the grinder's button, moment {}", n + 1), "camera": "medium close-up, slow push in",
                              "emotion": "delighted"}})
        })
        .collect();
    json!({
        "character_bible": [{"name": "Linh", "role": "barista", "look": "short black hair, green apron",
            "anchors": ["short black hair", "green apron", "silver watch", "round glasses", "white sneakers"]}],
        "scenes": scenes,
        "social_media": {"caption": "Brew Buddy grinder: fresh coffee in ten seconds.",
            "hashtags": ["#coffee", "#brewbuddy", "#grinder"],
            "thumbnail_prompt": "The Brew Buddy grinder on a cafe counter",
            "thumbnail_text": "Fresh in ten seconds"}
    })
    .to_string()
}

/// A spool whose sales-video chains are gemini (script, images, voices) and veo
/// (clips), both pointed at `fake`.
pub fn remote_spool(fake: &FakeGemini, extra: &str) -> Spool {
    let plugins_config = format!(
        r#"[plugins]
call_timeout = "60s"
attempts = 6

[sales_video]
script_providers = ["gemini"]
image_providers = ["gemini"]
clip_providers = ["veo"]
voice_providers = ["gemini"]
{extra}

[providers.gemini]
base_url = "{url}"
keys = ["file:KEYFILE"]
requests_per_minute = 60000
model = "gemini-test-flash"
image_model = "gemini-test-flash-image"
tts_model = "gemini-test-flash-tts"

[providers.veo]
base_url = "{url}"
keys = ["file:KEYFILE"]
requests_per_minute = 60000
model = "veo-3.1-test-preview"
poll_ms = "300"
{allow}"#,
        url = fake.url,
        allow = fake.allow_hosts()
    );
    let spool = Spool::new(&Config::default());
    let key = spool.outside.join("gemini.key");
    fs::create_dir_all(&spool.outside).unwrap();
    fs::write(&key, KEY).unwrap();
    let config = Config {
        extra: plugins_config.replace("KEYFILE", &key.display().to_string()),
        ..Config::default()
    };
    spool.write_config(&config);
    let plugins = spool.root.join("plugins");
    fs::create_dir_all(&plugins).unwrap();
    for name in ["gemini", "veo"] {
        fs::copy(
            crate::plugins::built_plugin(name),
            plugins.join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    spool
}
