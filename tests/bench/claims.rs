//! Claim benchmark: how fast chute claims dropped files, next to two baselines measured
//! in the same run on the same disk.
//!
//! - bare: the minimum a claim needs — mkdir + rename + write a small job file, no sync;
//! - group commit: the same with one filesystem sync per 100 claims;
//! - chute: the real daemon (release build) claiming N files renamed into its inbox,
//!   measured from each drop to the `claimed_at` in the job's result.json;
//! - backlog: chute started on an inbox already holding B files, with its peak RSS; the
//!   daemon watches them for one `watch.settle` before the first claim, so the rate
//!   counts from the first claim to the last.
//!
//! `cargo bench --bench claims` runs the full sizes (N = 10,000, B = 100,000; override with
//! CHUTE_BENCH_FILES / CHUTE_BENCH_BACKLOG). Under `cargo test` it runs a small smoke
//! version so the harness itself stays tested.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

const GOAL_RATIO: f64 = 0.5;
const GOAL_P99_MS: f64 = 50.0;
const GOAL_RSS_MB: f64 = 100.0;

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let files = env_count("CHUTE_BENCH_FILES", if full { 10_000 } else { 300 });
    let backlog = env_count("CHUTE_BENCH_BACKLOG", if full { 100_000 } else { 2_000 });
    let base = std::env::var_os("CHUTE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).expect("bench folder");
    let scratch = tempfile::tempdir_in(&base).expect("scratch folder");
    println!(
        "claims benchmark: {files} files, backlog {backlog}, on {}",
        base.display()
    );

    let bare = baseline(&scratch.path().join("bare"), files, None);
    let group = baseline(&scratch.path().join("group"), files, Some(100));
    println!("baseline bare (mkdir+rename+write, no sync):   {bare:>9.0} claims/s");
    println!("baseline group commit (sync every 100 claims): {group:>9.0} claims/s");

    let paced = files.min(2_000);
    // Below the passthrough processing rate (~280 jobs/s here), so the queue stays short
    // and the figure is the latency of a daemon that keeps up.
    let paced_rate = 200.0;
    let live = chute_live(&scratch.path().join("live"), files, paced, paced_rate);
    println!(
        "chute, burst of {files} drops: {:>9.0} claims/s  drop->claim p50 {:.1} ms  p99 {:.1} ms (queueing behind the burst included)",
        live.rate, live.burst_p50_ms, live.burst_p99_ms
    );
    println!(
        "chute, {paced} drops paced at {paced_rate}/s: {:>9.0} claims/s  drop->claim p50 {:.1} ms  p99 {:.1} ms",
        live.paced_rate, live.paced_p50_ms, live.paced_p99_ms
    );
    println!(
        "  same drops, until the input has left the inbox (claim complete, sync included): p50 {:.1} ms  p99 {:.1} ms",
        live.moved_p50_ms, live.moved_p99_ms
    );
    let ratio_group = live.rate / group;
    println!("ratio chute / group commit: {ratio_group:.2}  (goal >= {GOAL_RATIO})");
    println!("ratio chute / bare:         {:.2}", live.rate / bare);
    println!(
        "p99 drop->claim complete at a sustainable rate: {:.1} ms  (goal < {GOAL_P99_MS} ms)",
        live.moved_p99_ms.max(live.paced_p99_ms)
    );

    let backlog_result = chute_backlog(&scratch.path().join("backlog"), backlog);
    println!(
        "chute backlog of {backlog}: {:>9.0} claims/s, first claim after {:.1} s (watch.settle), all delivered in {:.1} s, peak RSS {:.1} MB  (goal < {GOAL_RSS_MB} MB)",
        backlog_result.rate,
        backlog_result.first_claim_seconds,
        backlog_result.seconds,
        backlog_result.peak_rss_mb
    );
    assert!(
        live.rate > 0.0 && backlog_result.rate > 0.0,
        "nothing was claimed"
    );
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// mkdir + rename + small write per claim; `sync_every` adds one syncfs per that many.
fn baseline(dir: &Path, files: usize, sync_every: Option<usize>) -> f64 {
    let inbox = dir.join("inbox");
    let jobs = dir.join("jobs");
    std::fs::create_dir_all(&inbox).expect("inbox");
    std::fs::create_dir_all(&jobs).expect("jobs");
    for index in 0..files {
        std::fs::write(inbox.join(format!("f{index}")), b"payload").expect("drop");
    }
    let sync_root = File::open(dir).expect("open dir");
    let started = Instant::now();
    for index in 0..files {
        let job = jobs.join(format!("j{index}"));
        std::fs::create_dir(&job).expect("mkdir");
        std::fs::rename(inbox.join(format!("f{index}")), job.join("input")).expect("rename");
        std::fs::write(job.join("job.json"), br#"{"id":1,"route":"bench"}"#).expect("write");
        if sync_every.is_some_and(|every| (index + 1) % every == 0) {
            rustix::fs::syncfs(&sync_root).expect("syncfs");
        }
    }
    if sync_every.is_some() {
        rustix::fs::syncfs(&sync_root).expect("syncfs");
    }
    files as f64 / started.elapsed().as_secs_f64()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(spool: &Path, depth: usize) -> Daemon {
    let config = spool.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "[limits]\nmax_queue_depth = {depth}\n[spool]\nrescan_interval = \"2s\"\n[[routes]]\nname = \"bench\"\npipeline = \"passthrough\"\n"
        ),
    )
    .expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_chute"))
        .args(["run", "--spool"])
        .arg(spool)
        .arg("--config")
        .arg(&config)
        .env("CHUTE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chute");
    let daemon = Daemon(child);
    wait_until(Duration::from_secs(30), || {
        spool
            .join("daemons")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    });
    daemon
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "benchmark timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads every result.json: input name -> claimed_at.
fn delivered(spool: &Path) -> HashMap<String, DateTime<Utc>> {
    let mut claims = HashMap::new();
    let Ok(entries) = std::fs::read_dir(spool.join("outbox/bench")) else {
        return claims;
    };
    for entry in entries.flatten() {
        let Ok(bytes) = std::fs::read(entry.path().join("result.json")) else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let name = value["job"]["input"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(at) = value["job"]["claimed_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
        {
            claims.insert(name, at);
        }
    }
    claims
}

fn count_delivered(spool: &Path) -> usize {
    std::fs::read_dir(spool.join("outbox/bench")).map_or(0, |d| d.count())
}

struct Live {
    rate: f64,
    burst_p50_ms: f64,
    burst_p99_ms: f64,
    paced_rate: f64,
    paced_p50_ms: f64,
    paced_p99_ms: f64,
    /// Drop until the entry has left the inbox (the claim's rename, after its sync).
    moved_p50_ms: f64,
    moved_p99_ms: f64,
}

/// Drops `files` in one burst (throughput, and the latency a burst sees while it queues
/// up), then `paced` files at `paced_rate` per second (latency at a sustainable rate).
fn chute_live(spool: &Path, files: usize, paced: usize, paced_rate: f64) -> Live {
    let _daemon = start_daemon(spool, files + paced + 10);
    let staging = spool.with_extension("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    let names: Vec<String> = (0..files).map(|i| format!("f{i:06}.txt")).collect();
    let paced_names: Vec<String> = (0..paced).map(|i| format!("p{i:06}.txt")).collect();
    for (index, name) in names.iter().chain(&paced_names).enumerate() {
        // Distinct contents, so dedupe does not skip any.
        std::fs::write(staging.join(name), format!("payload {index}")).expect("stage");
    }
    let inbox = spool.join("inbox/bench");
    let mut dropped_at = HashMap::with_capacity(files + paced);
    for name in &names {
        std::fs::rename(staging.join(name), inbox.join(name)).expect("drop");
        dropped_at.insert(name.clone(), DateTime::<Utc>::from(SystemTime::now()));
    }
    wait_until(Duration::from_secs(600), || count_delivered(spool) >= files);
    let interval = Duration::from_secs_f64(1.0 / paced_rate);
    // A second thread sees when each paced drop leaves the inbox again: the end of its
    // claim (job.json's claimed_at is stamped when the claim starts, before the sync).
    let (drop_times, drops) = std::sync::mpsc::channel::<(PathBuf, Instant)>();
    let mover = std::thread::spawn(move || {
        let mut moved_ms = Vec::new();
        for (path, dropped) in drops {
            while path.exists() {
                std::thread::sleep(Duration::from_micros(100));
            }
            moved_ms.push(dropped.elapsed().as_secs_f64() * 1000.0);
        }
        moved_ms
    });
    let paced_start = Instant::now();
    for (index, name) in paced_names.iter().enumerate() {
        let due = paced_start + interval * index as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        std::fs::rename(staging.join(name), inbox.join(name)).expect("drop");
        dropped_at.insert(name.clone(), DateTime::<Utc>::from(SystemTime::now()));
        drop_times
            .send((inbox.join(name), Instant::now()))
            .expect("mover");
    }
    drop(drop_times);
    let mut moved = mover.join().expect("mover thread");
    moved.sort_by(f64::total_cmp);
    wait_until(Duration::from_secs(600), || {
        count_delivered(spool) >= files + paced
    });
    let claims = delivered(spool);
    assert_eq!(
        claims.len(),
        files + paced,
        "every dropped file is delivered once"
    );
    let latencies = |subset: &[String]| {
        let mut values: Vec<f64> = subset
            .iter()
            .map(|name| {
                (claims[name] - dropped_at[name])
                    .num_microseconds()
                    .unwrap_or(0) as f64
                    / 1000.0
            })
            .collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let span = |subset: &[String]| {
        let first_drop = subset.iter().map(|n| dropped_at[n]).min().expect("drops");
        let last_claim = subset.iter().map(|n| claims[n]).max().expect("claims");
        (last_claim - first_drop).num_microseconds().unwrap_or(1) as f64 / 1e6
    };
    let burst = latencies(&names);
    let steady = latencies(&paced_names);
    Live {
        rate: files as f64 / span(&names),
        burst_p50_ms: percentile(&burst, 0.50),
        burst_p99_ms: percentile(&burst, 0.99),
        paced_rate: paced as f64 / span(&paced_names),
        paced_p50_ms: percentile(&steady, 0.50),
        paced_p99_ms: percentile(&steady, 0.99),
        moved_p50_ms: percentile(&moved, 0.50),
        moved_p99_ms: percentile(&moved, 0.99),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or(0.0)
}

struct Backlog {
    rate: f64,
    first_claim_seconds: f64,
    seconds: f64,
    peak_rss_mb: f64,
}

fn chute_backlog(spool: &Path, files: usize) -> Backlog {
    let inbox = spool.join("inbox/bench");
    std::fs::create_dir_all(&inbox).expect("inbox");
    for index in 0..files {
        std::fs::write(
            inbox.join(format!("b{index:07}.txt")),
            format!("backlog {index}"),
        )
        .expect("drop");
    }
    let started = Utc::now();
    let clock = Instant::now();
    let daemon = start_daemon(spool, 1000);
    let pid = daemon.0.id();
    let mut peak_rss_kb = 0u64;
    wait_until(Duration::from_secs(3600), || {
        peak_rss_kb = peak_rss_kb.max(peak_rss(pid));
        count_delivered(spool) >= files
    });
    peak_rss_kb = peak_rss_kb.max(peak_rss(pid));
    let seconds = clock.elapsed().as_secs_f64();
    let claims = delivered(spool);
    let first_claim = claims.values().min().copied().expect("claims");
    let last_claim = claims.values().max().copied().expect("claims");
    let seconds_between = |from: DateTime<Utc>, to: DateTime<Utc>| {
        (to - from).num_microseconds().unwrap_or(1) as f64 / 1e6
    };
    Backlog {
        rate: files as f64 / seconds_between(first_claim, last_claim).max(1e-6),
        first_claim_seconds: seconds_between(started, first_claim),
        seconds,
        peak_rss_mb: peak_rss_kb as f64 / 1024.0,
    }
}

/// VmHWM (peak resident set) of a process in kB.
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}
