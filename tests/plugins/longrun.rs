//! Long-running operations through the real daemon: a `generate` route submits a
//! video to the fake Gemini API, the daemon is SIGKILLed while the operation is
//! pending, and the restarted daemon polls the saved handle: exactly one submit,
//! the video delivered, no key anywhere in the spool or the logs.

use crate::harness::{all_files, built_plugins, contains, runtime};
use crate::spool_harness::{Config, Daemon, Route, Spool, secs, wait_until};
use chute_fakes::{FakeGemini, KeyMode};

const KEY: &str = "AIzaSyFAKE-longrun-key-33333333333333";

fn generate_route(name: &str) -> Route {
    Route {
        pipeline: "generate".into(),
        ..Route::passthrough(name)
    }
}

/// A spool whose `clips` route runs `generate`, served by gemini-lite against `fake`
/// with [`KEY`] (kept outside the spool); `settings` are more provider settings.
fn clips_spool(fake: &FakeGemini, settings: &str) -> Spool {
    let mut config = Config::with_route(generate_route("clips"));
    let spool = Spool::new(&config);
    let key_file = spool.outside.join("gemini.key");
    std::fs::write(&key_file, KEY).unwrap();
    config.extra = format!(
        "[plugins]\ncall_timeout = \"20s\"\n\n[providers.gemini-lite]\nbase_url = \"{}\"\nkeys = [\"file:{}\"]\n{}{settings}",
        fake.url,
        key_file.display(),
        fake.allow_hosts()
    );
    spool.write_config(&config);
    std::fs::create_dir_all(spool.path("plugins")).unwrap();
    std::fs::copy(
        built_plugins().join("chute_test_gemini_lite.wasm"),
        spool.path("plugins/gemini-lite.wasm"),
    )
    .unwrap();
    spool
}

/// A fake whose operations finish after one poll (changed by `setup` before use), a
/// `clips` spool polling every 200 ms, its daemon, and one video request `name`
/// asking for `prompt`.
fn one_video_job(
    setup: impl FnOnce(&FakeGemini),
    name: &str,
    prompt: &str,
) -> (tokio::runtime::Runtime, FakeGemini, Spool, Daemon) {
    let runtime = runtime();
    let fake = runtime.block_on(FakeGemini::start(&[(KEY, KeyMode::Valid)]));
    fake.polls_until_done(1);
    setup(&fake);
    let spool = clips_spool(&fake, "poll_ms = \"200\"\n");
    let daemon = spool.start_daemon();
    let request =
        format!("kind = \"video\"\nprompt = \"{prompt}\"\nproviders = [\"gemini-lite\"]\n");
    spool.drop_file("clips", name, request.as_bytes());
    (runtime, fake, spool, daemon)
}

/// The fake's clips are real MP4s (H.264 + AAC, several kilobytes).
fn assert_is_mp4(path: &std::path::Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        bytes.get(4..8),
        Some(&b"ftyp"[..]),
        "{} is not an MP4",
        path.display()
    );
    assert!(
        bytes.len() > 2_000,
        "{} holds {} bytes",
        path.display(),
        bytes.len()
    );
}

