//! A misbehaving plugin fails its own call with a clear error; the host and the
//! other plugins carry on.

use std::time::{Duration, Instant};

use chute::provider::plugin::{CallFailure, ProviderError};
use chute::provider::{Answer, CallError, Operation, ServeError};

use crate::harness::{capturing_logs, load, spool_with};

fn answer_text(answer: Answer) -> String {
    match answer {
        Answer::Text(result) => result.text,
        other => panic!("expected text, got {other:?}"),
    }
}

const CONFIG: &str = r#"
[plugins]
call_timeout = "2s"
memory = "32MiB"
attempts = 1

[providers.echo]
prefix = "echo: "
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugins_fail_their_own_call_and_the_host_carries_on() {
    let spool = spool_with(&["echo", "hostile"]);
    let providers = load(&spool, CONFIG).await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);
    let hostile = providers.get("hostile").expect("hostile loaded");
    let echo = providers.get("echo").expect("echo loaded");

    let failure = |result: Result<chute::provider::Served, CallError>| match result {
        Err(CallError {
            error: ServeError::Failed { failure, .. },
            ..
        }) => failure,
        Err(other) => panic!("unexpected error {other}"),
        Ok(served) => panic!("the hostile call succeeded: {:?}", served.answer),
    };

    let started = Instant::now();
    let looped = failure(hostile.call(Operation::text("loop"), None).await);
    assert!(matches!(looped, CallFailure::Timeout(_)), "{looped}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the loop ran {:?}",
        started.elapsed()
    );

    let bomb = failure(hostile.call(Operation::text("bomb"), None).await);
    assert!(matches!(bomb, CallFailure::MemoryCap(_)), "{bomb}");
    assert!(bomb.to_string().contains("32.0 MiB"), "{bomb}");

    let trap = failure(hostile.call(Operation::text("trap"), None).await);
    assert!(matches!(trap, CallFailure::Trapped(_)), "{trap}");
    assert!(
        trap.to_string().contains("panics on purpose"),
        "the panic message is shown: {trap}"
    );

    let garbage = failure(
        hostile
            .call(
                Operation::Image(chute::provider::plugin::ImageRequest {
                    prompt: "a lighthouse".into(),
                    references: Vec::new(),
                    aspect_ratio: None,
                }),
                None,
            )
            .await,
    );
    assert!(matches!(garbage, CallFailure::Invalid(_)), "{garbage}");
    assert!(garbage.to_string().contains("not image/png"), "{garbage}");

    let unknown = failure(hostile.call(Operation::text("dance"), None).await);
    assert!(
        matches!(unknown, CallFailure::Provider(ProviderError::BadRequest(_))),
        "{unknown}"
    );

    // Between the hostile calls, and after them, a good plugin still answers.
    let served = echo
        .call(Operation::text("still here"), None)
        .await
        .expect("echo answers");
    assert_eq!(answer_text(served.answer), "echo: still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_sees_no_files_no_environment_and_no_sockets() {
    // The test process has PATH, HOME, CARGO_* …: none of it may show.
    assert!(std::env::vars().count() > 0);
    let spool = spool_with(&["hostile"]);
    std::fs::write(spool.path().join("plugins/escape.txt"), b"x").expect("bait");
    let providers = load(&spool, CONFIG).await;
    let hostile = providers.get("hostile").expect("hostile loaded");
    let served = hostile
        .call(Operation::text("snoop"), None)
        .await
        .expect("snoop answers");
    assert_eq!(
        answer_text(served.answer),
        "",
        "the plugin reached something"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_refuses_requests_off_the_allowlist_and_credential_headers() {
    let fake = chute_fakes::FakeGemini::start(&[]).await;
    let spool = spool_with(&["hostile"]);
    let named = format!(
        "{CONFIG}\n[providers.hostile]\nbase_url = \"{}\"\n",
        fake.url
    );
    let unnamed = CONFIG.to_string();
    for (config, url, expect) in [
        (
            &unnamed,
            "https://example.com/".to_string(),
            "not on this plugin's allowlist",
        ),
        (
            &unnamed,
            "http://169.254.169.254/latest/meta-data".to_string(),
            "not on this plugin's allowlist",
        ),
        // Declared (127.0.0.1) but not named by the operator: a private address.
        (
            &unnamed,
            "https://127.0.0.1:9/".to_string(),
            "private or local address",
        ),
        (&unnamed, "http://127.0.0.1:9/".to_string(), "https only"),
        (&named, "file:///etc/passwd".to_string(), "has no host"),
        (
            &named,
            format!("{}/v1beta/models?key=mine", fake.url),
            "status",
        ),
    ] {
        let providers = load(&spool, config).await;
        let hostile = providers.get("hostile").expect("hostile loaded");
        let served = hostile
            .call(Operation::text(&format!("fetch {url}")), None)
            .await
            .expect("the plugin answers");
        let said = answer_text(served.answer);
        assert!(said.contains(expect), "{url}: {said}");
    }
    let providers = load(&spool, &named).await;
    let hostile = providers.get("hostile").expect("hostile loaded");
    for header in [
        "Authorization",
        "Cookie",
        "Host",
        "x-goog-api-key",
        "X-Api-Key",
    ] {
        let served = hostile
            .call(Operation::text(&format!("steal-header {header}")), None)
            .await
            .expect("answers");
        let said = answer_text(served.answer);
        assert!(
            said.contains("Denied") && said.contains("may not set"),
            "{header}: {said}"
        );
    }
    // Only the one allowed fetch reached the fake.
    assert_eq!(fake.seen().len(), 1, "{:?}", fake.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_caps_response_size_and_waiting_time() {
    let fake = chute_fakes::FakeGemini::start(&[]).await;
    let spool = spool_with(&["hostile"]);
    let config = format!(
        "[plugins]\ncall_timeout = \"10s\"\nmax_request = \"1MiB\"\nmax_response = \"1MiB\"\nfirst_byte_timeout = \"1s\"\nidle_timeout = \"1s\"\nattempts = 1\n\n[providers.hostile]\nbase_url = \"{}\"\n",
        fake.url
    );
    let providers = load(&spool, &config).await;
    let hostile = providers.get("hostile").expect("hostile loaded");
    for (misdeed, path, expect) in [
        ("fetch", "/raw/big", "TooLarge"),
        ("fetch", "/raw/slow", "Timeout"),
        ("fetch", "/raw/stall", "Timeout"),
        ("upload", "/raw/upload", "TooLarge"),
    ] {
        let started = std::time::Instant::now();
        let served = hostile
            .call(
                Operation::text(&format!("{misdeed} {}{path}", fake.url)),
                None,
            )
            .await
            .expect("the plugin answers");
        let said = answer_text(served.answer);
        assert!(said.contains(expect), "{misdeed} {path}: {said}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    // The oversized upload never left the host.
    assert!(
        !fake.seen().iter().any(|seen| seen.path == "/raw/upload"),
        "{:?}",
        fake.seen()
    );
}

/// A plugin that logs in a loop cannot fill the journal: one call's lines stop at the
/// cap, one warning says so, and the call still answers.
#[test]
fn a_chatty_plugin_is_cut_off_after_its_log_budget() {
    let (text, logs) = capturing_logs(async {
        let spool = spool_with(&["echo", "hostile"]);
        let providers = load(&spool, CONFIG).await;
        let hostile = providers.get("hostile").expect("hostile loaded");
        let served = hostile
            .call(Operation::text("chatty"), None)
            .await
            .unwrap_or_else(|failed| panic!("{failed}"));
        answer_text(served.answer)
    });
    assert_eq!(text, "logged 5000 lines", "every log call returned");
    let kept = logs.lines().filter(|l| l.contains("chatty line ")).count();
    assert_eq!(kept, 200, "lines kept of the 5,000 logged");
    assert!(logs.contains("chatty line 199") && !logs.contains("chatty line 200"));
    assert_eq!(
        logs.matches("the rest of this call's lines are dropped")
            .count(),
        1,
        "{logs}"
    );
}

/// The operator alone decides where a key goes: the base_url origin gets it; another
/// port of the same host, though the plugin declares that host, is reached without it,
/// and its 401 does not disable the key; an origin named in `key_origins` gets it; and
/// a provider with keys but no base_url does not load, saying what to add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_goes_only_to_the_origins_the_operator_named() {
    const KEY: &str = "AIzaSyFAKE-hostile-key-origins-0000000";
    let api = chute_fakes::FakeGemini::start(&[(KEY, chute_fakes::KeyMode::Valid)]).await;
    let other = chute_fakes::FakeGarbage::start().await;
    other.answer(chute_fakes::Garbage {
        name: "a refusal",
        status: 401,
        content_type: "application/json",
        body: br#"{"error": {"code": 401, "status": "UNAUTHENTICATED"}}"#.to_vec(),
    });
    let spool = spool_with(&["echo", "hostile"]);
    let key = crate::harness::key_file(&spool, "hostile.key", KEY);
    let config = |extra: &str| {
        format!(
            "{CONFIG}\n[providers.hostile]\nbase_url = \"{}\"\nkeys = [\"{key}\"]\n{extra}",
            api.url
        )
    };
    let fetch = |url: String| Operation::text(&format!("fetch {url}"));

    let providers = load(&spool, &config("")).await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);
    let hostile = providers.get("hostile").expect("hostile loaded");
    hostile
        .call(fetch(format!("{}/v1beta/models", api.url)), None)
        .await
        .expect("the plugin answers");
    let to_api = api.seen().pop().expect("the API was reached");
    assert_eq!(to_api.header("x-goog-api-key"), Some(KEY));

    // Another port of the base_url host is another origin: not reachable at all...
    let refused = hostile
        .call(fetch(format!("{}/elsewhere", other.url)), None)
        .await
        .expect("the plugin answers");
    assert!(
        answer_text(refused.answer).contains("https only"),
        "another port of the base_url host was reachable"
    );
    assert!(other.seen().is_empty(), "the other port was reached");
    // ...until the operator lists it, and then it is reached without the key.
    let listed = config(&format!("allow_hosts = [\"{}\"]\n", other.url));
    let providers = load(&spool, &listed).await;
    let hostile = providers.get("hostile").expect("hostile loaded");
    // (Another path: the result cache would answer the same request again.)
    let reached = hostile
        .call(fetch(format!("{}/listed", other.url)), None)
        .await
        .expect("the plugin answers");
    let to_other = other.seen();
    assert!(
        to_other.len() == 1,
        "the listed origin was not reached: {}",
        answer_text(reached.answer)
    );
    assert!(
        !format!("{:?}", to_other[0].headers).contains(KEY) && !to_other[0].query.contains(KEY),
        "the key went to another port of the base_url host: {:?}",
        to_other[0].headers
    );
    let keys = hostile.keys.report();
    assert!(
        keys.iter().all(|key| key.state == "ok"),
        "a 401 from a host that never saw the key disabled it: {keys:?}"
    );

    let named = config(&format!("key_origins = [\"{}\"]\n", other.url));
    let providers = load(&spool, &named).await;
    let hostile = providers.get("hostile").expect("hostile loaded");
    hostile
        .call(fetch(format!("{}/upload", other.url)), None)
        .await
        .expect("the plugin answers");
    assert_eq!(
        other
            .seen()
            .pop()
            .and_then(|seen| seen.header("x-goog-api-key").map(str::to_owned)),
        Some(KEY.to_owned())
    );

    let nowhere = format!("{CONFIG}\n[providers.hostile]\nkeys = [\"{key}\"]\n");
    let providers = load(&spool, &nowhere).await;
    assert!(
        providers.get("hostile").is_none(),
        "it loaded without base_url"
    );
    let (_, why) = providers
        .problems
        .iter()
        .find(|(name, _)| name == "hostile")
        .expect("a problem for hostile");
    assert!(
        why.contains("no base_url") && why.contains("base_url = \"https://127.0.0.1\""),
        "{why}"
    );
}

/// What a plugin says never forges a log line or reaches a record unbounded: its log
/// lines and its error message arrive as one line, without control or direction
/// characters, cut to a bound.
#[test]
fn a_plugin_cannot_forge_log_lines_or_flood_records() {
    let spool = spool_with(&["echo", "hostile"]);
    let (failure, logs) = capturing_logs(async {
        let providers = load(&spool, CONFIG).await;
        let hostile = providers.get("hostile").expect("hostile loaded");
        match hostile.call(Operation::text("forge"), None).await {
            Err(CallError {
                error: ServeError::Failed { failure, .. },
                ..
            }) => failure,
            Err(other) => panic!("unexpected error {other}"),
            Ok(served) => panic!("the forge succeeded: {:?}", served.answer),
        }
    });
    let CallFailure::Provider(ProviderError::Unavailable(why)) = &failure else {
        panic!("{failure:?}")
    };
    assert!(why.starts_with("upstream said no 2026-11-26"), "{why:.80}");
    assert!(
        !why.chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{why:.120?}"
    );
    assert!(
        why.chars().count() <= 501,
        "{} characters kept",
        why.chars().count()
    );
    assert!(
        !logs
            .lines()
            .any(|line| line.starts_with("2026-11-26T00:00:00")),
        "the plugin forged a log line:\n{logs}"
    );
    assert!(
        logs.contains("FORGED by the plugin"),
        "its line was not logged at all"
    );
    assert!(
        !logs.contains("\u{1b}[2J"),
        "the plugin's escape sequence reached the log"
    );
}
