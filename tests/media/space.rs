//! A full disk inside running audio jobs, on a real small filesystem (a tmpfs the test
//! mounts; skipped, saying so, where mounting is refused): the real daemon, the real
//! decoder child and whisper.cpp.
//!
//! - A decode that meets a full disk mid-way removes its partial `work/audio.f32` at
//!   once, the job reads "waiting for disk space", nothing lands in failed/, `chute
//!   cancel` of another job works on the full disk, and once space returns the job is
//!   delivered with whisper having run over each chunk exactly once.
//! - Three decodes whose outputs together exceed the free space take turns (the
//!   reservation table), and all three are delivered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::{SENTENCES, run, wait_for, wav_seconds, whisper_model};

const MIB: u64 = 1 << 20;

/// Mounts a tmpfs of `bytes` at `dir/fs`; `None` (printed) where that is refused.
fn small_filesystem(dir: &Path, bytes: u64) -> Option<Mounted> {
    let mount = dir.join("fs");
    std::fs::create_dir_all(&mount).unwrap();
    let output = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={bytes},mode=0700"),
            "chute-space",
        ])
        .arg(&mount)
        .output();
    match output {
        Ok(output) if output.status.success() => Some(Mounted(mount)),
        Ok(output) => {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs: {} (needs root or CAP_SYS_ADMIN)",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
        Err(error) => {
            eprintln!("SKIPPED: cannot run mount: {error}");
            None
        }
    }
}

/// A mounted test filesystem, unmounted when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A running daemon, killed when dropped (also when a test fails).
struct Daemon(Child);

impl Daemon {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon on `spool` with `config`, logging JSON lines at `info` into `log`.
fn start_daemon(spool: &Path, config: &Path, log: &Path) -> Daemon {
    let model = whisper_model();
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_chute"))
            .args(["run", "--spool"])
            .arg(spool)
            .arg("--config")
            .arg(config)
            .env("CHUTE_LOG", "info")
            .env("CHUTE_LOG_FORMAT", "json")
            .env(
                "CHUTE_MODELS_DIR",
                model.parent().unwrap().parent().unwrap(),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn stop(daemon: Daemon) {
    drop(daemon);
}

/// `chute ARGS` on `spool`: success and stdout.
fn chute(spool: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chute"))
        .args(args)
        .arg("--spool")
        .arg(spool)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `chute jobs --json` as (input name → summary).
fn jobs(spool: &Path) -> BTreeMap<String, Value> {
    let (ok, stdout, stderr) = chute(spool, &["jobs", "--json"]);
    assert!(ok, "chute jobs failed: {stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|job| (job["input"].as_str().unwrap().to_owned(), job.clone()))
        .collect()
}

/// Speaks `script` into `staging/<name>`; returns the file and its seconds.
fn speech(staging: &Path, name: &str, script: &str) -> (PathBuf, f64) {
    let wav = staging.join(name);
    run(
        "espeak-ng",
        &["-s", "140", "-w", wav.to_str().unwrap(), script],
    );
    let seconds = wav_seconds(&wav);
    (wav, seconds)
}

/// The job folder whose input is `name`.
fn job_folder(spool: &Path, name: &str) -> Option<PathBuf> {
    std::fs::read_dir(spool.join("jobs"))
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|job| job.join("input").join(name).exists())
}

/// The pid of the decoder child (not a probe) started by `daemon`, if one runs.
fn decoder_of(daemon: u32) -> Option<i32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
        let decoding = args.iter().any(|arg| *arg == b"decode")
            && args.iter().any(|arg| *arg == b"--max-seconds")
            && !args.iter().any(|arg| *arg == b"--probe");
        if decoding && descends_from(pid, daemon) {
            return Some(pid);
        }
    }
    None
}

fn descends_from(mut pid: i32, ancestor: u32) -> bool {
    for _ in 0..6 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // pid (comm) state ppid …: the name may hold spaces, so split after ')'.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok())
        else {
            return false;
        };
        if ppid as u32 == ancestor {
            return true;
        }
        pid = ppid;
    }
    false
}

fn signal(pid: i32, signal: &str) {
    run("kill", &[&format!("-{signal}"), &pid.to_string()]);
}

/// Fills the filesystem holding `dir` with `dir/ballast` until a write fails.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let ballast = dir.join("ballast");
    let mut file = std::fs::File::create(&ballast).unwrap();
    let free = chute::spool::space::room(dir).unwrap().free;
    let _ = rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, free);
    let block = vec![1u8; 4096];
    let mut end = std::fs::metadata(&ballast).unwrap().len();
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(end)).unwrap();
    while file.write_all(&block).is_ok() {
        end += 4096;
    }
    assert!(end > 0);
    ballast
}