#[test]
fn a_daemon_killed_mid_operation_polls_the_saved_handle_and_never_submits_again() {
    let runtime = runtime();
    let fake = runtime.block_on(FakeGemini::start(&[(KEY, KeyMode::Valid)]));
    fake.polls_until_done(u32::MAX);

    let spool = clips_spool(&fake, "poll_ms = \"300\"\nvideo_model = \"veo-test\"\n");

    let first = spool.start_daemon();
    let request = b"kind = \"video\"\nprompt = \"Slow dolly-in on a lighthouse at dusk\"\nproviders = [\"gemini-lite\"]\nseconds = 8\naspect_ratio = \"9:16\"\n";
    spool.drop_file("clips", "lighthouse.toml", request);
    wait_until(secs(60), "the operation is being polled", || {
        fake.seen_ending("/operations/op000001").len() >= 2
    });
    // Doctor shows the running daemon's key counters, by fingerprint only.
    let mut doctor = String::new();
    wait_until(secs(10), "doctor shows the key's requests", || {
        let output = std::process::Command::new(crate::spool_harness::BIN)
            .envs(spool.compile_cache_env())
            .args(["doctor", "--spool"])
            .arg(&spool.root)
            .output()
            .unwrap();
        doctor = String::from_utf8_lossy(&output.stdout).into_owned();
        doctor.contains("gemini-lite key-") && doctor.contains(" ok, 0 failed")
    });
    assert!(!doctor.contains(KEY), "doctor printed the key");
    let first_log = first.log();
    first.kill9();
    assert_eq!(fake.seen_ending(":predictLongRunning").len(), 1);

    fake.polls_until_done(0);
    let second = spool.start_daemon();
    spool.wait_delivered("clips", 1, secs(60));
    let second_log = second.log();
    second.terminate(secs(10));

    assert_eq!(
        fake.seen_ending(":predictLongRunning").len(),
        1,
        "the restarted daemon submitted again"
    );
    assert!(
        second_log.contains("Resuming a video operation"),
        "{second_log}"
    );
    let delivered = &spool.deliveries("clips")[0];
    assert_is_mp4(&delivered.dir.join("video.mp4"));
    let stage = delivered.record["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|stage| stage["name"] == "generate"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(stage["attempts"], 2, "{stage}");
    // result.json says who served it, with which key (by fingerprint), and every exchange.
    let call = &stage["outputs"]["calls"][0];
    assert_eq!(call["provider"], "gemini-lite", "{stage}");
    assert!(
        call["key"]
            .as_str()
            .is_some_and(|key| key.starts_with("key-")),
        "{call}"
    );
    assert!(
        call["exchanges"]
            .as_array()
            .is_some_and(|exchanges| exchanges.len() >= 2),
        "{call}"
    );

    // The same request from another job comes from the result cache: no new submit.
    let third = spool.start_daemon();
    let mut again = request.to_vec();
    again.extend_from_slice(b"# the same request, another file\n");
    spool.drop_file("clips", "lighthouse-again.toml", &again);
    spool.wait_delivered("clips", 2, secs(60));
    third.terminate(secs(10));
    assert_eq!(
        fake.seen_ending(":predictLongRunning").len(),
        1,
        "a cached video was submitted again"
    );
    for delivered in spool.deliveries("clips") {
        assert_is_mp4(&delivered.dir.join("video.mp4"));
    }

    // The key went to the API origin in the header, never to the storage origin.
    let storage: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|seen| seen.origin == "storage")
        .collect();
    assert_eq!(storage.len(), 1);
    assert!(
        storage[0].key.is_none()
            && !storage[0]
                .headers
                .iter()
                .any(|(name, _)| name == "x-goog-api-key")
    );
    assert!(
        fake.seen()
            .iter()
            .filter(|seen| seen.origin == "gemini")
            .all(|seen| seen.key.as_deref() == Some(KEY))
    );

    // No key in the spool (state.json, events, result.json, caches) or the logs.
    let files = all_files(&spool.root);
    assert!(files.len() > 5);
    for (path, bytes) in &files {
        assert!(!contains(bytes, KEY.as_bytes()), "the key is in {path}");
    }
    for log in [&first_log, &second_log] {
        assert!(!log.contains(KEY), "the key is in a daemon log");
    }
}

#[test]
fn a_retried_job_submits_a_new_operation_instead_of_polling_the_failed_one() {
    let (_runtime, fake, spool, daemon) = one_video_job(
        |fake| fake.fail_operations(true),
        "tide.toml",
        "Tide pools at dawn",
    );
    wait_until(secs(60), "the job fails", || {
        spool.failed_count("clips") == 1
    });
    let failed = &spool.failures("clips")[0];
    assert!(
        failed.record.to_string().contains("could not be processed"),
        "{}",
        failed.record
    );
    assert_eq!(fake.seen_ending(":predictLongRunning").len(), 1);

    fake.fail_operations(false);
    let retried = spool.cli(["retry", failed.job_id().as_str()]);
    assert_eq!(
        retried.code,
        Some(0),
        "{}{}",
        retried.stdout,
        retried.stderr
    );
    spool.wait_delivered("clips", 1, secs(60));
    daemon.terminate(secs(10));
    assert_eq!(
        fake.seen_ending(":predictLongRunning").len(),
        2,
        "the retry did not submit anew"
    );
}

/// A download that fails after the render finished does not lose the paid render:
/// the stage resumes the saved operation and downloads again, without a second submit
/// (generate runs once per attempt budget; the video path waits out outages itself).
#[test]
fn a_failed_download_is_retried_from_the_saved_handle_without_a_second_submit() {
    let (_runtime, fake, spool, daemon) =
        one_video_job(|fake| fake.fail_downloads(1), "surf.toml", "Surf at noon");
    wait_until(secs(90), "the job ends", || {
        spool.delivered_count("clips") + spool.failed_count("clips") == 1
    });
    daemon.terminate(secs(10));
    assert_eq!(
        spool.failed_count("clips"),
        0,
        "{:?}",
        spool
            .failures("clips")
            .first()
            .map(|failed| failed.record.clone())
    );
    assert_eq!(fake.seen_ending(":predictLongRunning").len(), 1);
    let downloads = fake
        .seen()
        .into_iter()
        .filter(|seen| seen.origin == "storage")
        .count();
    assert_eq!(downloads, 2, "the download was not tried again");
}
