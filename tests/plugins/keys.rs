//! Key pools against the fake Gemini server: refused keys are disabled, 429s rest
//! a key for the RetryInfo delay, per-key RPM is never exceeded, and key values
//! appear nowhere but on the wire to the provider.

use std::path::Path;
use std::time::Duration;

use chute::provider::plugin::TextRequest;
use chute::provider::{Answer, Operation};

use crate::harness::{capturing_logs, load, spool_with};
use chute_fakes::{FakeGemini, Fault, KeyMode};

const GOOD: &str = "AIzaSyFAKE-good-key-0000000000000000";
const SECOND: &str = "AIzaSyFAKE-second-key-111111111111111";
const REFUSED: &str = "AQ.FAKE-refused-key-2222222222222222";

fn text(prompt: &str) -> Operation {
    Operation::Text(TextRequest {
        system: None,
        prompt: prompt.into(),
        json_schema: Some(r#"{"type":"object","properties":{"echo":{"type":"string"}}}"#.into()),
        temperature: None,
        max_output_tokens: None,
    })
}

/// Key files in the spool's parent temp dir, referenced as `file:`.
fn key_refs(dir: &Path, keys: &[&str]) -> String {
    let references: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let path = dir.join(format!("key{index}"));
            std::fs::write(&path, format!("{key}\n")).expect("key file");
            format!("\"file:{}\"", path.display())
        })
        .collect();
    references.join(", ")
}

