//! Stopping a transcription while whisper.cpp is inside a long chunk: a cancel and the
//! end of the shutdown grace both end it within seconds, not when the chunk is done,
//! and neither counts as a failed attempt.

use std::time::Instant;

use super::*;

/// Runs `chute ARGS --spool SPOOL`; returns stdout.
fn chute(spool: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_chute"))
        .args(args)
        .arg("--spool")
        .arg(spool)
        .output()
        .unwrap();
    assert!(output.status.success(), "chute {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The only job folder in jobs/, once whisper is working on it (its transcribe stage
/// has started and a second has passed for the model to load).
fn job_inside_whisper(spool: &Path) -> PathBuf {
    let mut job = None;
    wait_for("transcribe to start", 120, || {
        job = std::fs::read_dir(spool.join("jobs"))
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                std::fs::read_to_string(path.join("events.jsonl")).is_ok_and(|events| {
                    events.lines().any(|line| {
                        line.contains("\"stage\":\"transcribe\"") && line.contains("started")
                    })
                })
            });
        job.is_some()
    });
    std::thread::sleep(Duration::from_secs(2));
    job.unwrap()
}

/// One chunk of about 100 s of speech decoded with beam search on one thread keeps
/// whisper.cpp busy for far longer than the few seconds a stop may take.
fn long_chunk_config(dir: &Path, grace: &str) -> PathBuf {
    let config = dir.join("one-chunk.toml");
    std::fs::write(
        &config,
        format!(
            "[transcribe]\nchunk = \"300s\"\nthreads = 1\nbeam_size = 5\n\n[summarize]\nenabled = false\n\n[limits]\nshutdown_grace = \"{grace}\"\n"
        ),
    )
    .unwrap();
    config
}

/// A daemon (with this shutdown grace) whisper is busy with a long chunk in: its
/// folder, spool, process and the job's folder.
fn long_chunk_in_whisper(grace: &str) -> (tempfile::TempDir, PathBuf, DaemonChild, PathBuf) {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let config = long_chunk_config(dir.path(), grace);
    let daemon = spawn_daemon(&spool, Some(&config), &model);
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    let script = vec![SENTENCES.join(" "); 5].join(" ");
    drop_speech(dir.path(), &inbox, "long.wav", &script);
    let job = job_inside_whisper(&spool);
    (dir, spool, daemon, job)
}

#[test]
fn a_cancel_inside_a_long_whisper_chunk_ends_the_job_within_seconds() {
    let (_dir, spool, mut daemon, job) = long_chunk_in_whisper("30s");
    let id = job.file_name().unwrap().to_str().unwrap().to_owned();

    let asked = Instant::now();
    let said = chute(&spool, &["cancel", &id]);
    assert!(said.contains("cancel requested"), "{said}");
    let failed = spool.join("failed/audio");
    wait_for("the cancelled job in failed/", 60, || {
        std::fs::read_dir(&failed).is_ok_and(|mut d| d.next().is_some())
    });
    let took = asked.elapsed();
    let _ = daemon.kill();
    let _ = daemon.wait();
    // The goal is 2 s; the bound leaves room for a loaded CI machine, and whisper
    // would need tens of seconds more to finish the chunk.
    assert!(took < Duration::from_secs(8), "the cancel took {took:?}");
    let error = first_error_json(&failed);
    assert_eq!(error["state"], "cancelled", "{error}");
    assert_eq!(error["stage"], "transcribe", "{error}");
    assert_eq!(
        attempts(&error, "transcribe"),
        0,
        "a cancel is not a failed attempt: {error}"
    );
}

#[test]
fn a_stop_inside_a_long_whisper_chunk_exits_soon_after_the_grace() {
    let (_dir, _spool, mut daemon, job) = long_chunk_in_whisper("1s");

    let asked = Instant::now();
    run("kill", &["-TERM", &daemon.id().to_string()]);
    let status = daemon.wait().unwrap();
    let took = asked.elapsed();
    assert!(status.success(), "{status}");
    assert!(
        took < Duration::from_secs(8),
        "the daemon took {took:?} to exit after a 1 s grace"
    );
    let state: Value =
        serde_json::from_slice(&std::fs::read(job.join("state.json")).unwrap()).unwrap();
    let transcribe = state["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|stage| stage["name"] == "transcribe")
        .unwrap();
    assert_eq!(
        transcribe["attempts"], 0,
        "an interruption is not a failed attempt: {state}"
    );
}
