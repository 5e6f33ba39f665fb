//! A host that dies or is cut off while it holds jobs: the others take the jobs over
//! after the owner lease, from their checkpoints, and a stale owner that comes back
//! writes nothing; no remote operation is ever submitted twice.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chute_fakes::{FakeGemini, KeyMode};
use serde_json::Value;

use crate::harness::{all_files, built_plugins, runtime};
use crate::lab::{self, HostDaemon, Lab};
use crate::spool_harness::{Spool, poll_until, secs};
use crate::{OWNER_LEASE_SECS, drop_through, host_spool, logs, start};

const KEY: &str = "AIzaSyFAKE-shared-spool-key-4444444444";

/// Host `host`'s view of a spool whose `clips` route sends video requests to the
/// fake Gemini API (through the gemini-lite test plugin, kept in the shared spool).
fn clips_spool(lab: &Lab, host: &str, fake: &FakeGemini) -> Spool {
    let key_file = lab.local(host).join("gemini.key");
    std::fs::write(&key_file, KEY).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let extra = format!(
        "[plugins]\ncall_timeout = \"20s\"\n\n[providers.gemini-lite]\nbase_url = \"{}\"\nkeys = [\"file:{}\"]\n{}poll_ms = \"300\"\nvideo_model = \"veo-test\"\nrequests_per_minute = 600\n",
        fake.url,
        key_file.display(),
        fake.allow_hosts()
    );
    let routes = "[[routes]]\nname = \"clips\"\npipeline = \"generate\"\n";
    let spool = host_spool(lab, host, routes, &extra);
    let plugins = spool.path("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let target = plugins.join("gemini-lite.wasm");
    if !target.exists() {
        std::fs::copy(built_plugins().join("chute_test_gemini_lite.wasm"), &target).unwrap();
    }
    spool
}

fn request(index: usize) -> Vec<u8> {
    format!(
        "kind = \"video\"\nprompt = \"Shot {index}: a slow pan over a harbour at dawn\"\nproviders = [\"gemini-lite\"]\nseconds = 4\naspect_ratio = \"9:16\"\n"
    )
    .into_bytes()
}

/// The prompts of every video submit the fake received.
fn submitted_prompts(fake: &FakeGemini) -> Vec<String> {
    fake.seen_ending(":predictLongRunning")
        .iter()
        .map(|seen| {
            seen.json()["instances"][0]["prompt"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// `jobs` video jobs claimed and submitted by `host` alone, their operations left
/// pending at the fake.
fn jobs_submitted_by(lab: &Lab, host: &str, fake: &FakeGemini, jobs: usize) -> (Spool, HostDaemon) {
    let spool = clips_spool(lab, host, fake);
    let daemon = start(lab, host, &spool);
    for index in 0..jobs {
        drop_through(
            &spool,
            "clips",
            &format!("shot-{index}.toml"),
            &request(index),
        );
    }
    let polled = poll_until(secs(120), || {
        fake.submitted() >= jobs && fake.seen_ending("/operations/op000001").len() >= 2
    });
    assert!(
        polled,
        "{host} did not submit {jobs} videos ({} submitted; requests:\n{}):\n{}",
        fake.submitted(),
        fake.seen()
            .iter()
            .map(|seen| format!(
                "{} {} {}",
                seen.path,
                seen.status,
                String::from_utf8_lossy(&seen.body)
                    .chars()
                    .take(120)
                    .collect::<String>()
            ))
            .collect::<Vec<_>>()
            .join("\n"),
        daemon.log()
    );
    // Every handle is in its state.json before the first poll.
    (spool, daemon)
}

/// Checks what the adopters delivered: every job once, as an MP4, its video submitted
/// once, the stage done before the takeover not run again, the job owned by an
/// adopter at epoch 1.
fn assert_taken_over(view: &Spool, fake: &FakeGemini, jobs: usize, adopters: &[&str]) {
    let prompts = submitted_prompts(fake);
    let distinct: BTreeSet<&String> = prompts.iter().collect();
    assert_eq!(prompts.len(), jobs, "videos submitted: {prompts:?}");
    assert_eq!(distinct.len(), jobs);
    assert!(
        view.all_failed().is_empty(),
        "{:?}\n{}",
        view.all_failed(),
        view.summary()
    );
    let deliveries = view.deliveries("clips");
    assert_eq!(deliveries.len(), jobs);
    for delivered in deliveries {
        let video = std::fs::read(delivered.dir.join("video.mp4")).unwrap();
        assert_eq!(
            video.get(4..8),
            Some(&b"ftyp"[..]),
            "{}",
            delivered.dir.display()
        );
        let owner = &delivered.record["job"]["owner"];
        assert!(
            adopters.contains(&owner["host"].as_str().unwrap()),
            "{owner}"
        );
        assert_eq!(owner["epoch"], 1, "{owner}");
        let stages = delivered.record["stages"].as_array().unwrap();
        let stage = |name: &str| -> Value {
            stages
                .iter()
                .find(|stage| stage["name"] == name)
                .cloned()
                .unwrap_or_default()
        };
        // Done on the first host, never run again by the adopter.
        assert_eq!(stage("prepare")["attempts"], 1, "{stages:?}");
        // Started on the first host, resumed from its saved handle by the adopter.
        assert_eq!(stage("generate")["attempts"], 2, "{stages:?}");
    }
}

/// Video jobs held by hosta.
const JOBS: usize = 4;

/// A lab of `hosts` hosts where hosta alone has claimed and submitted [`JOBS`] video
/// jobs, their operations pending at the fake (on `runtime`); `None` where the lab
/// cannot run.
fn held_by_hosta(
    hosts: usize,
) -> Option<(Lab, tokio::runtime::Runtime, FakeGemini, Spool, HostDaemon)> {
    let lab = lab::start(hosts)?;
    let runtime = runtime();
    let fake = runtime.block_on(FakeGemini::start(&[(KEY, KeyMode::Valid)]));
    fake.polls_until_done(u32::MAX);
    let (spool, daemon) = jobs_submitted_by(&lab, "hosta", &fake, JOBS);
    Some((lab, runtime, fake, spool, daemon))
}

#[test]
fn a_killed_hosts_jobs_are_resumed_by_the_others_after_the_lease_without_a_second_submit() {
    let Some((lab, _runtime, fake, _, first)) = held_by_hosta(3) else {
        return;
    };
    let first_log = first.log();

    lab.kill("hosta");
    let killed = Instant::now();
    fake.polls_until_done(0);
    let spools: Vec<Spool> = ["hostb", "hostc"]
        .iter()
        .map(|host| clips_spool(&lab, host, &fake))
        .collect();
    let adopters: Vec<HostDaemon> = ["hostb", "hostc"]
        .iter()
        .zip(&spools)
        .map(|(host, spool)| start(&lab, host, spool))
        .collect();
    let view = &spools[0];
    let delivered = poll_until(secs(180), || view.delivered_count("clips") >= JOBS);
    let refs: Vec<&HostDaemon> = adopters.iter().collect();
    assert!(delivered, "{}\n{}", view.summary(), logs(&refs));
    let took = killed.elapsed();
    // Nobody adopted before hosta's record had been silent for the lease.
    let first_adoption = refs
        .iter()
        .filter_map(|daemon| adoption_time(&daemon.log()))
        .min()
        .unwrap();
    let last_beat = killed - Duration::from_secs(1);
    assert!(
        first_adoption
            >= last_beat_utc(last_beat) + chrono::Duration::seconds(OWNER_LEASE_SECS as i64 - 1),
        "adopted at {first_adoption}, hosta killed {took:?} ago"
    );
    assert_taken_over(view, &fake, JOBS, &["hostb", "hostc"]);
    let resumed: usize = refs
        .iter()
        .map(|daemon| daemon.log().matches("Resuming a video operation").count())
        .sum();
    assert_eq!(resumed, JOBS, "{}", logs(&refs));
    assert!(first_log.contains("Claimed an input"));
    for daemon in adopters {
        daemon.stop(secs(20));
    }
}

#[test]
fn a_partitioned_owner_that_comes_back_delivers_and_writes_nothing() {
    let Some((lab, _runtime, fake, stale_view, stale)) = held_by_hosta(2) else {
        return;
    };
    let spool = clips_spool(&lab, "hostb", &fake);
    let adopter = start(&lab, "hostb", &spool);
    // hostb sees hosta alive: it takes nothing while hosta beats.
    std::thread::sleep(Duration::from_secs(OWNER_LEASE_SECS + 2));
    assert!(
        !adopter.log().contains("Adopting a job"),
        "{}",
        adopter.log()
    );

    lab.partition("hosta");
    // The operations finish now: hosta, still reaching the API, would deliver if it could.
    fake.polls_until_done(0);
    let delivered = poll_until(secs(180), || spool.delivered_count("clips") >= JOBS);
    assert!(delivered, "{}\n{}", spool.summary(), logs(&[&adopter]));
    assert_taken_over(&spool, &fake, JOBS, &["hostb"]);
    let before: Vec<(String, Vec<u8>)> = delivered_files(&spool);

    lab.heal("hosta");
    // hosta gives every job up, once: during the partition (its job.json cannot be read)
    // or, back on the network, at its first write (hostb's epoch); it writes nothing.
    let abandoned = poll_until(secs(90), || {
        stale
            .log()
            .matches("Gave the job up without writing anything more")
            .count()
            >= JOBS
    });
    assert!(abandoned, "{}", logs(&[&stale, &adopter]));
    for line in stale
        .log()
        .lines()
        .filter(|line| line.contains("Gave the job up"))
    {
        println!("hosta: {line}");
    }
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        delivered_files(&spool),
        before,
        "the outbox changed after hosta came back"
    );
    assert_eq!(
        submitted_prompts(&fake).len(),
        JOBS,
        "hosta submitted again"
    );
    assert!(spool.all_failed().is_empty(), "{:?}", spool.all_failed());
    assert!(spool.job_entries().is_empty(), "{:?}", spool.job_entries());
    // hosta's view agrees once healed.
    assert_eq!(stale_view.delivered_count("clips"), JOBS);
    stale.stop(secs(20));
    adopter.stop(secs(20));
}

/// Every file under `outbox/clips/`, with its bytes, in order.
fn delivered_files(spool: &Spool) -> Vec<(String, Vec<u8>)> {
    let mut files = all_files(&spool.path("outbox/clips"));
    files.sort();
    files
}

/// When the first "Adopting a job" line of a daemon log was written.
fn adoption_time(log: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    log.lines()
        .find(|line| line.contains("Adopting a job"))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|stamp| chrono::DateTime::parse_from_rfc3339(stamp).ok())
        .map(|stamp| stamp.with_timezone(&chrono::Utc))
}

fn last_beat_utc(at: Instant) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::from_std(at.elapsed()).unwrap()
}
