//! Completion hooks end to end with the real binary: the hook command's environment
//! (the job's facts, no provider key), a hook killed at its time limit, the failed
//! hook, and the signed webhook against a real local HTTP server (retried after a 503
//! with Retry-After, and sent again after a kill -9).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use crate::harness::{Config, Spool, secs};

/// A provider key in the daemon's environment that no hook may see.
const PROVIDER_KEY: (&str, &str) = ("GEMINI_API_KEY", "AIzaSy-hook-test-never-leaks-0042");
/// The webhook secret's variable and value.
const SECRET: (&str, &str) = ("CHUTE_TEST_WEBHOOK_SECRET", "whsec-test-3f9a");

/// A config whose only routes are the raw `[[routes]]` text given.
fn config_with(routes: &str) -> Config {
    Config {
        routes: Vec::new(),
        extra: routes.to_owned(),
        ..Config::default()
    }
}

/// The `hook` lines of a delivered folder's `.job/events.jsonl`.
fn hook_lines(folder: &Path) -> Vec<String> {
    std::fs::read_to_string(folder.join(".job/events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["stage"] == "hook")
        .filter_map(|event| event["message"].as_str().map(str::to_owned))
        .collect()
}

/// `NAME=value` lines of a file written by `env`.
fn read_env(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn hooks_get_the_jobs_facts_and_no_provider_key() {
    let probe = tempfile::tempdir().unwrap();
    let done_env = probe.path().join("done.env");
    let failed_env = probe.path().join("failed.env");
    let routes = format!(
        "[[routes]]\nname = \"hooked\"\npipeline = \"passthrough\"\n\
         on_done = [\"/bin/sh\", \"-c\", \"env > {done}; echo wrote the env\"]\n\
         \n[[routes]]\nname = \"strict\"\npipeline = \"passthrough\"\nmax_size = \"4B\"\n\
         on_failed = [\"/bin/sh\", \"-c\", \"env > {failed}\"]\n",
        done = done_env.display(),
        failed = failed_env.display(),
    );
    let spool = Spool::new(&config_with(&routes));
    let daemon = spool.start_daemon_with_env(&[PROVIDER_KEY]);
    spool.drop_file("hooked", "report.txt", b"quarterly numbers");
    spool.drop_file("strict", "too-big.txt", b"more than four bytes");
    spool.wait_delivered("hooked", 1, secs(30));
    let delivered = spool.deliveries("hooked").remove(0);
    spool.wait_until(secs(30), "the on_done hook's outcome is recorded", || {
        !hook_lines(&delivered.dir).is_empty()
    });

    let env = read_env(&done_env);
    let root = std::fs::canonicalize(&spool.root).unwrap();
    assert_eq!(env["CHUTE_JOB_ID"], delivered.job_id());
    assert_eq!(env["CHUTE_ROUTE"], "hooked");
    assert_eq!(env["CHUTE_PIPELINE"], "passthrough");
    assert_eq!(env["CHUTE_STATUS"], "done");
    assert_eq!(env["CHUTE_EVENT"], "job.done");
    assert_eq!(env["CHUTE_INPUT"], "report.txt");
    let result_dir = PathBuf::from(&env["CHUTE_RESULT_DIR"]);
    assert!(result_dir.is_absolute());
    assert_eq!(result_dir, std::fs::canonicalize(&delivered.dir).unwrap());
    assert!(result_dir.starts_with(&root));
    assert!(!env.contains_key("CHUTE_ERROR_REASON"));
    let text = std::fs::read_to_string(&done_env).unwrap();
    assert!(
        !text.contains(PROVIDER_KEY.1) && !text.contains(PROVIDER_KEY.0),
        "the hook saw the daemon's provider key:\n{text}"
    );
    let extra: Vec<_> = env
        .keys()
        .filter(|name| !name.starts_with("CHUTE_"))
        .filter(|name| !["PATH", "LANG", "PWD", "SHLVL", "_", "OLDPWD"].contains(&name.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "variables beyond the documented ones: {extra:?}"
    );
    let lines = hook_lines(&delivered.dir);
    assert!(
        lines[0].starts_with("on_done ok: exit code 0") && lines[0].contains("wrote the env"),
        "{lines:?}"
    );

    spool.wait_until(secs(30), "the refused input's on_failed hook ran", || {
        read_env(&failed_env).contains_key("CHUTE_ERROR_REASON")
    });
    let env = read_env(&failed_env);
    let failed = spool.failures("strict").remove(0);
    assert_eq!(env["CHUTE_STATUS"], "failed");
    assert_eq!(env["CHUTE_EVENT"], "job.failed");
    assert_eq!(env["CHUTE_JOB_ID"], failed.job_id());
    assert_eq!(env["CHUTE_ERROR_STAGE"], "claim");
    assert_eq!(
        PathBuf::from(&env["CHUTE_RESULT_DIR"]),
        std::fs::canonicalize(&failed.dir).unwrap()
    );
    drop(daemon);
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_the_job_stays_done() {
    let routes = "[[routes]]\nname = \"slow\"\npipeline = \"passthrough\"\n\
                  on_done = [\"/bin/sleep\", \"60\"]\nhook_timeout = \"1s\"\n";
    let spool = Spool::new(&config_with(routes));
    let daemon = spool.start_daemon();
    spool.drop_file("slow", "a.txt", b"first");
    spool.drop_file("slow", "b.txt", b"second");
    spool.wait_delivered("slow", 2, secs(30));
    for delivered in spool.deliveries("slow") {
        assert_eq!(delivered.record["state"], "done");
        spool.wait_until(secs(30), "the hook's timeout is recorded", || {
            !hook_lines(&delivered.dir).is_empty()
        });
        let lines = hook_lines(&delivered.dir);
        assert!(
            lines[0].starts_with("on_done timeout: killed at hook_timeout"),
            "{lines:?}"
        );
    }
    let log = daemon.log();
    assert!(
        log.contains("Hook failed (the job's outcome stands)"),
        "{log}"
    );
    let sleepers = std::process::Command::new("pgrep")
        .args(["-f", "^/bin/sleep 60$"])
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    assert!(
        sleepers.trim().is_empty(),
        "hooks outlived their limit: {sleepers}"
    );
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: BTreeMap<String, String>,
    body: String,
    answered: u16,
}

/// A webhook receiver on 127.0.0.1: answers the scripted statuses first (each with its
/// Retry-After), then 200.
#[derive(Clone)]
struct Receiver {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<(u16, &'static str)>>>,
}

impl Receiver {
    fn start(script: &[(u16, &'static str)]) -> Receiver {
        use axum::extract::State;
        use axum::http::HeaderMap;
        use axum::response::IntoResponse;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let state = (requests.clone(), script.clone());
        let (sender, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                type Shared = (
                    Arc<Mutex<Vec<Received>>>,
                    Arc<Mutex<VecDeque<(u16, &'static str)>>>,
                );
                async fn hook(
                    State((requests, script)): State<Shared>,
                    headers: HeaderMap,
                    body: String,
                ) -> axum::response::Response {
                    let (status, retry_after) =
                        script.lock().unwrap().pop_front().unwrap_or((200, ""));
                    requests.lock().unwrap().push(Received {
                        at: Instant::now(),
                        headers: headers
                            .iter()
                            .map(|(name, value)| {
                                (name.to_string(), value.to_str().unwrap_or("").to_owned())
                            })
                            .collect(),
                        body,
                        answered: status,
                    });
                    let status = axum::http::StatusCode::from_u16(status).unwrap();
                    if retry_after.is_empty() {
                        status.into_response()
                    } else {
                        (status, [("retry-after", retry_after)]).into_response()
                    }
                }
                let app = axum::Router::new()
                    .route("/hook", axum::routing::post(hook))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                sender.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Receiver {
            address: address.recv().unwrap(),
            requests,
            script,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    fn delivered(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|request| request.answered == 200)
            .collect()
    }
}

/// Checks `X-Chute-Signature` against the body and timestamp with the test's secret.
fn assert_signed(request: &Received) {
    use hmac::{Hmac, KeyInit, Mac};
    let timestamp = &request.headers["x-chute-timestamp"];
    let signature = request.headers["x-chute-signature"]
        .strip_prefix("sha256=")
        .expect("sha256= prefix");
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.1.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", request.body).as_bytes());
    let expected = crate::harness::decode_hex(signature).expect("hex signature");
    mac.verify_slice(&expected).expect("the signature verifies");
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..600).contains(&age), "timestamp {timestamp} is not now");
}

fn webhook_route(receiver: &Receiver) -> String {
    format!(
        "[[routes]]\nname = \"notified\"\npipeline = \"passthrough\"\n\
         webhook = \"{}\"\nwebhook_secret = \"env:{}\"\nwebhook_attempts = 5\n",
        receiver.url(),
        SECRET.0
    )
}

fn pending_events(spool: &Spool) -> Vec<std::ffi::OsString> {
    spool.visible("hooks/pending")
}

#[test]
fn a_webhook_is_retried_after_a_503_and_arrives_once_signed() {
    let receiver = Receiver::start(&[(503, "1")]);
    let spool = Spool::new(&config_with(&webhook_route(&receiver)));
    let daemon = spool.start_daemon_with_env(&[SECRET]);
    spool.drop_file("notified", "clip.mp4", b"not really a video");
    spool.wait_delivered("notified", 1, secs(30));
    spool.wait_until(secs(30), "the webhook is delivered", || {
        !receiver.delivered().is_empty()
    });
    let delivered = spool.deliveries("notified").remove(0);
    spool.wait_until(secs(10), "the pending event is removed", || {
        pending_events(&spool).is_empty() && !hook_lines(&delivered.dir).is_empty()
    });
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].answered, 503);
    assert_eq!(requests[1].answered, 200);
    assert!(
        requests[1].at.duration_since(requests[0].at) >= std::time::Duration::from_millis(900),
        "Retry-After: 1 was not waited for"
    );
    assert_eq!(
        requests[0].body, requests[1].body,
        "a resend changed the body"
    );
    for request in &requests {
        assert_signed(request);
        assert_eq!(request.headers["content-type"], "application/json");
    }
    let event: Value = serde_json::from_str(&requests[1].body).unwrap();
    assert_eq!(event["version"], 1);
    assert_eq!(event["event"], "job.done");
    assert_eq!(event["job_id"], delivered.job_id().as_str());
    assert_eq!(event["route"], "notified");
    assert_eq!(event["status"], "done");
    assert_eq!(event["input"], "clip.mp4");
    assert_eq!(
        PathBuf::from(event["result_dir"].as_str().unwrap()),
        std::fs::canonicalize(&delivered.dir).unwrap()
    );
    assert!(event.get("error").is_none());
    assert!(event["finished_at"].as_str().is_some());
    assert_eq!(
        requests[1].headers["x-chute-event-id"],
        event["event_id"].as_str().unwrap()
    );
    let lines = hook_lines(&delivered.dir);
    assert!(
        lines[0].starts_with("webhook delivered: HTTP 200 (attempt 2)"),
        "{lines:?}"
    );
    drop(daemon);
}

#[test]
fn a_pending_webhook_is_sent_after_a_kill_9() {
    // The receiver is down for the first attempt and asks for a long pause.
    let receiver = Receiver::start(&[(503, "120")]);
    let spool = Spool::new(&config_with(&webhook_route(&receiver)));
    let daemon = spool.start_daemon_with_env(&[SECRET]);
    spool.drop_file("notified", "late.txt", b"late news");
    spool.wait_delivered("notified", 1, secs(30));
    spool.wait_until(secs(30), "the first attempt is refused", || {
        !receiver.requests().is_empty()
    });
    assert_eq!(pending_events(&spool).len(), 1);
    daemon.kill9();
    assert!(receiver.delivered().is_empty());

    receiver.script.lock().unwrap().clear();
    let daemon = spool.start_daemon_with_env(&[SECRET]);
    spool.wait_until(
        secs(30),
        "the pending event is sent after the restart",
        || !receiver.delivered().is_empty(),
    );
    spool.wait_until(secs(10), "the pending event is removed", || {
        pending_events(&spool).is_empty()
    });
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[0].body, requests[1].body);
    assert_signed(&requests[1]);
    let event: Value = serde_json::from_str(&requests[1].body).unwrap();
    let delivered = spool.deliveries("notified").remove(0);
    assert_eq!(event["job_id"], delivered.job_id().as_str());
    drop(daemon);
}