fn config(fake: &FakeGemini, keys: &str, extra: &str) -> String {
    format!(
        "[plugins]\ncall_timeout = \"20s\"\nattempts = 5\n\n[providers.gemini-lite]\nbase_url = \"{}\"\nkeys = [{keys}]\nmodel = \"gemini-test-flash\"\n{extra}\n",
        fake.url
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_is_disabled_and_calls_succeed_on_the_other() {
    let fake =
        FakeGemini::start(&[(GOOD, KeyMode::Valid), (REFUSED, KeyMode::Unauthenticated)]).await;
    let spool = spool_with(&["gemini-lite"]);
    let keys = key_refs(spool.path(), &[REFUSED, GOOD]);
    let providers = load(&spool, &config(&fake, &keys, "")).await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);
    let provider = providers.get("gemini-lite").expect("loaded");
    for round in 0..4 {
        let served = provider
            .call(text(&format!("round{round}")), Some("job-1"))
            .await
            .expect("served");
        let Answer::Text(result) = served.answer else {
            panic!("text")
        };
        let answer: serde_json::Value = serde_json::from_str(&result.text).unwrap();
        assert!(
            answer["echo"]
                .as_str()
                .is_some_and(|echo| echo.contains(&format!("ound{round}"))),
            "{answer}"
        );
        assert_eq!(result.model, "gemini-test-flash");
    }
    let refused = fake
        .seen()
        .iter()
        .filter(|seen| seen.key.as_deref() == Some(REFUSED))
        .count();
    assert!(refused <= 1, "the refused key was used {refused} times");
    let report = provider.keys.report();
    assert!(
        report.iter().any(|key| key.state.starts_with("disabled")),
        "{report:?}"
    );
    assert!(
        report
            .iter()
            .any(|key| key.state == "ok" && key.successes == 4),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_rests_that_key_for_the_retry_delay() {
    let fake = FakeGemini::start(&[(GOOD, KeyMode::Valid)]).await;
    fake.faults()
        .script([Fault::RateLimited(Duration::from_secs(2))]);
    let spool = spool_with(&["gemini-lite"]);
    let keys = key_refs(spool.path(), &[GOOD]);
    let providers = load(&spool, &config(&fake, &keys, "")).await;
    let provider = providers.get("gemini-lite").expect("loaded");
    let served = provider
        .call(text("after a 429"), None)
        .await
        .expect("served after the delay");
    assert_eq!(served.record.attempts, 2);
    let seen = fake.seen_ending(":generateContent");
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_secs(2),
        "the key was used again after {gap:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overloaded_answers_are_retried_with_backoff() {
    let fake = FakeGemini::start(&[(GOOD, KeyMode::Valid)]).await;
    fake.faults()
        .script([Fault::Unavailable, Fault::Unavailable]);
    let spool = spool_with(&["gemini-lite"]);
    let keys = key_refs(spool.path(), &[GOOD]);
    let providers = load(&spool, &config(&fake, &keys, "")).await;
    let provider = providers.get("gemini-lite").expect("loaded");
    let served = provider
        .call(text("eventually"), None)
        .await
        .expect("served on the third try");
    assert_eq!(served.record.attempts, 3);
    assert_eq!(
        served
            .record
            .exchanges
            .iter()
            .filter(|e| e.status == Some(503))
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_per_key_are_never_exceeded() {
    let fake = FakeGemini::start(&[(GOOD, KeyMode::Valid), (SECOND, KeyMode::Valid)]).await;
    let spool = spool_with(&["gemini-lite"]);
    let keys = key_refs(spool.path(), &[GOOD, SECOND]);
    let providers = load(&spool, &config(&fake, &keys, "requests_per_minute = 10")).await;
    let provider = providers.get("gemini-lite").expect("loaded").clone();
    let calls: Vec<_> = (0..6)
        .map(|index| {
            let provider = provider.clone();
            tokio::spawn(async move {
                provider
                    .call(text(&format!("call {index}")), None)
                    .await
                    .map(|_| ())
            })
        })
        .collect();
    for call in calls {
        call.await
            .expect("task")
            .map_err(|failed| failed.error)
            .expect("served");
    }
    for key in [GOOD, SECOND] {
        let times: Vec<_> = fake
            .seen()
            .into_iter()
            .filter(|seen| seen.key.as_deref() == Some(key))
            .map(|seen| seen.at)
            .collect();
        assert!(!times.is_empty(), "both keys are used");
        for window_start in &times {
            let in_window = times
                .iter()
                .filter(|at| {
                    **at >= *window_start && **at < *window_start + Duration::from_secs(60)
                })
                .count();
            assert!(
                in_window <= 10,
                "{in_window} requests in a minute on one key"
            );
        }
        for pair in times.windows(2) {
            // 10 RPM, evenly spaced: 6 s apart (a little less for network jitter).
            assert!(
                pair[1] - pair[0] >= Duration::from_millis(5_900),
                "{:?} apart",
                pair[1] - pair[0]
            );
        }
    }
}

#[test]
fn keys_appear_only_on_the_wire() {
    let ((record, settings, fake), logs) = capturing_logs(async {
        let fake =
            FakeGemini::start(&[(GOOD, KeyMode::Valid), (REFUSED, KeyMode::Unauthenticated)]).await;
        fake.faults().script([
            Fault::RateLimited(Duration::from_secs(1)),
            Fault::Unavailable,
        ]);
        let spool = spool_with(&["gemini-lite"]);
        let keys = key_refs(spool.path(), &[REFUSED, GOOD]);
        let providers = load(&spool, &config(&fake, &keys, "")).await;
        let provider = providers.get("gemini-lite").expect("loaded");
        let served = provider
            .call(text("secret keeping"), Some("job-7"))
            .await
            .expect("served");
        let record = serde_json::to_string(&served.record).expect("record");
        let report = serde_json::to_string(&provider.keys.report()).expect("report");
        let settings = format!("{:?}", provider.settings);
        (format!("{record}\n{report}"), settings, fake)
    });
    assert!(
        logs.contains("Key refused"),
        "the logs are captured: {logs}"
    );
    for key in [GOOD, REFUSED] {
        assert!(!logs.contains(key), "a key is in the logs");
        assert!(!record.contains(key), "a key is in the call record");
        assert!(!settings.contains(key), "a key is in the plugin's settings");
    }
    assert!(
        record.contains("key-"),
        "keys are named by fingerprint: {record}"
    );
    // On the wire, in the header, never in the query.
    assert!(fake.seen().iter().all(|seen| !seen.query.contains("key=")));
    assert!(
        fake.seen()
            .iter()
            .any(|seen| seen.key.as_deref() == Some(GOOD))
    );
}
