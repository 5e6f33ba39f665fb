//! The command-line interface against a live spool.

use std::fs;
use std::process::Command;

use serde_json::Value;

use crate::harness::{
    BIN, Config, Route, Spool, random_bytes, run_cli, running_jobs, secs, short_id,
};
use crate::in_process::InProcessDaemon;

/// Parses one `<job-id> <state> <location>` line of `submit --wait`.
fn parse_submit_line(line: &str) -> (uuid::Uuid, String, String) {
    let mut parts = line.splitn(3, ' ');
    let id = parts.next().unwrap_or_default();
    let id = uuid::Uuid::parse_str(id)
        .unwrap_or_else(|e| panic!("bad job id in submit line {line:?}: {e}"));
    let state = parts.next().unwrap_or_default().to_owned();
    let location = parts
        .next()
        .unwrap_or_else(|| panic!("no location in submit line {line:?}"))
        .to_owned();
    (id, state, location)
}

/// `chute submit --route archive --wait FILE` prints `<job-id> done <location>` and exits
/// 0; the location (relative to the spool) is the outbox folder holding the file intact.
#[test]
fn submit_wait_prints_done_and_location() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let src = spool.outside.join("quarterly report.pdf");
    let content = random_bytes(20_000);
    fs::write(&src, &content).unwrap();

    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "archive".as_ref(),
        "--wait".as_ref(),
        src.as_os_str(),
    ]);
    assert_eq!(out.code, Some(0), "submit --wait: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line per file: {out:?}");
    let (id, state, location) = parse_submit_line(lines[0]);
    let id = id.hyphenated().to_string();
    assert_eq!(state, "done", "{out:?}");
    assert_eq!(
        location,
        format!("outbox/archive/quarterly report--{}", short_id(&id)),
        "{out:?}"
    );
    let delivered = spool.path(&location).join("quarterly report.pdf");
    assert_eq!(
        fs::read(&delivered).ok(),
        Some(content),
        "{} content",
        delivered.display()
    );
    let d = &spool.deliveries("archive")[0];
    assert_eq!(d.job_id(), id, "job id in result.json");
}

/// `submit --wait` on a route whose job fails prints `<id> failed failed/<route>/…` and
/// exits 1.
#[test]
fn submit_wait_exits_1_when_the_job_fails() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let src = spool.outside.join("memo.m4a");
    fs::write(&src, random_bytes(500)).unwrap();
    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "audio".as_ref(),
        "--wait".as_ref(),
        src.as_os_str(),
    ]);
    assert_eq!(out.code, Some(1), "submit --wait of a failing job: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{out:?}");
    let (id, state, location) = parse_submit_line(lines[0]);
    assert_eq!(state, "failed", "{out:?}");
    assert_eq!(
        location,
        format!("failed/audio/memo--{}", short_id(&id.to_string())),
        "{out:?}"
    );
    assert!(spool.path(&location).join("error.json").is_file());
}

/// Finds the element of a `jobs --json` array with this id.
fn job_entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap_or_else(|| panic!("jobs --json is not an array: {list}"))
        .iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("job {id} missing from jobs --json: {list}"))
}

