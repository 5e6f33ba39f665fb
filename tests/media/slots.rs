//! A recording that waits for the native lease gives its running slot back, so other
//! routes' jobs run meanwhile instead of queueing behind the one GPU.

use super::*;

#[test]
fn a_job_waiting_for_the_speech_model_does_not_hold_a_running_slot() {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let config = dir.path().join("two-slots.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_running_jobs = 2\n\n[transcribe]\nchunk = \"300s\"\nthreads = 1\nbeam_size = 5\n\n[summarize]\nenabled = false\n\n[[routes]]\nname = \"files\"\npipeline = \"passthrough\"\n",
    )
    .unwrap();
    let mut daemon = spawn_daemon(&spool, Some(&config), &model);
    let audio = spool.join("inbox/audio");
    wait_for("the inbox", 30, || audio.is_dir());
    // A long recording holds the lease for tens of seconds; a short one then waits.
    let script = vec![SENTENCES.join(" "); 5].join(" ");
    drop_speech(dir.path(), &audio, "long.wav", &script);
    wait_for("the long recording to reach whisper", 120, || {
        jobs_json(&spool)
            .iter()
            .any(|job| job["stage"] == "transcribe" && job["waiting"].is_null())
    });
    drop_speech(dir.path(), &audio, "short.wav", SENTENCES[0]);
    wait_for(
        "the short recording to wait for the speech model",
        60,
        || {
            jobs_json(&spool).iter().any(|job| {
                job["input"] == "short.wav"
                    && job["waiting"]
                        .as_str()
                        .is_some_and(|note| note.starts_with("waiting for the speech model"))
            })
        },
    );

    // Both slots would be taken if waiting held one; the file still goes through.
    let files = spool.join("inbox/files");
    std::fs::write(dir.path().join("notes.txt"), b"meeting notes").unwrap();
    std::fs::rename(dir.path().join("notes.txt"), files.join("notes.txt")).unwrap();
    wait_for("the passthrough job", 60, || {
        std::fs::read_dir(spool.join("outbox/files")).is_ok_and(|mut d| d.next().is_some())
    });
    let still_running: Vec<Value> = jobs_json(&spool)
        .into_iter()
        .filter(|job| job["route"] == "audio" && job["state"] == "running")
        .collect();
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        still_running.len(),
        2,
        "the file went through while both recordings were still running: {still_running:?}"
    );
}

/// `chute jobs --json` on `spool`.
fn jobs_json(spool: &Path) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_chute"))
        .args(["jobs", "--json", "--spool"])
        .arg(spool)
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_default()
}
