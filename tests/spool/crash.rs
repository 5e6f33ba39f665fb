//! Crashes, restarts and graceful stops.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use rand::Rng;

use crate::drops::{assert_delivered_intact, assert_each_delivered_once};
use crate::harness::{Config, Outcome, Route, Spool, os, random_bytes, running_jobs, secs};

/// Parses `started (attempt N)`.
fn started_attempt(message: &str) -> Option<u64> {
    message
        .strip_prefix("started (attempt ")?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// In a result.json's events, no stage has a `started (attempt N)` event after that
/// stage's first `finished` event. Returns how many stages were started more than once.
fn assert_no_stage_rerun(d: &Outcome) -> usize {
    let events = d.events();
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    let mut starts: BTreeMap<String, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let Some(stage) = e["stage"].as_str() else {
            continue;
        };
        let message = e["message"].as_str().unwrap_or_default();
        if message == "finished" {
            finished.entry(stage.to_owned()).or_insert(i);
        } else if let Some(attempt) = started_attempt(message) {
            *starts.entry(stage.to_owned()).or_default() += 1;
            if let Some(&f) = finished.get(stage) {
                panic!(
                    "{}: stage {stage} started again (attempt {attempt}, event #{i}) after it \
                     finished (event #{f}); events: {}",
                    d.dir.display(),
                    serde_json::to_string_pretty(events).unwrap()
                );
            }
        }
    }
    starts.values().filter(|&&n| n > 1).count()
}

/// The stages among `prepare` and `passthrough` whose events lack a `started` or a
/// `finished` record (the progress log must show every stage that ran to completion).
fn stages_without_start_and_finish(d: &Outcome) -> Vec<&'static str> {
    let has = |stage: &str, pred: &dyn Fn(&str) -> bool| {
        d.events()
            .iter()
            .any(|e| e["stage"] == stage && e["message"].as_str().is_some_and(pred))
    };
    ["prepare", "passthrough"]
        .into_iter()
        .filter(|&stage| {
            !(has(stage, &|m| started_attempt(m).is_some()) && has(stage, &|m| m == "finished"))
        })
        .collect()
}

fn add_inputs(spool: &Spool, inputs: &mut BTreeMap<Vec<u8>, Vec<u8>>, n: usize) {
    let start = inputs.len();
    for i in start..start + n {
        let name = format!("crash-{i:03}.bin").into_bytes();
        let mut content = format!("crash input {i}\n").into_bytes();
        content.extend(random_bytes(200));
        spool.drop_file("archive", os(&name), &content);
        inputs.insert(name, content);
    }
}

/// kill -9 at random moments (24 times, restarting after each) while 50 ms stages run:
/// in the end every input is delivered exactly once and intact, failed/ and jobs/ are
/// empty, no stage was started again after its `finished` event, some stage was
/// re-attempted (the kills did land mid-stage), and every delivered job's events show
/// `started`/`finished` for `prepare` and `passthrough`.
#[test]
fn kill_9_at_random_moments_loses_and_repeats_nothing() {
    let config = Config {
        max_running_jobs: 2,
        ..Config::with_route(Route::passthrough("archive").work("50ms"))
    };
    let spool = Spool::new(&config);
    let mut inputs = BTreeMap::new();
    add_inputs(&spool, &mut inputs, 40);
    let mut rng = rand::rng();
    for _ in 0..24 {
        if spool.delivered_count("archive") >= inputs.len() {
            // Keep work in flight so every kill can land mid-job.
            add_inputs(&spool, &mut inputs, 10);
        }
        let daemon = spool.start_daemon();
        // The random kill moment is the scenario, not a wait for a condition.
        if rng.random_bool(0.25) {
            // During start-up recovery and the first claims.
            std::thread::sleep(Duration::from_millis(rng.random_range(0..60)));
        } else {
            spool.wait_until(secs(30), "a running job (or everything delivered)", || {
                !running_jobs(&spool).is_empty() || spool.delivered_count("archive") >= inputs.len()
            });
            std::thread::sleep(Duration::from_millis(rng.random_range(0..200)));
        }
        daemon.kill9();
    }

    let _daemon = spool.start_daemon();
    spool.wait_delivered("archive", inputs.len(), secs(120));
    spool.wait_jobs_empty(secs(30));
    assert_each_delivered_once(&spool, "archive", &inputs);
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
    assert!(spool.visible("inbox/archive").is_empty());
    let deliveries = spool.deliveries("archive");
    let rerun_stages: usize = deliveries.iter().map(assert_no_stage_rerun).sum();
    eprintln!(
        "{} inputs, {rerun_stages} stages re-attempted",
        inputs.len()
    );
    assert!(
        rerun_stages > 0,
        "no stage was ever started twice: either no kill landed mid-stage (the test did not \
         exercise recovery) or restarts are not recorded as new attempts"
    );
    let incomplete: Vec<String> = deliveries
        .iter()
        .filter_map(|d| {
            let missing = stages_without_start_and_finish(d);
            (!missing.is_empty()).then(|| format!("{}: {missing:?}", d.folder.to_string_lossy()))
        })
        .collect();
    assert!(
        incomplete.is_empty(),
        "delivered jobs whose events lack a `started`/`finished` pair for a stage that was \
         checkpointed done: {incomplete:?}"
    );
}

