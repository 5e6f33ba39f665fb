//! The confinement of the children that read untrusted bytes, through the very builder
//! the daemon uses (`chute::confine::Policy` → `chute confine … -- PROGRAM`): what a
//! child can see and do, that a timeout kills its whole process group, and that the
//! decoder, espeak-ng and the daemon still work inside it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chute::confine::{Achieved, ConfinedChild, LandlockLevel, Policy};
use chute::media::child::{DecodeLimits, decode_in_child};
use chute::media::decode::{DecodeError, SAMPLE_RATE};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use super::{DaemonChild, SENTENCES, fixtures, gst, run, wait_for, whisper_model};

/// The variable the canary test puts in the parent's environment.
const CANARY: &str = "CHUTE_CANARY_KEY";

fn exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_chute"))
}

/// What this kernel grants, asked the way the daemon asks.
async fn achieved() -> Achieved {
    chute::confine::probe(exe()).await.unwrap()
}

/// Reports, as JSON, what a process can see and do: its environment, sockets, writes
/// inside and outside its folder, limits, no_new_privs, seccomp, process group.
const INSPECT: &str = r#"
import json, os, resource, socket, sys
allowed, outside = sys.argv[1], sys.argv[2]
out = {"env": dict(os.environ), "pid": os.getpid(), "pgid": os.getpgrp()}
def attempt(name, action):
    try:
        action()
        out[name] = "ok"
    except OSError as error:
        out[name] = error.errno
