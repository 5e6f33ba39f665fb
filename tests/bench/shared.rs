//! Shared-spool benchmark: claims per second and drop→claim latency with 1, 2 and 3
//! daemons on a GlusterFS spool (the lab of `tests/shared/lab.sh`), beside the same
//! number of daemons on the local disk in the same run.
//!
//! Every "host" of the lab runs on this one machine, so the figures show what the
//! distributed filesystem costs, not how chute scales across machines.
//!
//! `cargo bench --bench shared` runs 400 burst drops and 60 paced drops per setup
//! (override with CHUTE_BENCH_FILES / CHUTE_BENCH_PACED); under `cargo test` a small
//! smoke version keeps the harness tested. Skipped, with the reason, where the lab
//! cannot run (no root, FUSE or network namespaces).
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../shared/lab.rs"]
mod lab;
#[allow(dead_code)]
#[path = "../spool/harness.rs"]
mod spool_harness;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use spool_harness::{Spool, poll_until, secs};

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let burst = env_count("CHUTE_BENCH_FILES", if full { 400 } else { 30 });
    let paced = env_count("CHUTE_BENCH_PACED", if full { 60 } else { 10 });
    let Some(lab) = lab::start(3) else {
        println!("shared-spool benchmark skipped (see above)");
        return;
    };
    println!(
        "shared-spool benchmark: {burst} burst drops and {paced} drops paced at 10/s per setup.\n\
         All daemons share this machine's cores: GlusterFS vs local disk shows the filesystem's cost, not scaling."
    );
    println!(
        "{:<10} {:>7}  {:>10}  {:>14}  {:>14}",
        "spool", "daemons", "claims/s", "latency p50", "latency p99"
    );
    let scratch = tempfile::tempdir().unwrap();
    for daemons in 1..=3 {
        let local = run_local(scratch.path(), daemons, burst, paced);
        let gluster = run_gluster(&lab, daemons, burst, paced);
        for (name, result) in [("local", &local), ("glusterfs", &gluster)] {
            println!(
                "{name:<10} {daemons:>7}  {:>10.1}  {:>11.0} ms  {:>11.0} ms",
                result.rate, result.p50_ms, result.p99_ms
            );
        }
        println!(
            "ratio glusterfs / local with {daemons}: claims/s {:.2}, p50 latency {:.1}x",
            gluster.rate / local.rate,
            gluster.p50_ms / local.p50_ms.max(1.0)
        );
        assert!(
            local.rate > 0.0 && gluster.rate > 0.0,
            "nothing was claimed"
        );
    }
}