/// The job's events from its folder (live) or result/error record (ended).
fn event_messages(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|event| event["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// How often the daemon's log says each chunk of job `job_id` was transcribed.
fn chunks_transcribed(log: &Path, job_id: &str) -> BTreeMap<u64, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap().lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let in_job = entry["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|span| span["job_id"] == job_id))
            || entry["span"]["job_id"] == job_id;
        if in_job
            && entry["fields"]["message"] == "Transcribed a chunk."
            && let Some(chunk) = entry["fields"]["chunk"].as_u64()
        {
            *counts.entry(chunk).or_insert(0) += 1;
        }
    }
    counts
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The only folder in `dir`.
fn only_folder(dir: &Path) -> PathBuf {
    let folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    folders[0].clone()
}

fn attempts(result: &Value, stage: &str) -> u64 {
    result["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["name"] == stage)
        .unwrap()["attempts"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_full_disk_mid_decode_loses_nothing_and_the_job_finishes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = small_filesystem(dir.path(), 64 * MIB) else {
        return;
    };
    let spool = fs.0.join("spool");
    let config = dir.path().join("chute.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_running_jobs = 1\n\n[transcribe]\nchunk = \"30s\"\nbeam_size = 0\nthreads = 1\n\n[summarize]\nenabled = false\n",
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let daemon = start_daemon(&spool, &config, &log);
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    // About 100 s of speech: three or four 30 s chunks, 6.4 MB of samples.
    let script = vec![SENTENCES.join(" "); 5].join(" ");
    // Made on the small filesystem, so the drops are renames.
    let staging = fs.0.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let (long, seconds) = speech(&staging, "long.wav", &script);
    assert!(seconds > 70.0, "{seconds} s");
    let (other, _) = speech(&staging, "other.wav", SENTENCES[2]);
    std::fs::rename(&long, inbox.join("long.wav")).unwrap();
    wait_for("long.wav's claim", 30, || {
        job_folder(&spool, "long.wav").is_some()
    });
    std::fs::rename(&other, inbox.join("other.wav")).unwrap();
    wait_for("other.wav's claim", 30, || {
        job_folder(&spool, "other.wav").is_some()
    });
    let job = job_folder(&spool, "long.wav").unwrap();
    let samples = job.join("work/audio.f32");

    // Stop the decoder once it has written something, fill the disk, let it go on.
    let mut decoder = None;
    wait_for("the decoder to write", 60, || {
        let Some(pid) = decoder_of(daemon.id()) else {
            return false;
        };
        signal(pid, "STOP");
        if std::fs::metadata(&samples).is_ok_and(|metadata| metadata.len() > 0) {
            decoder = Some(pid);
            true
        } else {
            signal(pid, "CONT");
            false
        }
    });
    let decoder = decoder.unwrap();
    let partial = std::fs::metadata(&samples).unwrap().len();
    assert!(
        partial < 6 * MIB,
        "the decode had nearly finished: {partial}"
    );
    let ballast = fill(&fs.0);
    signal(decoder, "CONT");

    wait_for("the partial samples to be removed", 30, || {
        !samples.exists()
    });
    wait_for("long.wav to read waiting for disk space", 60, || {
        jobs(&spool).get("long.wav").is_some_and(|job| {
            job["waiting"]
                .as_str()
                .is_some_and(|waiting| waiting.starts_with("waiting for disk space"))
        })
    });
    let listed = jobs(&spool);
    assert_eq!(listed["long.wav"]["state"], "running", "{listed:?}");
    assert!(
        std::fs::read_dir(spool.join("failed/audio"))
            .map_or(true, |mut entries| entries.next().is_none()),
        "nothing fails on a full disk"
    );
    assert!(chute::spool::space::room(&fs.0).unwrap().free < 8 * MIB);

    // Cancelling the other job works on the full disk.
    let other_id = listed["other.wav"]["id"].as_str().unwrap().to_owned();
    let (ok, stdout, stderr) = chute(&spool, &["cancel", &other_id]);
    assert!(ok, "chute cancel failed on a full disk: {stdout}{stderr}");
    let failed = spool.join("failed/audio");
    wait_for("the cancelled job in failed/", 60, || {
        std::fs::read_dir(&failed).is_ok_and(|mut entries| entries.next().is_some())
    });
    let cancelled = read_json(&only_folder(&failed).join("error.json"));
    assert!(
        cancelled["reason"].as_str().unwrap().contains("cancelled"),
        "{cancelled}"
    );
    assert!(job.exists(), "long.wav stays in jobs/");

    // Space returns: the job goes on from its checkpoint and is delivered.
    std::fs::remove_file(&ballast).unwrap();
    let outbox = spool.join("outbox/audio");
    wait_for("long.wav's delivery", 300, || {
        std::fs::read_dir(&outbox).is_ok_and(|mut entries| entries.next().is_some())
    });
    let delivered = only_folder(&outbox);
    let result = read_json(&delivered.join("result.json"));
    stop(daemon);
    assert_eq!(
        attempts(&result, "decode"),
        1,
        "a full disk is not a failed attempt: {result}"
    );
    let messages = event_messages(&result["events"]);
    assert!(
        messages
            .iter()
            .any(|message| message.starts_with("waiting for disk space")),
        "{messages:?}"
    );
    assert_eq!(
        std::fs::read_dir(&failed).unwrap().count(),
        1,
        "only the cancelled job is in failed/"
    );
    let job_id = result["job"]["id"].as_str().unwrap().to_owned();
    let counts = chunks_transcribed(&log, &job_id);
    let chunks = (seconds / 30.0).ceil() as u64;
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (0..chunks).collect::<Vec<_>>(),
        "every chunk transcribed: {counts:?}"
    );
    assert!(
        counts.values().all(|count| *count == 1),
        "whisper ran over a chunk twice: {counts:?}"
    );
    let text = std::fs::read_to_string(delivered.join("transcript.txt")).unwrap();
    assert!(
        chute::media::transcript::word_error_rate(&script, &text) <= 0.35,
        "{text:?}"
    );
    // The emergency reserve is back in place once there is room.
    assert!(spool.join(".space-reserve").exists());
}

#[test]
fn three_decodes_that_do_not_fit_together_take_turns_and_all_finish() {
    let dir = tempfile::tempdir().unwrap();
    // About 60 s of speech each (different, or they would be duplicates): 3.9 MB of
    // samples per decode.
    let recordings: Vec<(PathBuf, f64)> = ["one.wav", "two.wav", "three.wav"]
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let mut sentences = SENTENCES.to_vec();
            sentences.rotate_left(index);
            speech(dir.path(), name, &vec![sentences.join(" "); 3].join(" "))
        })
        .collect();
    let inputs: u64 = recordings
        .iter()
        .map(|(wav, _)| std::fs::metadata(wav).unwrap().len())
        .sum();
    let expected = chute::media::child::expected_output_bytes(recordings[0].1);
    // Room for the inputs, the emergency reserve, disk.reserve (1 MiB), records, and
    // two and a half decodes: two fit at once, three do not.
    let size = (inputs + 3 * MIB + expected * 5 / 2).div_ceil(MIB) * MIB;
    let Some(fs) = small_filesystem(dir.path(), size) else {
        return;
    };
    let spool = fs.0.join("spool");
    let config = dir.path().join("chute.toml");
    std::fs::write(
        &config,
        "[limits]\nmax_running_jobs = 3\n\n[disk]\nreserve = \"1MiB\"\n\n[transcribe]\nbeam_size = 0\nthreads = 1\n\n[summarize]\nenabled = false\n",
    )
    .unwrap();
    let log = dir.path().join("daemon.log");
    let daemon = start_daemon(&spool, &config, &log);
    let inbox = spool.join("inbox/audio");
    wait_for("the inbox", 30, || inbox.is_dir());
    let staging = fs.0.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    for (wav, _) in &recordings {
        let name = wav.file_name().unwrap();
        std::fs::copy(wav, staging.join(name)).unwrap();
        std::fs::rename(staging.join(name), inbox.join(name)).unwrap();
    }
    let outbox = spool.join("outbox/audio");
    wait_for("three deliveries", 420, || {
        std::fs::read_dir(&outbox).is_ok_and(|entries| entries.count() == 3)
    });
    stop(daemon);
    assert!(
        std::fs::read_dir(spool.join("failed/audio"))
            .map_or(true, |mut entries| entries.next().is_none()),
        "none failed"
    );
    let mut waited = 0;
    for folder in std::fs::read_dir(&outbox).unwrap().flatten() {
        let result = read_json(&folder.path().join("result.json"));
        let messages = event_messages(&result["events"]);
        assert!(
            !messages
                .iter()
                .any(|message| message.contains("out of disk space")),
            "a decode met a full disk: reservations overcommitted: {messages:?}"
        );
        if messages
            .iter()
            .any(|message| message.starts_with("waiting for disk space: needs"))
        {
            waited += 1;
        }
        assert_eq!(attempts(&result, "decode"), 1, "{result}");
    }
    assert!(waited >= 1, "all three decodes started at once");
}