/// `chute jobs --json` parses and lists delivered jobs with state "done" and the
/// documented fields; `--state` filters; `chute show <short-id> --json` returns the job
/// with its result and events.
#[test]
fn jobs_json_lists_done_jobs() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    let names = ["one.txt", "two.txt", "three.txt"];
    for n in names {
        spool.drop_file("archive", n, &random_bytes(64));
    }
    spool.wait_delivered("archive", 3, secs(30));
    spool.wait_jobs_empty(secs(20));
    let deliveries = spool.deliveries("archive");

    let out = spool.cli(["jobs", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let all = out.json();
    for d in &deliveries {
        let id = d.job_id();
        let j = job_entry(&all, &id);
        assert_eq!(j["state"], "done", "{j}");
        assert_eq!(j["short_id"], short_id(&id), "{j}");
        assert_eq!(j["route"], "archive", "{j}");
        assert_eq!(j["pipeline"], "passthrough", "{j}");
        let name = String::from_utf8(d.input_name()).unwrap();
        assert!(names.contains(&name.as_str()));
        assert_eq!(j["input"], name, "{j}");
        assert!(j["stage"].is_null(), "stage of a done job: {j}");
        assert_eq!(j["percent"], 100, "percent of a done job: {j}");
        assert_eq!(
            j["location"],
            format!("outbox/archive/{}", d.folder.to_string_lossy()),
            "{j}"
        );
        assert!(j["claimed_at"].is_string(), "{j}");
    }

    let out = spool.cli(["jobs", "--state", "done", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let done = out.json();
    assert_eq!(done.as_array().map(Vec::len), Some(3), "{done}");
    for d in &deliveries {
        job_entry(&done, &d.job_id());
    }
    let out = spool.cli(["jobs", "--state", "failed", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.json(), Value::Array(vec![]), "no failed jobs");

    let id = deliveries[0].job_id();
    let out = spool.cli(["show", &short_id(&id), "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let shown = out.json();
    assert_eq!(shown["id"], id, "{shown}");
    assert_eq!(shown["state"], "done", "{shown}");
    assert_eq!(shown["result"]["job"]["id"], id, "show .result: {shown}");
    assert!(
        shown["events"].as_array().is_some_and(|e| !e.is_empty()),
        "show .events: {shown}"
    );
}

/// `chute cancel <short-id>` on a running slow job ends it in failed/<route>/ with
/// error.json state "cancelled" (well before its work could have finished); nothing is
/// delivered and `jobs --json` reports it as "cancelled".
#[test]
fn cancel_ends_a_running_job_as_cancelled() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("slow").work("30s")));
    let _daemon = InProcessDaemon::start(&spool);
    let content = random_bytes(300);
    spool.drop_file("slow", "long job.txt", &content);
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
    let out = spool.cli(["cancel", &short_id(&id)]);
    assert_eq!(out.code, Some(0), "cancel: {out:?}");

    spool.wait_until(secs(20), "the cancelled job in failed/slow", || {
        spool.failed_count("slow") >= 1
    });
    let failures = spool.failures("slow");
    assert_eq!(failures.len(), 1);
    let f = &failures[0];
    assert_eq!(f.record["state"], "cancelled", "{}", f.record);
    assert_eq!(f.job_id(), id);
    assert_eq!(
        f.folder.to_string_lossy(),
        format!("long job--{}", short_id(&id))
    );
    assert_eq!(fs::read(f.dir.join("long job.txt")).ok(), Some(content));
    assert_eq!(spool.delivered_count("slow"), 0);
    spool.wait_jobs_empty(secs(20));

    let out = spool.cli(["jobs", "--json"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(job_entry(&out.json(), &id)["state"], "cancelled");
}

/// A log filter or format the daemon cannot honour stops `chute run` at start with a
/// usage error naming the variable, instead of logging some other way.
#[test]
fn bad_log_settings_are_refused_at_start() {
    let spool = Spool::new(&Config::default());
    for (variable, value) in [("CHUTE_LOG_FORMAT", "yaml"), ("CHUTE_LOG", "chute=loud")] {
        let mut daemon = Command::new(BIN)
            .args(["run", "--spool"])
            .arg(&spool.root)
            .arg("--config")
            .arg(&spool.config_path)
            .env_remove("CHUTE_LOG")
            .env_remove("CHUTE_LOG_FORMAT")
            .env(variable, value)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let exited = crate::harness::poll_until(secs(20), || daemon.try_wait().unwrap().is_some());
        if !exited {
            let _ = daemon.kill();
            panic!("chute run kept running with {variable}={value}");
        }
        let output = daemon.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{variable}={value}: {stderr}"
        );
        assert!(
            stderr.contains(variable) && stderr.contains(value),
            "{variable}={value}: {stderr}"
        );
    }
}

/// `submit --wait a b` reports every file, each as it ends, even when the first job
/// takes longer than the slack the wait used to allow (it once waited for `b` forever
/// because it looked for claims made after it started waiting for `b`); live states
/// go to stderr; `--timeout` gives up with exit code 1 and names what is still running.
#[test]
fn submit_wait_reports_every_file_and_honours_its_timeout() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("slow").work("4s")));
    let _daemon = InProcessDaemon::start(&spool);
    let first = spool.outside.join("first.bin");
    let second = spool.outside.join("second.bin");
    fs::write(&first, random_bytes(1000)).unwrap();
    fs::write(&second, random_bytes(1000)).unwrap();

    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "slow".as_ref(),
        "--wait".as_ref(),
        first.as_os_str(),
        second.as_os_str(),
    ]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per file: {out:?}");
    let mut locations: Vec<String> = lines
        .iter()
        .map(|line| {
            let (_, state, location) = parse_submit_line(line);
            assert_eq!(state, "done", "{out:?}");
            location
        })
        .collect();
    locations.sort();
    assert!(
        locations[0].starts_with("outbox/slow/first--")
            && locations[1].starts_with("outbox/slow/second--"),
        "{locations:?}"
    );
    assert!(
        out.stderr.contains("first.bin: running") && out.stderr.contains("second.bin: running"),
        "live states on stderr: {out:?}"
    );

    let third = spool.outside.join("third.bin");
    fs::write(&third, random_bytes(1000)).unwrap();
    let started = std::time::Instant::now();
    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "slow".as_ref(),
        "--wait".as_ref(),
        "--timeout".as_ref(),
        "1s".as_ref(),
        third.as_os_str(),
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(started.elapsed() < secs(6), "took {:?}", started.elapsed());
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        out.stderr.contains("third.bin: still") && out.stderr.contains("timed out"),
        "{out:?}"
    );
}

