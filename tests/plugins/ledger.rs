//! What a call costs and who serves it: the result cache answers a repeated request
//! without paying twice, budget caps refuse paid calls before they are sent, and a
//! fallback chain moves on from a provider whose keys are refused.

use chute::provider::{Operation, ServeError};

use crate::harness::{key_file, load, spool_with};
use chute_fakes::{FakeGemini, KeyMode};

const GOOD: &str = "AIzaSyFAKE-ledger-good-4444444444444";
const REFUSED: &str = "AQ.FAKE-ledger-refused-55555555555555";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_request_is_served_from_the_cache_and_budgets_stop_paid_calls() {
    let fake = FakeGemini::start(&[(GOOD, KeyMode::Valid)]).await;
    let spool = spool_with(&["gemini-lite"]);
    let key = key_file(&spool, "good.key", GOOD);
    let config = format!(
        "[budget]\nper_job = 1.0\n\n[providers.gemini-lite]\nbase_url = \"{}\"\nkeys = [\"{key}\"]\nprices = {{ \"generate-text\" = 0.4 }}\n",
        fake.url
    );
    let providers = load(&spool, &config).await;
    let provider = providers.get("gemini-lite").unwrap();

    let first = provider
        .call(Operation::text("same question"), Some("job-a"))
        .await
        .unwrap();
    let again = provider
        .call(Operation::text("same question"), Some("job-a"))
        .await
        .unwrap();
    assert!(!first.record.cached && again.record.cached);
    assert_eq!((first.record.cost, again.record.cost), (0.4, 0.0));
    assert_eq!(
        fake.seen_ending(":generateContent").len(),
        1,
        "the cached answer was paid twice"
    );
    assert_eq!(format!("{:?}", first.answer), format!("{:?}", again.answer));

    provider
        .call(Operation::text("second question"), Some("job-a"))
        .await
        .unwrap();
    let refused = provider
        .call(Operation::text("third question"), Some("job-a"))
        .await
        .unwrap_err()
        .error;
    assert!(matches!(refused, ServeError::Budget(_)), "{refused}");
    assert!(
        refused.to_string().contains("job's budget of 1.00 USD"),
        "{refused}"
    );
    assert_eq!(
        fake.seen_ending(":generateContent").len(),
        2,
        "a refused call was sent"
    );
    // Another job has its own budget.
    provider
        .call(Operation::text("third question"), Some("job-b"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_falls_through_a_provider_whose_keys_are_refused() {
    let fake =
        FakeGemini::start(&[(GOOD, KeyMode::Valid), (REFUSED, KeyMode::Unauthenticated)]).await;
    let spool = spool_with(&["gemini-lite"]);
    let refused = key_file(&spool, "refused.key", REFUSED);
    let good = key_file(&spool, "good.key", GOOD);
    let config = format!(
        "[providers.primary]\nplugin = \"gemini-lite\"\nbase_url = \"{url}\"\nkeys = [\"{refused}\"]\n\n\
         [providers.backup]\nplugin = \"gemini-lite\"\nbase_url = \"{url}\"\nkeys = [\"{good}\"]\n",
        url = fake.url
    );
    let providers = load(&spool, &config).await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);
    let chain = [
        "missing".to_string(),
        "primary".to_string(),
        "backup".to_string(),
    ];
    let served = providers
        .call_chain(&chain, Operation::text("who answers?"), Some("job-c"))
        .await
        .unwrap();
    assert_eq!(served.record.provider, "backup");
    assert_eq!(
        served.record.fell_through.len(),
        2,
        "{:?}",
        served.record.fell_through
    );
    assert!(served.record.fell_through[0].starts_with("missing: not loaded"));
    assert!(
        served.record.fell_through[1].starts_with("primary:"),
        "{:?}",
        served.record.fell_through
    );
    // The refused key was tried once, then disabled: a second call skips primary at once.
    let again = providers
        .call_chain(&chain, Operation::text("and again?"), Some("job-c"))
        .await
        .unwrap();
    assert_eq!(again.record.provider, "backup");
    let refused_calls = fake
        .seen()
        .iter()
        .filter(|seen| seen.key.as_deref() == Some(REFUSED))
        .count();
    assert_eq!(refused_calls, 1);
}
