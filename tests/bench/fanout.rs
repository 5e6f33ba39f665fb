//! Scene fan-out benchmark: how close the scenes stage comes to the fastest schedule
//! its limits allow. The fake Gemini API answers images after 2 s and speech after
//! 1 s, and finishes a Veo clip 6 s after its submit; the daemon makes a 6-scene and a
//! 20-scene brief through the shipped gemini and veo plugins with
//! `scene_concurrency = 4`. Printed per size, all measured in the same run:
//! - the scenes stage's makespan ÷ the critical-path bound for the same latencies and
//!   limits (goal ≤ 1.1×): images go in waves of `scene_concurrency`, each scene's clip
//!   starts when its image is done, voices run beside them;
//! - the same ÷ a sequential run (one image or voice at a time, clips one after the
//!   other in chain mode).
//!
//! `cargo bench --bench fanout` (CHUTE_BENCH_SCENES=6,20 picks the sizes). Under
//! `cargo test` a 2-scene version with tenth-second latencies runs, so the harness
//! stays tested.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chute_fakes::{Call, FakeGemini, KeyMode};

#[allow(dead_code)]
#[path = "../video/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../plugins/harness.rs"]
mod plugins;

const GOAL: f64 = 1.1;
const CONCURRENCY: usize = 4;

/// The fake's latencies.
#[derive(Clone, Copy)]
struct Latencies {
    image: f64,
    clip: f64,
    speech: f64,
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (latencies, sizes) = if full {
        let sizes = std::env::var("CHUTE_BENCH_SCENES")
            .ok()
            .map(|list| {
                list.split(',')
                    .filter_map(|n| n.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_else(|| vec![6, 20]);
        (
            Latencies {
                image: 2.0,
                clip: 6.0,
                speech: 1.0,
            },
            sizes,
        )
    } else {
        (
            Latencies {
                image: 0.2,
                clip: 0.6,
                speech: 0.1,
            },
            vec![2],
        )
    };
    println!(
        "fan-out benchmark: image {} s, clip submit→done {} s, speech {} s, scene_concurrency {CONCURRENCY}",
        latencies.image, latencies.clip, latencies.speech
    );
    for scenes in sizes {
        let bound = critical_path(scenes, CONCURRENCY, latencies);
        let parallel = scenes_stage_seconds(scenes, CONCURRENCY, "independent", latencies);
        let sequential = scenes_stage_seconds(scenes, 1, "chain", latencies);
        let ratio = parallel / bound;
        println!(
            "{scenes:>2} scenes: makespan {parallel:.1} s, bound {bound:.1} s, ratio {ratio:.2} (goal ≤ {GOAL}) {}; sequential {sequential:.1} s, makespan ÷ sequential {:.2}",
            if ratio <= GOAL { "met" } else { "MISSED" },
            parallel / sequential
        );
    }
}

/// The shortest makespan the limits allow: scene `i`'s image ends with wave
/// `i / concurrency`, its clip `clip` seconds later; voices go in their own waves.
fn critical_path(scenes: usize, concurrency: usize, latencies: Latencies) -> f64 {
    let waves = scenes.div_ceil(concurrency) as f64;
    (waves * latencies.image + latencies.clip).max(waves * latencies.speech)
}

/// Runs one brief through a fresh daemon and returns its scenes stage's wall time.
fn scenes_stage_seconds(
    scenes: usize,
    concurrency: usize,
    clip_mode: &str,
    latencies: Latencies,
) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = runtime.block_on(FakeGemini::start(&[(fixtures::KEY, KeyMode::Valid)]));
    fake.shrink_clips(8);
    fake.polls_until_done(1);
    fake.faults()
        .latency(Call::Image, Duration::from_secs_f64(latencies.image));
    fake.faults()
        .latency(Call::Speech, Duration::from_secs_f64(latencies.speech));
    fake.faults()
        .latency(Call::Submit, Duration::from_secs_f64(latencies.clip));
    fake.answer_text([fixtures::script_answer(scenes)]);
    // Small frames keep the render (not measured here) short.
    let extra = format!(
        "scene_concurrency = {concurrency}\n\n[sales_video.render]\nshort_side = 360\nfps = 15\npreset = \"ultrafast\"\n"
    );
    let spool = fixtures::remote_spool(&fake, &extra);
    let poll = format!(
        "poll_ms = \"{}\"",
        (latencies.clip * 1000.0 / 30.0).max(50.0) as u64
    );
    let config = std::fs::read_to_string(&spool.config_path).unwrap();
    // The fixture's Veo table polls every 300 ms; the benchmark polls at 1/30 of a clip.
    assert!(
        config.contains("poll_ms = \"300\""),
        "the fixture's poll_ms moved"
    );
    std::fs::write(
        &spool.config_path,
        config.replace("poll_ms = \"300\"", &poll),
    )
    .unwrap();
    let _daemon = spool.start_daemon();
    spool.drop_file(
        "briefs",
        "fanout.json",
        fixtures::brief(scenes as u32, clip_mode).as_bytes(),
    );
    spool.wait_until(Duration::from_secs(900), "the brief to finish", || {
        spool.delivered_count("briefs") + spool.failed_count("briefs") > 0
    });
    assert_eq!(spool.delivered_count("briefs"), 1, "{}", spool.summary());
    let outcome = spool.deliveries("briefs").pop().unwrap();
    let stage = outcome.record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stage| stage["name"] == "scenes")
        .cloned()
        .unwrap();
    for clip in stage["outputs"]["clips"].as_array().unwrap() {
        assert_eq!(clip["provider"], "veo", "a clip fell back: {clip}");
    }
    let time =
        |field: &str| chrono::DateTime::parse_from_rfc3339(stage[field].as_str().unwrap()).unwrap();
    (time("finished_at") - time("started_at")).num_milliseconds() as f64 / 1000.0
}