/// `chute retry` wakes a running daemon: the job put back into jobs/ runs at once, not
/// at the next rescan (an hour away here). Run again, the oversize input is refused
/// again (a retry does not lift the route's `max_size`), back in its failed folder.
#[test]
fn retry_wakes_the_daemon_instead_of_waiting_for_a_rescan() {
    let mut route = Route::passthrough("small");
    route.max_size = Some("10B".to_owned());
    let config = Config {
        rescan_interval: "1h".to_owned(),
        ..Config::with_route(route)
    };
    let spool = Spool::new(&config);
    let _daemon = InProcessDaemon::start(&spool);
    spool.drop_file("small", "big.bin", &random_bytes(100));
    spool.wait_until(secs(20), "the oversize input in failed/", || {
        spool.failed_count("small") == 1
    });
    let id = spool.failures("small")[0].job_id();
    let started = std::time::Instant::now();
    let out = spool.cli(["retry", id.as_str()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let ran_again = |failure: &crate::harness::Outcome| {
        failure
            .events()
            .iter()
            .any(|event| event["message"] == "queued again by chute retry")
    };
    spool.wait_until(secs(20), "the retried job run again", || {
        spool.job_entries().is_empty()
            && spool.failed_count("small") == 1
            && ran_again(&spool.failures("small")[0])
    });
    assert!(started.elapsed() < secs(20), "took {:?}", started.elapsed());
    let failure = &spool.failures("small")[0];
    assert_eq!(failure.job_id(), id);
    assert!(
        failure.record["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("max_size")),
        "{}",
        failure.record
    );
    assert_eq!(spool.delivered_count("small"), 0);
}

/// A listing whose reader went away (`chute models list | head -1`) ends quietly, as
/// Unix tools do (killed by SIGPIPE), instead of panicking with exit code 101.
#[test]
fn a_closed_pipe_ends_a_listing_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let spool = Spool::new(&Config::default());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(BIN)
        .arg("--spool")
        .arg(&spool.root)
        .args(["models", "list"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        output.status.signal(),
        Some(13),
        "{:?}: {stderr}",
        output.status
    );
}

/// Usage mistakes exit 2, as documented: a file that does not exist, a folder that is
/// no spool, a `retry --from` stage the job does not have (the answer lists them).
#[test]
fn usage_mistakes_exit_2() {
    let spool = Spool::new(&Config::with_route(Route::passthrough("archive")));
    let _daemon = InProcessDaemon::start(&spool);
    let missing = spool.outside.join("not-here.bin");
    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "archive".as_ref(),
        missing.as_os_str(),
    ]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("does not exist"), "{out:?}");

    let nowhere = spool.outside.join("no-spool");
    fs::create_dir_all(&nowhere).unwrap();
    let mut command = Command::new(BIN);
    command.arg("--spool").arg(&nowhere).arg("jobs");
    let out = run_cli(command, &spool.outside);
    assert_eq!(out.code, Some(2), "{out:?}");

    let mut route = Route::passthrough("small");
    route.max_size = Some("10B".to_owned());
    drop(_daemon);
    spool.write_config(&Config::with_route(route));
    let _daemon = InProcessDaemon::start(&spool);
    spool.drop_file("small", "big.bin", &random_bytes(100));
    spool.wait_until(secs(20), "the oversize input in failed/", || {
        spool.failed_count("small") == 1
    });
    let id = spool.failures("small")[0].job_id();
    let out = spool.cli(["retry", id.as_str(), "--from", "render"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("no stage \"render\"") && out.stderr.contains("without --from"),
        "{out:?}"
    );
}

/// The daemon's log has one line per claim (input name, size, route, job id) and per
/// delivery (where, how long), and its ready line names the config file and routes.
#[test]
fn the_log_names_claims_deliveries_and_the_configuration() {
    let spool = Spool::new(&Config::default());
    let daemon = spool.start_daemon();
    spool.drop_file("archive", "ledger 2026.csv", b"a,b\n1,2\n");
    spool.wait_delivered("archive", 1, secs(20));
    let id = spool.deliveries("archive")[0].job_id();
    // The delivery line is written just after the folder appears.
    spool.wait_until(secs(10), "the delivery in the log", || {
        daemon.log().contains("Job delivered.")
    });
    let log = daemon.log();
    let line_with = |words: &str| {
        log.lines()
            .find(|line| line.contains(words))
            .unwrap_or_else(|| panic!("no line with {words:?}:\n{log}"))
    };
    let ready = line_with("chute is ready.");
    assert!(
        ready.contains(&spool.config_path.display().to_string())
            && ready.contains("archive (passthrough)"),
        "{ready}"
    );
    let claimed = line_with("Claimed an input.");
    assert!(
        claimed.contains(&id)
            && claimed.contains("ledger 2026.csv")
            && claimed.contains("size=8")
            && claimed.contains("route=archive"),
        "{claimed}"
    );
    let delivered = line_with("Job delivered.");
    assert!(
        delivered.contains(&id)
            && delivered.contains("outbox/archive/")
            && delivered.contains("took="),
        "{delivered}"
    );
}

/// `chute show` lists how long each stage took and the delivered files.
#[test]
fn show_lists_stage_durations_and_delivered_files() {
    let spool = Spool::new(&Config::default());
    let _daemon = InProcessDaemon::start(&spool);
    spool.drop_file("archive", "notes.txt", b"remember the milk\n");
    spool.wait_delivered("archive", 1, secs(20));
    let id = spool.deliveries("archive")[0].job_id();
    let out = spool.cli(["show", id.as_str()]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let stage_line = out
        .stdout
        .lines()
        .find(|line| line.trim_start().starts_with("passthrough"))
        .unwrap_or_else(|| panic!("no passthrough stage: {out:?}"));
    assert!(
        stage_line.contains("done") && stage_line.trim_end().ends_with(" s"),
        "{stage_line}"
    );
    let files: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|line| *line != "files")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(str::trim)
        .collect();
    assert!(files.contains(&"notes.txt"), "{out:?}");
    // result.json's events end with the delivery finishing.
    let events = spool.deliveries("archive")[0].events().clone();
    let last = events.last().unwrap();
    assert_eq!(
        (last["stage"].as_str(), last["message"].as_str()),
        (Some("deliver"), Some("finished")),
        "{events:#?}"
    );
}

/// With no daemon on the spool, `jobs` and `submit --wait` say so instead of showing
/// work that will never move; with one running they say nothing of the kind.
#[test]
fn the_cli_says_when_no_daemon_is_running() {
    let spool = Spool::new(&Config::default());
    let daemon = InProcessDaemon::start(&spool);
    let out = spool.cli(["jobs"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(!out.stderr.contains("no daemon"), "{out:?}");
    drop(daemon);

    let out = spool.cli(["jobs"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("no daemon is running"), "{out:?}");
    let file = spool.outside.join("waits.bin");
    fs::write(&file, random_bytes(10)).unwrap();
    let out = spool.cli([
        "submit".as_ref(),
        "--route".as_ref(),
        "archive".as_ref(),
        "--wait".as_ref(),
        "--timeout".as_ref(),
        "1s".as_ref(),
        file.as_os_str(),
    ]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("no daemon is running") && out.stderr.contains("waiting to be claimed"),
        "{out:?}"
    );
}

/// Two daemons on one host share its GPU and memory: `jobs` warns, `doctor` fails the
/// check, naming both pids; with one daemon neither says so.
#[test]
fn two_daemons_on_one_host_are_reported() {
    let spool = Spool::new(&Config::default());
    let first = spool.start_daemon();
    spool.wait_until(secs(30), "the first daemon's record", || {
        spool.has_heartbeat(first.pid)
    });
    let jobs = spool.cli(["jobs"]);
    assert!(
        !jobs.stderr.contains("daemons run on this host"),
        "{jobs:?}"
    );
    let second = spool.start_daemon();
    spool.wait_until(secs(30), "the second daemon's record", || {
        spool.has_heartbeat(second.pid)
    });
    let jobs = spool.cli(["jobs"]);
    assert!(
        jobs.stderr.contains("2 daemons run on this host")
            && jobs.stderr.contains(&first.pid.to_string())
            && jobs.stderr.contains(&second.pid.to_string()),
        "{jobs:?}"
    );
    let doctor = spool.cli(["doctor"]);
    assert!(
        doctor.stdout.contains("FAIL  2 daemons run on this host"),
        "{doctor:?}"
    );
}

/// `chute brief check` validates the samples (naming what they become) and names the
/// field of a bad brief (exit 1); `chute brief schema` prints the JSON Schema.
#[test]
fn brief_check_and_schema() {
    let spool = Spool::new(&Config::default());
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let check = |path: &std::path::Path| spool.cli(["brief", "check", path.to_str().unwrap()]);
    let ok = check(&samples.join("brief-vi"));
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(
        ok.stdout.contains(
            "30 s in 6 scenes of 5 s, style koc-review, language vi, 1080x1920, 1 file(s)"
        ),
        "{ok:?}"
    );
    assert_eq!(check(&samples.join("brief.json")).code, Some(0));
    let bad = spool.outside.join("bad.json");
    fs::write(&bad, r#"{"product": {"name": "x"}, "duration_sec": 0}"#).unwrap();
    let out = check(&bad);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("duration_sec: 0 is out of range"),
        "{out:?}"
    );
    let schema = spool.cli(["brief", "schema"]);
    assert_eq!(schema.code, Some(0));
    let schema: Value = serde_json::from_str(&schema.stdout).unwrap();
    assert_eq!(
        schema["required"],
        serde_json::json!(["product", "duration_sec"])
    );
}