attempt("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
attempt("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
attempt("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
attempt("inside", lambda: open(os.path.join(allowed, "made.txt"), "w").write("x"))
attempt("outside", lambda: open(outside, "w").write("x"))
attempt("tmp", lambda: open("/tmp/chute-confine-test-%d" % os.getpid(), "w").write("x"))
for name in ["CORE", "CPU", "FSIZE", "NOFILE", "AS"]:
    out[name.lower()] = list(resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
out["no_new_privs"] = status["NoNewPrivs"].strip()
out["seccomp"] = status["Seccomp"].strip()
print(json.dumps(out))
"#;

/// Runs the checks in a process whose environment holds a canary key (the test
/// harness shares one environment between threads, so it is set on a new process).
#[test]
fn a_confined_child_sees_no_key_opens_no_socket_and_writes_only_its_folder() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "confine::canary_checks",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CANARY, "sk-canary-0123456789")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the checks did not run:\n{text}");
    eprintln!("{text}");
}

/// The body of the test above; run alone it fails, as the canary is missing.
#[tokio::test]
#[ignore = "run by a_confined_child_sees_no_key_opens_no_socket_and_writes_only_its_folder"]
async fn canary_checks() {
    let canary = std::env::var(CANARY).expect("the parent test sets the canary");
    let granted = achieved().await;
    eprintln!("this kernel grants: {granted}");
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    let outside = dir.path().join("outside.txt");
    let policy = Policy::new(Duration::from_secs(20), 1, 1 << 20)
        .memory(2 << 30)
        .writable(&allowed);
    let mut command = policy.command(exe(), "python3");
    command
        .arg("-c")
        .arg(INSPECT)
        .arg(&allowed)
        .arg(&outside)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ConfinedChild::spawn(&mut command).unwrap();
    let output = child.output(1 << 20).await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!("the child reports: {report}");

    let env = report["env"].as_object().unwrap();
    assert!(!env.contains_key(CANARY), "{env:?}");
    assert!(
        env.values()
            .all(|value| value.as_str() != Some(canary.as_str())),
        "{env:?}"
    );
    for key in ["HOME", "CREDENTIALS_DIRECTORY", "CHUTE_CONFIG"] {
        assert!(!env.contains_key(key), "{key} reached the child: {env:?}");
    }
    assert_eq!(env["PATH"], chute::confine::SAFE_PATH);
    assert_eq!(report["core"], serde_json::json!([0, 0]));
    assert_eq!(report["cpu"][0], policy.cpu_limit());
    assert_eq!(report["fsize"], serde_json::json!([1 << 20, 1 << 20]));
    assert_eq!(report["nofile"], serde_json::json!([256, 256]));
    assert_eq!(report["as"], serde_json::json!([2u64 << 30, 2u64 << 30]));
    assert_eq!(report["no_new_privs"], "1");
    assert_eq!(report["pgid"], report["pid"], "its own process group");
    assert_ne!(
        report["pgid"].as_u64(),
        Some(u64::from(
            rustix::process::getpgrp().as_raw_nonzero().get() as u32
        )),
        "not the parent's group"
    );
    assert_eq!(report["inside"], "ok");
    assert!(allowed.join("made.txt").is_file());
    if granted.seccomp {
        assert_eq!(report["seccomp"], "2", "a filter is installed");
        assert_eq!(report["inet"], libc::EPERM, "{report}");
        assert_eq!(report["inet6"], libc::EPERM, "{report}");
        assert_eq!(report["unix"], "ok", "local sockets stay allowed");
    } else {
        eprintln!("SKIPPED the socket checks: this kernel has no seccomp filters");
    }
    if granted.landlock == LandlockLevel::None {
        eprintln!("SKIPPED the write checks: this kernel has no Landlock");
    } else {
        assert_eq!(report["outside"], libc::EACCES, "{report}");
        assert_eq!(report["tmp"], libc::EACCES, "{report}");
        assert!(!outside.exists(), "a file was written outside the folder");
    }
}

/// A child that outlives its time is killed with its whole process group: the
/// background `sleep` its shell started dies with it.
#[tokio::test]
async fn a_timed_out_child_is_killed_with_its_grandchildren() {
    let policy = Policy::new(Duration::from_secs(1), 1, 0);
    let mut command = policy.command(exe(), "sh");
    command
        .arg("-c")
        .arg("sleep 1000 & echo $!; wait")
        .stdout(Stdio::piped());
    let mut child = ConfinedChild::spawn(&mut command).unwrap();
    let stdout = child.stdout().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let grandchild: u32 = lines.next_line().await.unwrap().unwrap().parse().unwrap();
    assert!(is_alive(grandchild), "the sleep runs");
    let waited = tokio::time::timeout(Duration::from_millis(300), child.wait()).await;
    assert!(waited.is_err(), "the shell waits for its sleep");
    // What every caller does when its time is up: the child is dropped.
    drop(child);
    wait_for("the grandchild to die", 10, || !is_alive(grandchild));
}

/// Whether `pid` is a live process (a zombie is dead).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// `chute doctor` says how children are confined.
#[test]
fn doctor_shows_the_confinement() {
    let spool = tempfile::tempdir().unwrap();
    let output = Command::new(exe())
        .arg("--spool")
        .arg(spool.path())
        .arg("doctor")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|line| line.contains("children:"))
        .unwrap_or_else(|| panic!("no children line:\n{text}"));
    assert!(
        line.starts_with("ok    children: confined (landlock v")
            || line.starts_with("warn  children: partly confined"),
        "{line}"
    );
}

/// The decoder reads the file the daemon opened: a name that is not UTF-8 decodes, and
/// an MP4 whose index (moov) comes after its media data still decodes (GStreamer
/// seeks in it).
#[tokio::test]
async fn the_decoder_reads_an_open_file_whatever_its_name_and_layout() {
    let (dir, wav) = fixtures();
    let latin1 = dir.path().join(OsStr::from_bytes(b"r\xe9union-\xff.wav"));
    std::fs::copy(&wav, &latin1).unwrap();
    gst(
        dir.path(),
        "filesrc location=speech.wav ! wavparse ! audioconvert ! audioresample ! avenc_aac ! mp4mux faststart=false ! filesink location=speech.m4a",
    );
    let m4a = std::fs::read(dir.path().join("speech.m4a")).unwrap();
    let find = |tag: &[u8]| m4a.windows(4).position(|window| window == tag).unwrap();
    assert!(find(b"moov") > find(b"mdat"), "the index is at the end");
    let expected = super::wav_seconds(&wav);
    for input in [latin1, dir.path().join("speech.m4a")] {
        let output = dir.path().join("out.f32");
        let info = decode_in_child(exe(), &input, &output, &DecodeLimits::default(), |_| {})
            .await
            .unwrap_or_else(|error| panic!("{}: {error}", input.display()));
        assert!(
            (info.duration_seconds - expected).abs() < 0.2,
            "{}: {} s of {expected} s",
            input.display(),
            info.duration_seconds
        );
        assert_eq!(std::fs::metadata(&output).unwrap().len(), info.samples * 4);
    }
}

/// A 44 KB WAV whose header says its sample rate is 1 Hz (so six hours long).
fn one_hertz_bomb() -> Vec<u8> {
    let data_bytes: u32 = 44_000;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_bytes).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&1u32.to_le_bytes()); // 1 Hz
    wav.extend_from_slice(&2u32.to_le_bytes()); // bytes per second
    wav.extend_from_slice(&2u16.to_le_bytes()); // block align
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_bytes.to_le_bytes());
    wav.extend((0..data_bytes).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8));
    wav
}

