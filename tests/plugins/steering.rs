//! A hostile plugin given a key cannot steer it or read it back: a scheme that puts it
//! in a standard header or an unknown place does not load unless the operator pins it,
//! a response that echoes the key reaches the plugin scrubbed in every encoding, a
//! request loop is cut off, and a call cannot make the host allocate without bound.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chute::provider::{Answer, Operation};

use crate::harness::{key_file, load, spool_with};

/// A key with characters that change under percent-encoding.
const KEY: &str = "AIzaSyFAKE/steer+key=0123456789abcdefXYZ";

const CONFIG: &str = r#"
[plugins]
call_timeout = "10s"
memory = "32MiB"
attempts = 1
"#;

/// What the hostile plugin answered to `fetch url`.
async fn fetch(providers: &chute::provider::Providers, url: String) -> String {
    let served = providers
        .get("hostile")
        .expect("loaded")
        .call(Operation::text(&format!("fetch {url}")), None)
        .await
        .expect("the plugin answers");
    text(served.answer)
}

fn text(answer: Answer) -> String {
    match answer {
        Answer::Text(result) => result.text,
        other => panic!("expected text, got {other:?}"),
    }
}

/// The ways the key could come back: raw, percent-encoded (both cases), and base64
/// (standard and URL-safe) at each alignment inside a longer text.
fn key_forms() -> Vec<String> {
    let percent: String = form_urlencoded::byte_serialize(KEY.as_bytes()).collect();
    let mut forms = vec![KEY.to_owned(), percent.clone(), percent.to_lowercase()];
    for prefix in ["", "a", "ab"] {
        for encoded in [
            STANDARD.encode(format!("{prefix}{KEY}")),
            URL_SAFE_NO_PAD.encode(format!("{prefix}{KEY}")),
        ] {
            // The middle of the encoding depends only on the key's bytes.
            forms.push(encoded[4..encoded.len() - 4].to_owned());
        }
    }
    forms
}

fn assert_no_key(said: &str) {
    for form in key_forms() {
        assert!(
            !said.contains(&form),
            "the key came back as {form:?}: {said}"
        );
    }
}

/// Loads `hostile` with the key, `hostile_auth` as its declared scheme and `extra`
/// lines in its table; the load problem when it does not load.
async fn hostile(
    spool: &tempfile::TempDir,
    base_url: &str,
    declared: Option<&str>,
    extra: &str,
) -> Result<chute::provider::Providers, String> {
    let key = key_file(spool, "steer.key", KEY);
    let declared = declared.map_or_else(String::new, |auth| format!("hostile_auth = \"{auth}\"\n"));
    let config = format!(
        "{CONFIG}\n[providers.hostile]\nbase_url = \"{base_url}\"\nkeys = [\"{key}\"]\n{declared}{extra}"
    );
    // A pin the config loader refuses is the answer too.
    chute::config::Config::parse(&config, std::path::Path::new("test.toml"))
        .map_err(|error| error.to_string())?;
    let providers = load(spool, &config).await;
    if providers.get("hostile").is_some() {
        Ok(providers)
    } else {
        Err(format!("{:?}", providers.problems))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_goes_only_in_a_known_or_pinned_scheme_and_never_in_a_standard_header() {
    let api = chute_fakes::FakeGemini::start(&[]).await;
    let spool = spool_with(&["hostile"]);
    for standard in [
        "header:Host",
        "header:Content-Length",
        "header:X-Forwarded-For",
    ] {
        let refused = hostile(&spool, &api.url, Some(standard), "").await;
        let why = refused.err().unwrap_or_else(|| panic!("{standard} loaded"));
        assert!(why.contains("standard header"), "{standard}: {why}");
        // Not even the operator can pin it.
        let pinned = hostile(&spool, &api.url, None, &format!("auth = \"{standard}\"\n")).await;
        let why = pinned
            .err()
            .unwrap_or_else(|| panic!("a pin of {standard} loaded"));
        assert!(why.contains("standard header"), "{standard}: {why}");
    }
    let unknown = hostile(&spool, &api.url, Some("header:x-collect"), "").await;
    let why = unknown
        .err()
        .expect("an unknown scheme does not load by itself");
    assert!(why.contains("auth = \\\"header:x-collect\\\""), "{why}");
    let pinned = hostile(
        &spool,
        &api.url,
        Some("header:x-collect"),
        "auth = \"header:x-collect\"\n",
    )
    .await
    .expect("the operator's pin allows it");
    let said = fetch(&pinned, format!("{}/raw/upload", api.url)).await;
    assert!(said.starts_with("status 200"), "{said}");
    let seen = api.seen().pop().expect("the fake was reached");
    assert_eq!(
        seen.header("x-collect"),
        Some(KEY),
        "the pinned header carries the key"
    );
    // The operator's pin overrides what the plugin declares.
    let overridden = hostile(
        &spool,
        &api.url,
        Some("query:key"),
        "auth = \"header:x-goog-api-key\"\n",
    )
    .await
    .expect("loads");
    fetch(&overridden, format!("{}/raw/upload", api.url)).await;
    let seen = api.seen().pop().expect("the fake was reached");
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert!(!seen.query.contains("key="), "{}", seen.query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_that_echoes_the_key_reaches_the_plugin_scrubbed() {
    let api = chute_fakes::FakeGemini::start(&[]).await;
    let spool = spool_with(&["hostile"]);
    for declared in [None, Some("query:key"), Some("bearer")] {
        let providers = hostile(&spool, &api.url, declared, "")
            .await
            .expect("loads");
        let said = fetch(&providers, format!("{}/raw/echo", api.url)).await;
        assert!(said.starts_with("status 200"), "{said}");
        // The fake did see the key, and reflected it every way it could...
        let seen = api.seen().pop().expect("the fake was reached");
        assert!(
            format!("{:?} {}", seen.headers, seen.query).contains("steer"),
            "{declared:?}: the key was not sent"
        );
        // ...but none of it reached the plugin.
        assert_no_key(&said);
        assert!(said.contains("[redacted]"), "{declared:?}: {said}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_loop_is_cut_off_and_random_bytes_are_bounded() {
    let api = chute_fakes::FakeGemini::start(&[]).await;
    let spool = spool_with(&["hostile"]);
    let providers = hostile(&spool, &api.url, None, "").await.expect("loads");
    let plugin = providers.get("hostile").expect("loaded");
    let served = plugin
        .call(
            Operation::text(&format!("flood {}/raw/upload", api.url)),
            None,
        )
        .await
        .expect("the plugin answers");
    assert_eq!(text(served.answer), "sent 64, refused 36");
    assert_eq!(api.seen().len(), 64, "requests that left the host");

    let small = plugin
        .call(Operation::text("random 32"), None)
        .await
        .expect("a small random read works");
    assert_eq!(text(small.answer), "got 32 random bytes");
    let huge = plugin.call(Operation::text("random 16777216"), None).await;
    assert!(huge.is_err(), "16 MiB of random bytes were handed out");
}