struct Measured {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config_text(node: Option<&str>) -> String {
    let node = node
        .map(|node| format!("node = \"{node}\"\n"))
        .unwrap_or_default();
    format!(
        "[spool]\n{node}rescan_interval = \"2s\"\nheartbeat_interval = \"1s\"\nowner_lease = \"8s\"\n\n\
         [watch]\nsettle = \"1s\"\n\n[limits]\nmax_queue_depth = 5000\n\n\
         [[routes]]\nname = \"bench\"\npipeline = \"passthrough\"\n"
    )
}

struct Local(Child);

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `daemons` daemons (distinct node names) on a spool on the local disk.
fn run_local(scratch: &Path, daemons: usize, burst: usize, paced: usize) -> Measured {
    let base = scratch.join(format!("local-{daemons}"));
    let root = base.join("spool");
    std::fs::create_dir_all(&root).unwrap();
    let mut running = Vec::new();
    for index in 0..daemons {
        let config = base.join(format!("node{index}.toml"));
        std::fs::write(&config, config_text(Some(&format!("local{index}")))).unwrap();
        let child = Command::new(spool_harness::BIN)
            .args(["run", "--spool"])
            .arg(&root)
            .arg("--config")
            .arg(&config)
            .env("CACHE_DIRECTORY", base.join("cache"))
            .env("STATE_DIRECTORY", base.join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        running.push(Local(child));
    }
    let spool = Spool::existing(root.clone(), base.join("node0.toml"), base.join("scratch"));
    let ready = poll_until(secs(60), || {
        std::fs::read_dir(root.join("daemons")).is_ok_and(|entries| {
            entries
                .flatten()
                .filter(|entry| !entry.file_name().to_string_lossy().ends_with(".keys.json"))
                .count()
                >= daemons
        })
    });
    assert!(ready, "the local daemons did not start");
    let views = vec![spool];
    let measured = measure(&views, burst, paced);
    drop(running);
    measured
}

/// `daemons` daemons, one per lab host, on a fresh spool folder of the volume.
fn run_gluster(lab: &lab::Lab, daemons: usize, burst: usize, paced: usize) -> Measured {
    let mut views = Vec::new();
    let mut running = Vec::new();
    for host in &lab::HOSTS[..daemons] {
        let local = lab.local(host);
        let config = local.join(format!("bench-{daemons}.toml"));
        std::fs::write(&config, config_text(None)).unwrap();
        let root = lab.mount(host).join(format!("bench-{daemons}"));
        std::fs::create_dir_all(&root).unwrap();
        running.push(lab.start_daemon(host, &root, &config));
        views.push(Spool::existing(
            root,
            config,
            local.join(format!("scratch-{daemons}")),
        ));
    }
    let measured = measure(&views, burst, paced);
    for daemon in running {
        daemon.stop(secs(20));
    }
    measured
}

/// Drops a burst through the views in turn, then paced drops; reads every job's
/// `claimed_at` from its result.json.
fn measure(views: &[Spool], burst: usize, paced: usize) -> Measured {
    let view = &views[0];
    let started = view.delivered_count("bench");
    for index in 0..burst {
        views[index % views.len()].drop_file("bench", format!("burst-{index}"), b"payload");
    }
    let done = poll_until(secs(600), || {
        view.delivered_count("bench") >= started + burst
    });
    assert!(done, "the burst was not delivered:\n{}", view.summary());
    let claims: Vec<DateTime<Utc>> = claimed_at(view, "burst-").into_values().collect();
    let first = claims.iter().min().unwrap();
    let last = claims.iter().max().unwrap();
    let seconds = (*last - *first)
        .to_std()
        .unwrap_or_default()
        .as_secs_f64()
        .max(0.001);
    let rate = (claims.len().saturating_sub(1)) as f64 / seconds;

    let mut dropped_at = std::collections::HashMap::new();
    for index in 0..paced {
        let name = format!("paced-{index}");
        dropped_at.insert(name.clone(), Utc::now());
        views[index % views.len()].drop_file("bench", &name, b"payload");
        std::thread::sleep(Duration::from_millis(100));
    }
    let total = started + burst + paced;
    let done = poll_until(secs(600), || view.delivered_count("bench") >= total);
    assert!(
        done,
        "the paced drops were not delivered:\n{}",
        view.summary()
    );
    let mut latencies: Vec<f64> = claimed_at(view, "paced-")
        .into_iter()
        .map(|(name, claimed)| {
            (claimed - dropped_at[&name])
                .num_microseconds()
                .unwrap_or(0) as f64
                / 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Measured {
        rate,
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
    }
}

/// `claimed_at` of every delivered job whose input name starts with `prefix`.
fn claimed_at(view: &Spool, prefix: &str) -> std::collections::HashMap<String, DateTime<Utc>> {
    view.deliveries("bench")
        .into_iter()
        .filter_map(|delivered| {
            let name = String::from_utf8(delivered.input_name()).ok()?;
            let claimed = delivered.record["job"]["claimed_at"].as_str()?;
            let claimed = DateTime::parse_from_rfc3339(claimed)
                .ok()?
                .with_timezone(&Utc);
            name.starts_with(prefix).then_some((name, claimed))
        })
        .collect()
}
