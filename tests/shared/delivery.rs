//! Drops through every host's mount delivered exactly once; `chute gc` on two hosts at
//! once; a drop seen by another host's daemon through its rescans alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::lab::{self, HOSTS};
use crate::spool_harness::{BIN, random_bytes, secs};
use crate::{RESCAN_SECS, drop_through, host_spool, logs, passthrough, start};

const PER_HOST: usize = 500;

#[test]
fn drops_through_three_hosts_are_delivered_exactly_once_and_two_gc_runs_remove_each_once() {
    let Some(lab) = lab::start(3) else { return };
    let spools: Vec<_> = HOSTS
        .iter()
        .map(|host| host_spool(&lab, host, &passthrough("archive"), ""))
        .collect();
    let daemons: Vec<_> = HOSTS
        .iter()
        .zip(&spools)
        .map(|(host, spool)| start(&lab, host, spool))
        .collect();
    let daemon_refs: Vec<&lab::HostDaemon> = daemons.iter().collect();

    // Round-robin over the hosts, so every daemon claims while the others do.
    let mut expected = BTreeMap::new();
    for index in 0..PER_HOST {
        for (host, spool) in HOSTS.iter().zip(&spools) {
            let name = format!("{host}-{index:03}.bin");
            let mut content = format!("{name}\n").into_bytes();
            content.extend(random_bytes(100 + (index * 37) % 3000));
            drop_through(spool, "archive", &name, &content);
            expected.insert(name, content);
        }
    }
    let view = &spools[2];
    let total = expected.len();
    if !crate::spool_harness::poll_until(secs(900), || view.delivered_count("archive") >= total) {
        panic!(
            "{} of {total} delivered\n{}\n{}",
            view.delivered_count("archive"),
            view.summary(),
            logs(&daemon_refs)
        );
    }
    view.wait_jobs_empty(secs(60));
    assert!(view.all_failed().is_empty(), "{:?}", view.all_failed());

    let mut seen = BTreeSet::new();
    let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
    for delivered in view.deliveries("archive") {
        let name = String::from_utf8(delivered.input_name()).unwrap();
        assert!(seen.insert(name.clone()), "{name} delivered twice");
        assert_eq!(delivered.payload(), [std::ffi::OsString::from(&name)]);
        let bytes = std::fs::read(delivered.dir.join(&name)).unwrap();
        assert!(bytes == expected[&name], "{name} changed on its way");
        let node = delivered.record["job"]["owner"]["host"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(HOSTS.contains(&node.as_str()), "unknown node {node}");
        *by_node.entry(node).or_default() += 1;
    }
    assert_eq!(seen.len(), total);
    println!("deliveries by node: {by_node:?}");
    assert!(by_node.len() >= 2, "one host did all the work: {by_node:?}");

    // The same content through every host at once: one original, the rest pointers.
    for copy in 0..9 {
        let spool = &spools[copy % spools.len()];
        drop_through(
            spool,
            "archive",
            &format!("same-{copy}.txt"),
            b"one content, nine drops\n",
        );
    }
    let all = total + 9;
    view.wait_delivered("archive", all, secs(120));
    view.wait_jobs_empty(secs(60));
    let same: Vec<_> = view
        .deliveries("archive")
        .into_iter()
        .filter(|delivered| delivered.input_name().starts_with(b"same-"))
        .collect();
    let originals: Vec<_> = same
        .iter()
        .filter(|d| d.record["duplicate_of"].is_null())
        .collect();
    assert_eq!(
        originals.len(),
        1,
        "originals: {:?}",
        originals.iter().map(|d| &d.dir).collect::<Vec<_>>()
    );
    let original_id = originals[0].job_id();
    for duplicate in same.iter().filter(|d| !d.record["duplicate_of"].is_null()) {
        assert_eq!(
            duplicate.record["duplicate_of"]["job_id"],
            original_id.as_str()
        );
    }

    // `chute gc` on two hosts at once, results older than 1 s expired: each result
    // removed by exactly one of them.
    std::thread::sleep(Duration::from_millis(1500));
    let runs: Vec<Value> = std::thread::scope(|scope| {
        let runs: Vec<_> = [0, 1]
            .map(|index| {
                let (host, spool) = (HOSTS[index], &spools[index]);
                let config = lab.local(host).join("gc.toml");
                let text = std::fs::read_to_string(&spool.config_path).unwrap()
                    + "\n[retention]\ndone = \"1s\"\n";
                std::fs::write(&config, text).unwrap();
                let mut gc = lab.exec(host, BIN);
                gc.args(["gc", "--json", "--spool"])
                    .arg(&spool.root)
                    .arg("--config")
                    .arg(config);
                scope.spawn(move || {
                    let output = gc.output().unwrap();
                    assert!(output.status.success(), "gc on {host}: {output:?}");
                    serde_json::from_slice::<Value>(&output.stdout).unwrap()
                })
            })
            .into_iter()
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    let removed: Vec<BTreeSet<String>> = runs
        .iter()
        .map(|report| {
            report["removed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| item["path"].as_str().unwrap().to_owned())
                .filter(|path| path.starts_with("outbox/"))
                .collect()
        })
        .collect();
    assert!(
        removed[0].is_disjoint(&removed[1]),
        "both gc runs removed the same result"
    );
    let kept: Vec<&Value> = runs.iter().map(|report| &report["kept"]).collect();
    let left = view.visible("outbox/archive");
    assert_eq!(
        removed[0].len() + removed[1].len(),
        all,
        "kept: {kept:?}; still in the outbox: {left:?}"
    );
    assert!(left.is_empty(), "{left:?}");
    for daemon in &daemons {
        let log = daemon.log();
        let errors: Vec<&str> = log
            .lines()
            .filter(|line| line.contains(" ERROR "))
            .collect();
        assert!(
            errors.is_empty(),
            "{} logged errors:\n{}",
            daemon.host,
            errors.join("\n")
        );
    }
    for daemon in daemons {
        daemon.stop(secs(20));
    }
}

#[test]
fn a_drop_through_one_host_is_claimed_by_another_hosts_daemon_through_its_rescans() {
    let Some(lab) = lab::start(2) else { return };
    let writer = host_spool(&lab, "hosta", &passthrough("archive"), "");
    let spool = host_spool(&lab, "hostb", &passthrough("archive"), "");
    let daemon = start(&lab, "hostb", &spool);
    // Nothing runs on hosta: its mount only writes. inotify on hostb's mount never
    // hears of it; the rescan (every RESCAN_SECS) finds it, settles it for 1 s, claims.
    let mut waits = Vec::new();
    for index in 0..3 {
        let name = format!("remote-{index}.txt");
        let dropped = Instant::now();
        drop_through(&writer, "archive", &name, name.as_bytes());
        spool.wait_delivered("archive", index + 1, secs(30));
        waits.push(dropped.elapsed());
        std::thread::sleep(Duration::from_millis(700));
    }
    let log = daemon.log();
    assert!(log.contains("Claimed an input"), "{log}");
    let limit = Duration::from_secs(RESCAN_SECS * 2 + 1 + 3);
    for wait in &waits {
        assert!(
            *wait < limit,
            "claimed after {wait:?} (limit {limit:?}): {waits:?}"
        );
    }
    println!("drop on hosta -> delivered by hostb: {waits:?}");
    for delivered in spool.deliveries("archive") {
        assert_eq!(delivered.record["job"]["owner"]["host"], "hostb");
    }
    // The daemon knows its filesystem and says the lab's short lease is too short for it.
    assert!(log.contains("network=\"GlusterFS\""), "{log}");
    assert!(
        log.contains("spool.owner_lease (8s) is not longer than GlusterFS needs"),
        "{log}"
    );
    // As hostb: doctor names the node and the filesystem, jobs has the NODE column.
    let as_hostb = |args: &[&str]| {
        let output = lab
            .exec("hostb", BIN)
            .args(args)
            .arg("--spool")
            .arg(&spool.root)
            .arg("--config")
            .arg(&spool.config_path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let doctor = as_hostb(&["doctor"]);
    assert!(doctor.contains("info  node hostb"), "{doctor}");
    assert!(
        doctor.contains("spool filesystem: fuse.glusterfs 198.18.0.1:"),
        "{doctor}"
    );
    assert!(doctor.contains("GlusterFS, shared = true"), "{doctor}");
    let jobs = as_hostb(&["jobs"]);
    assert!(jobs.lines().next().unwrap_or("").contains("NODE"), "{jobs}");
    assert_eq!(
        jobs.lines().filter(|line| line.contains(" hostb ")).count(),
        3,
        "{jobs}"
    );
    daemon.stop(secs(20));
}