/// A job folder whose job.json was deleted while the daemon was down is rebuilt on the
/// next start and delivered under the same job id, intact.
#[test]
fn job_with_deleted_job_json_is_rebuilt_and_delivered() {
    let mut config = Config {
        max_running_jobs: 1,
        ..Config::with_route(Route::passthrough("archive").work("3s"))
    };
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    let content = random_bytes(3000);
    spool.drop_file("archive", "rebuild me.txt", &content);
    let mut id = String::new();
    spool.wait_until(secs(30), "the job to be running", || {
        match running_jobs(&spool).first() {
            Some(j) => {
                id = j.clone();
                true
            }
            None => false,
        }
    });
    daemon.kill9();
    let job_json = spool.path("jobs").join(&id).join("job.json");
    fs::remove_file(&job_json).unwrap_or_else(|e| panic!("remove {}: {e}", job_json.display()));

    config.routes = vec![Route::passthrough("archive").work("10ms")];
    spool.write_config(&config);
    let _daemon = spool.start_daemon();
    spool.wait_delivered("archive", 1, secs(60));
    let d = &spool.deliveries("archive")[0];
    assert_eq!(
        d.job_id(),
        id,
        "the delivered job keeps the folder's job id"
    );
    assert_eq!(d.input_name(), b"rebuild me.txt");
    assert_delivered_intact(d, b"rebuild me.txt", &content);
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
}

/// SIGTERM stops a daemon whose job outlasts `shutdown_grace`: exit code 0, heartbeat
/// file removed, the job left in jobs/ (not failed, not delivered); the next daemon
/// finishes it.
#[test]
fn sigterm_exits_cleanly_and_leaves_the_job_for_the_next_daemon() {
    let mut config = Config {
        shutdown_grace: "1s".to_owned(),
        ..Config::with_route(Route::passthrough("archive").work("4s"))
    };
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    let pid = daemon.pid;
    let content = random_bytes(1234);
    spool.drop_file("archive", "interrupted.txt", &content);
    spool.wait_until(secs(30), "the job to be running", || {
        !running_jobs(&spool).is_empty()
    });
    let status = daemon.terminate(secs(10));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
    assert!(
        !spool.has_heartbeat(pid),
        "daemons/ still holds the heartbeat of {pid} after a clean exit: {:?}",
        spool.visible("daemons")
    );
    assert_eq!(spool.job_entries().len(), 1, "{}", spool.summary());
    assert_eq!(spool.delivered_count("archive"), 0, "{}", spool.summary());
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");

    config.routes = vec![Route::passthrough("archive").work("10ms")];
    spool.write_config(&config);
    let _daemon = spool.start_daemon();
    spool.wait_delivered("archive", 1, secs(60));
    let mut inputs = BTreeMap::new();
    inputs.insert(b"interrupted.txt".to_vec(), content);
    assert_each_delivered_once(&spool, "archive", &inputs);
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
}

/// What a power cut can leave when claims skip the per-batch sync: a queued job (no
/// state.json) whose job.json is empty. The next daemon rebuilds it into the job's own
/// route (kept as an attribute of the job folder) and delivers it under the same id.
#[test]
fn queued_job_with_torn_job_json_is_rebuilt_into_its_route() {
    let mut config = Config {
        max_running_jobs: 1,
        ..Config::with_route(Route::passthrough("slowlane").work("3s"))
    };
    let spool = Spool::new(&config);
    let daemon = spool.start_daemon();
    let first = random_bytes(100);
    let second = random_bytes(200);
    spool.drop_file("slowlane", "first.bin", &first);
    spool.wait_until(secs(30), "the first job to be running", || {
        !running_jobs(&spool).is_empty()
    });
    spool.drop_file("slowlane", "second.bin", &second);
    let mut queued = String::new();
    spool.wait_until(
        secs(30),
        "the second job to be queued",
        || match crate::harness::job_states(&spool)
            .into_iter()
            .find(|(_, state)| state.is_none())
        {
            Some((id, _)) => {
                queued = id;
                true
            }
            None => false,
        },
    );
    daemon.kill9();
    let job_dir = spool.path("jobs").join(&queued);
    assert!(
        !job_dir.join("state.json").exists(),
        "the job must still be queued"
    );
    fs::write(job_dir.join("job.json"), b"").unwrap();

    config.routes = vec![Route::passthrough("slowlane").work("10ms")];
    spool.write_config(&config);
    let _daemon = spool.start_daemon();
    spool.wait_delivered("slowlane", 2, secs(60));
    let deliveries = spool.deliveries("slowlane");
    let rebuilt = deliveries
        .iter()
        .find(|d| d.job_id() == queued)
        .unwrap_or_else(|| {
            panic!(
                "job {queued} was not delivered in slowlane\n{}",
                spool.summary()
            )
        });
    assert_delivered_intact(rebuilt, b"second.bin", &second);
    assert!(
        rebuilt.record["job"]["rebuilt_at"].is_string(),
        "result.json should say the record was rebuilt: {}",
        rebuilt.record
    );
    assert_eq!(rebuilt.record["job"]["route"], "slowlane");
    spool.wait_jobs_empty(secs(20));
    assert_eq!(spool.all_failed(), Vec::<String>::new(), "failed/ entries");
}
