//! Recordings without speech through the daemon: faint hiss and rumble (made by sox)
//! are transcribed (`[BLANK_AUDIO]`), but nothing is summarized. The job is delivered with its transcript,
//! no summary.json, and a `nothing_to_summarize` warning in result.json.

use std::process::Command;

use super::harness::{Spool, secs};
use super::{audio_config, stage};

/// Writes `seconds` of 16 kHz mono audio from sox's `synth`/`-n` arguments.
fn sox(spool: &Spool, name: &str, effect: &[&str]) {
    let wav = spool.outside.join(name);
    let status = Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(effect)
        .status()
        .expect("sox (installed by .ci/install)");
    assert!(status.success());
    std::fs::rename(&wav, spool.inbox("audio").join(name)).unwrap();
}

#[test]
fn noise_without_speech_is_delivered_without_a_summary_of_filler() {
    // A full build disk must not hold the claims of this test.
    let spool = Spool::new(&audio_config(
        "",
        "[disk]\nwarn_percent = 97\npause_percent = 99\nresume_percent = 98\n",
    ));
    let daemon = spool.start_daemon();
    // (Digital silence is refused earlier, by the decoder: "the input is silent".)
    sox(
        &spool,
        "rumble.wav",
        &["synth", "8", "brownnoise", "vol", "0.05"],
    );
    sox(
        &spool,
        "hiss.wav",
        &["synth", "8", "whitenoise", "vol", "0.01"],
    );
    spool.wait_delivered("audio", 2, secs(300));
    drop(daemon);
    for outcome in spool.deliveries("audio") {
        assert!(
            outcome.dir.join("transcript.txt").is_file(),
            "{}",
            outcome.record
        );
        assert!(outcome.dir.join("transcript.json").is_file());
        assert!(
            !outcome.dir.join("summary.json").exists(),
            "a recording without speech got a summary: {}",
            std::fs::read_to_string(outcome.dir.join("summary.json")).unwrap_or_default()
        );
        let summarize = stage(&outcome, "summarize");
        assert_eq!(summarize["status"], "done", "{}", outcome.record);
        let skipped = summarize["outputs"]["skipped"].as_str().unwrap_or_default();
        assert!(skipped.starts_with("nothing to summarize"), "{skipped}");
        let warnings = outcome.record["warnings"].as_array().expect("warnings");
        assert_eq!(warnings.len(), 1, "{}", outcome.record);
        assert_eq!(warnings[0]["stage"], "summarize");
        assert_eq!(warnings[0]["cause"], "nothing_to_summarize");
        assert!(
            warnings[0]["reason"]
                .as_str()
                .unwrap()
                .starts_with("nothing to summarize")
        );
        assert!(!warnings[0]["hint"].as_str().unwrap().is_empty());
        assert_eq!(outcome.record["state"], "done");
        assert!(
            !outcome.record["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "summary.json")
        );
    }
}