/// The 1 Hz bomb is refused from its header, before a sample is written, and its
/// output file is gone.
#[tokio::test]
async fn a_tiny_file_claiming_hours_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.wav");
    std::fs::write(&bomb, one_hertz_bomb()).unwrap();
    let output = dir.path().join("audio.f32");
    let error = decode_in_child(exe(), &bomb, &output, &DecodeLimits::default(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::DeclaredTooLong {
                declared: 22_000,
                limit: 14_400
            }
        ),
        "{error:?}"
    );
    assert!(!output.exists(), "the failed decode's output is removed");
}

/// An MP3 whose first frames promise a short file (160 kbit/s) but whose rest is 20
/// times denser in time (8 kbit/s) passes the header check; the decoder still stops
/// at the limit, never writing a byte past it.
#[test]
fn the_output_never_passes_the_limit_even_when_the_header_lies() {
    let (dir, _) = fixtures();
    let d = dir.path();
    gst(
        d,
        "audiotestsrc num-buffers=20 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! audioconvert ! lamemp3enc target=bitrate bitrate=160 cbr=true ! filesink location=dense.mp3",
    );
    gst(
        d,
        "audiotestsrc num-buffers=300 samplesperbuffer=1600 ! audio/x-raw,rate=16000,channels=1 ! audioconvert ! lamemp3enc target=bitrate bitrate=8 cbr=true ! filesink location=sparse.mp3",
    );
    let mut joined = std::fs::read(d.join("dense.mp3")).unwrap();
    joined.extend(std::fs::read(d.join("sparse.mp3")).unwrap());
    std::fs::write(d.join("liar.mp3"), joined).unwrap();
    let output = Command::new(exe())
        .args(["decode", "--max-seconds", "10"])
        .arg(d.join("liar.mp3"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    let error: DecodeError = serde_json::from_value(last["failed"].clone()).unwrap();
    assert!(
        matches!(
            error,
            DecodeError::TooLong(10) | DecodeError::DeclaredTooLong { limit: 10, .. }
        ),
        "{error:?}"
    );
    let limit = 10 * u64::from(SAMPLE_RATE) * 4;
    assert!(
        output.stdout.len() as u64 <= limit,
        "{} bytes written, limit {limit}",
        output.stdout.len()
    );
}

/// espeak-ng speaks Vietnamese into a WAV through the confinement (its only writable
/// file is that WAV), and an unknown voice is a clear error.
#[tokio::test]
async fn espeak_speaks_confined() {
    use chute::video::voice::{Speaker, speak};
    let dir = tempfile::tempdir().unwrap();
    let speaker = Speaker {
        executable: exe(),
        timeout: Duration::from_secs(20),
        cpu_cores: 0,
    };
    let output = dir.path().join("scene.wav");
    speak(
        speaker,
        "Serum Sáng Da giúp da sáng đều màu.\n-v en",
        "vi",
        &output,
    )
    .await
    .expect("espeak-ng speaks");
    let bytes = std::fs::read(&output).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    // More than a second of 22.05 kHz 16-bit audio.
    assert!(bytes.len() > 44_100, "{} bytes", bytes.len());

    let error = speak(speaker, "hello", "no-such-voice", &dir.path().join("x.wav"))
        .await
        .expect_err("unknown voice");
    assert!(error.to_string().contains("no-such-voice"), "{error}");
}

/// The daemon with a key in its environment: speech still decodes and is transcribed
/// inside the confinement, a recording whose name is not UTF-8 too, and the 1 Hz bomb
/// fails its job with a clear reason, leaving no large file anywhere in the spool.
#[test]
fn the_daemon_decodes_confined_and_refuses_the_bomb() {
    let model = whisper_model();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let config = dir.path().join("chute.toml");
    std::fs::write(
        &config,
        "[transcribe]\nthreads = 1\nbeam_size = 0\n\n[summarize]\nenabled = false\n",
    )
    .unwrap();
    let mut daemon = spawn_daemon_with(
        &spool,
        &config,
        model.parent().unwrap().parent().unwrap(),
        &[(CANARY, "sk-canary-0123456789")],
    );
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let speak_into = |name: &OsStr, text: &str| {
        let wav = staging.join(name);
        run(
            "espeak-ng",
            &[
                "-s",
                "140",
                "-w",
                wav.to_str().unwrap_or("speech.wav"),
                text,
            ],
        );
        wav
    };
    let plain = speak_into(OsStr::new("plain.wav"), SENTENCES[0]);
    std::fs::rename(&plain, inbox.join("plain.wav")).unwrap();
    let latin1 = speak_into(OsStr::new("latin1.wav"), SENTENCES[1]);
    let latin1_name = OsStr::from_bytes(b"r\xe9union.wav");
    std::fs::rename(&latin1, inbox.join(latin1_name)).unwrap();
    std::fs::write(staging.join("bomb.wav"), one_hertz_bomb()).unwrap();
    std::fs::rename(staging.join("bomb.wav"), inbox.join("bomb.wav")).unwrap();

    let count =
        |kind: &str| std::fs::read_dir(spool.join(kind).join("audio")).map_or(0, |d| d.count());
    wait_for("three jobs to end", 240, || {
        count("outbox") + count("failed") >= 3
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(count("outbox"), 2, "{}", describe(&spool));
    // Each of the two recordings comes back as its own transcript.
    let mut heard = Vec::new();
    for entry in std::fs::read_dir(spool.join("outbox/audio")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path().join("transcript.txt")).unwrap();
        let (best, wer) = SENTENCES[..2]
            .iter()
            .enumerate()
            .map(|(index, spoken)| {
                (
                    index,
                    chute::media::transcript::word_error_rate(spoken, &text),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(wer <= 0.35, "{text:?} WER {wer:.2}");
        heard.push(best);
    }
    heard.sort_unstable();
    assert_eq!(heard, [0, 1]);
    let failed: Vec<PathBuf> = std::fs::read_dir(spool.join("failed/audio"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(failed.len(), 1);
    let error: Value =
        serde_json::from_slice(&std::fs::read(failed[0].join("error.json")).unwrap()).unwrap();
    assert_eq!(error["stage"], "decode", "{error}");
    let reason = error["reason"].as_str().unwrap();
    assert!(reason.contains("declares 22000 seconds"), "{reason}");
    assert!(
        error["hint"].as_str().unwrap().contains("header"),
        "{error}"
    );
    let largest = largest_file(&spool);
    assert!(
        largest.1 < 4 << 20,
        "{} is {} bytes",
        largest.0.display(),
        largest.1
    );
}

/// Starts `chute run` on `spool` with `config`, the models in `models` and `env` added
/// to the environment this test process has.
fn spawn_daemon_with(
    spool: &Path,
    config: &Path,
    models: &Path,
    env: &[(&str, &str)],
) -> DaemonChild {
    Command::new(env!("CARGO_BIN_EXE_chute"))
        .args(["run", "--spool"])
        .arg(spool)
        .arg("--config")
        .arg(config)
        .env("CHUTE_LOG", "warn")
        .env("CHUTE_MODELS_DIR", models)
        .envs(env.iter().copied())
        .spawn()
        .map(DaemonChild)
        .unwrap()
}

/// The largest file under `dir` and its size.
fn largest_file(dir: &Path) -> (PathBuf, u64) {
    let mut largest = (PathBuf::new(), 0);
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let metadata = entry.metadata().unwrap();
        let found = if metadata.is_dir() {
            largest_file(&entry.path())
        } else {
            (entry.path(), metadata.len())
        };
        if found.1 > largest.1 {
            largest = found;
        }
    }
    largest
}

/// What ended where, for a failed assertion.
fn describe(spool: &Path) -> String {
    ["outbox/audio", "failed/audio", "jobs"]
        .iter()
        .map(|folder| {
            let names: Vec<String> = std::fs::read_dir(spool.join(folder))
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|entry| entry.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            format!("{folder}: {names:?}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}
