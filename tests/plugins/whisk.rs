//! The shipped `whisk` plugin through the real host against the fake Whisk: the
//! operator's cookie goes only to labs.google (session and tRPC) and the minted bearer
//! only to the aisandbox API; references are captioned, uploaded and used in a
//! recipe; every failure, a refresh-needed cookie and a retired service included, is
//! a mapped provider error; and a chain with whisk first falls through to gemini.

use std::time::Duration;

use chute::provider::Providers;
use chute::provider::bindings::{Image, ImageRequest};
use chute::provider::plugin::{Answer, Operation};
use chute::provider::registry::Provider;
use chute_fakes::{Call, FakeGemini, FakeWhisk, Fault, KeyMode, Retired};
use tempfile::TempDir;

use crate::harness::{built_plugin, call_once, key_file, load, mapped_failure, repo, spool_with};

/// A cookie string as the key file holds it: the pairs joined by `;` without spaces
/// (the host refuses keys with spaces), or the session-token pair alone.
const COOKIE: &str = "__Secure-next-auth.session-token=fake-whisk-cookie-0;_ga=GA1.1.1";
const GEMINI_KEY: &str = "AIzaSyFAKE-whisk-chain-0000000000000000";

/// A spool holding whisk.wasm with its shipped manifest (and `more` plugins), and
/// `config` as its chute.toml.
async fn spool(more: &[&str], config: impl FnOnce(&TempDir) -> String) -> (TempDir, Providers) {
    let spool = spool_with(more);
    let dir = spool.path().join("plugins");
    std::fs::copy(built_plugin("whisk"), dir.join("whisk.wasm")).unwrap();
    std::fs::copy(
        repo().join("plugins/whisk/whisk.toml"),
        dir.join("whisk.toml"),
    )
    .unwrap();
    let text = config(&spool);
    let providers = load(&spool, &text).await;
    (spool, providers)
}

/// The `[providers.whisk]` table for `fake` with `cookies`, enabled.
fn table(spool: &TempDir, fake: &FakeWhisk, cookies: &[&str]) -> String {
    let keys: Vec<String> = cookies
        .iter()
        .enumerate()
        .map(|(n, cookie)| {
            format!(
                "\"{}\"",
                key_file(spool, &format!("whisk{n}.cookie"), cookie)
            )
        })
        .collect();
    format!(
        "[providers.whisk]\nenabled = true\nbase_url = \"{}\"\napi_base_url = \"{}\"\nkeys = [{}]\nrequests_per_minute = 60000\n{}",
        fake.url,
        fake.api_url,
        keys.join(", "),
        fake.allow_hosts()
    )
}

/// Whisk alone, enabled, calls of up to 30 s (`plugins`: more `[plugins]` lines).
async fn whisk(fake: &FakeWhisk, cookies: &[&str], plugins: &str) -> (TempDir, Providers) {
    let (spool, providers) = spool(&[], |spool| {
        format!(
            "[plugins]\ncall_timeout = \"30s\"\nattempts = 1\n{plugins}\n{}",
            table(spool, fake, cookies)
        )
    })
    .await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);
    (spool, providers)
}

fn provider(providers: &Providers) -> &Provider {
    providers.get("whisk").expect("whisk loaded")
}

fn image(prompt: &str, references: Vec<Image>) -> Operation {
    Operation::Image(ImageRequest {
        prompt: prompt.into(),
        references,
        aspect_ratio: Some("9:16".into()),
    })
}

/// The decoded size of a PNG answer.
fn png_size(answer: Answer) -> (u32, u32) {
    let Answer::Image(picture) = answer else {
        panic!("an image")
    };
    assert_eq!(picture.mime_type, "image/png");
    let decoded = chute_pixels::image::load_from_memory(&picture.data).unwrap();
    (decoded.width(), decoded.height())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_goes_to_labs_and_the_minted_bearer_to_the_api_only() {
    let fake = FakeWhisk::start(&[(COOKIE, KeyMode::Valid)]).await;
    let (_spool, providers) = whisk(&fake, &[COOKIE], "").await;
    let whisk = provider(&providers);
    assert!(!format!("{:?}", whisk.settings).contains("fake-whisk-cookie"));

    let answer = call_once(whisk, image("a lighthouse at dusk", Vec::new()))
        .await
        .unwrap();
    assert_eq!(png_size(answer), (768, 1344), "9:16 is Whisk's portrait");
    let seen = fake.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/fx/api/auth/session",
            "/fx/api/trpc/media.createOrUpdateWorkflow",
            "/v1/whisk:generateImage"
        ]
    );
    for request in &seen[..2] {
        assert_eq!(request.origin, "whisk-labs");
        assert_eq!(request.header("cookie"), Some(COOKIE));
        assert_eq!(request.header("authorization"), None);
    }
    let api = &seen[2];
    assert_eq!((api.origin, api.status), ("whisk-api", 200));
    assert_eq!(
        api.header("cookie"),
        None,
        "the cookie went to the API host"
    );
    let bearer = api.header("authorization").unwrap();
    assert!(bearer.starts_with("Bearer ya29.a0Fake"), "{bearer}");
    assert!(!bearer.contains("fake-whisk-cookie"));
    let body = api.json();
    assert_eq!(body["prompt"], "a lighthouse at dusk");
    assert_eq!(body["imageModelSettings"]["imageModel"], "IMAGEN_3_5");
    assert_eq!(
        body["imageModelSettings"]["aspectRatio"],
        "IMAGE_ASPECT_RATIO_PORTRAIT"
    );
    assert_eq!(seen[1].status, 200);

    // With a product photo: captioned, uploaded as a subject, used in a recipe.
    fake.recorder().clear();
    let product = Image {
        mime_type: "image/png".into(),
        data: chute_fakes::media::png(48, 64, "product"),
    };
    let answer = call_once(
        whisk,
        image("the product on a beach", vec![product.clone()]),
    )
    .await
    .unwrap();
    assert_eq!(png_size(answer), (768, 1344));
    let seen = fake.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/fx/api/auth/session",
            "/fx/api/trpc/media.createOrUpdateWorkflow",
            "/fx/api/trpc/backbone.captionImage",
            "/fx/api/trpc/backbone.uploadImage",
            "/v1/whisk:runImageRecipe"
        ]
    );
    assert!(seen.iter().all(|s| s.status == 200));
    assert!(seen[..4].iter().all(|s| s.header("cookie") == Some(COOKIE)));
    assert_eq!(seen[4].header("cookie"), None);
    let uploads = fake.uploads();
    let (id, upload) = uploads.iter().next().unwrap();
    assert_eq!(upload.image, product.data, "the reference arrived intact");
    assert_eq!(upload.category, "MEDIA_CATEGORY_SUBJECT");
    assert!(
        upload.caption.contains("48x64"),
        "Whisk's own caption: {}",
        upload.caption
    );
    let recipe = seen[4].json();
    assert_eq!(recipe["userInstruction"], "the product on a beach");
    assert_eq!(recipe["imageModelSettings"]["imageModel"], "GEM_PIX");
    assert_eq!(
        recipe["recipeMediaInputs"][0]["mediaInput"]["mediaGenerationId"],
        id.as_str()
    );
    assert_eq!(
        recipe["recipeMediaInputs"][0]["caption"],
        upload.caption.as_str()
    );
    assert_eq!(fake.images_made(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_is_a_mapped_provider_error() {
    // Refusals disable a cookie and rate limits rest it: one cookie per row.
    let cookies: Vec<String> = (0..24)
        .map(|n| format!("session-token=row-{n:02}"))
        .collect();
    let cookies: Vec<&str> = cookies.iter().map(String::as_str).collect();
    let known: Vec<(&str, KeyMode)> = cookies.iter().map(|c| (*c, KeyMode::Valid)).collect();
    let fake = FakeWhisk::start(&known).await;
    let (_spool, providers) = whisk(&fake, &cookies, "first_byte_timeout = \"2s\"").await;
    let whisk = provider(&providers);
    let table: Vec<(Call, Fault, &str, &str)> = vec![
        (
            Call::Session,
            Fault::Unauthorized,
            "unauthorized",
            "fresh labs.google cookie",
        ),
        (Call::Session, Fault::Unavailable, "unavailable", "HTTP 503"),
        (Call::Session, Fault::Malformed, "unavailable", "not JSON"),
        (
            Call::Upload,
            Fault::RateLimited(Duration::from_secs(3)),
            "rate-limited",
            "3000",
        ),
        (Call::Upload, Fault::Forbidden, "unauthorized", "HTTP 403"),
        (Call::Upload, Fault::Malformed, "unavailable", "not JSON"),
        (Call::Upload, Fault::Internal, "unavailable", "HTTP 500"),
        (Call::Image, Fault::Unauthorized, "unauthorized", "HTTP 401"),
        (Call::Image, Fault::Forbidden, "unauthorized", "HTTP 403"),
        (Call::Image, Fault::BareRateLimit, "rate-limited", "60000"),
        (
            Call::Image,
            Fault::RateLimited(Duration::from_secs(7)),
            "rate-limited",
            "7000",
        ),
        (
            Call::Image,
            Fault::QuotaExhausted,
            "quota-exhausted",
            "PUBLIC_ERROR_USER_QUOTA_REACHED",
        ),
        (Call::Image, Fault::Internal, "unavailable", "HTTP 500"),
        (Call::Image, Fault::Unavailable, "unavailable", "HTTP 503"),
        (
            Call::Image,
            Fault::ModelGone,
            "unavailable",
            "shut down on 2026-04-30",
        ),
        (
            Call::Image,
            Fault::Blocked,
            "content-blocked",
            "PUBLIC_ERROR_UNSAFE_GENERATION",
        ),
        (
            Call::Image,
            Fault::Truncated,
            "unavailable",
            "without an image",
        ),
        (Call::Image, Fault::Malformed, "unavailable", "not JSON"),
        (
            Call::Image,
            Fault::Slow(Duration::from_secs(4)),
            "unavailable",
            "timed out",
        ),
    ];
    for (row, (call, fault, kind, says)) in table.into_iter().enumerate() {
        fake.faults().script_for(call, [fault.clone()]);
        let (got, why) = mapped_failure(whisk, image("a cup", Vec::new())).await;
        assert_eq!(got, kind, "{fault:?}: {why}");
        assert!(why.contains(says), "{fault:?}: {why}");
        assert_eq!(
            fake.faults().injected(),
            row + 1,
            "{fault:?} was never reached"
        );
    }

    // The session's own verdicts: a token already expired, a cookie to refresh.
    fake.token_lifetime(Duration::ZERO);
    let (got, why) = mapped_failure(whisk, image("a cup", Vec::new())).await;
    assert_eq!(
        (got, why.contains("expired")),
        ("unauthorized", true),
        "{why}"
    );
    fake.token_lifetime(Duration::from_secs(3600));
    fake.refresh_needed();
    let (got, why) = mapped_failure(whisk, image("a cup", Vec::new())).await;
    assert_eq!(got, "unauthorized", "{why}");
    assert!(
        why.contains("ACCESS_TOKEN_REFRESH_NEEDED") && why.contains("export a fresh"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_whisk_is_unavailable_however_it_answers() {
    let fake = FakeWhisk::start(&[(COOKIE, KeyMode::Valid)]).await;
    let (_spool, providers) = whisk(&fake, &[COOKIE], "").await;
    let whisk = provider(&providers);
    for how in [Retired::NotFound, Retired::Gone, Retired::LandingPage] {
        fake.shut_down(how);
        let (got, why) = mapped_failure(whisk, image("a cup", Vec::new())).await;
        assert_eq!(got, "unavailable", "{how:?}: {why}");
        assert!(why.contains("shut down on 2026-04-30"), "{how:?}: {why}");
    }
    assert_eq!(fake.images_made(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_moves_on_from_whisk_to_gemini_when_whisk_is_gone_or_disabled() {
    let whisk_fake = FakeWhisk::start(&[(COOKIE, KeyMode::Valid)]).await;
    let gemini_fake = FakeGemini::start(&[(GEMINI_KEY, KeyMode::Valid)]).await;
    let gemini_table = |spool: &TempDir| {
        format!(
            "[providers.gemini]\nbase_url = \"{}\"\nkeys = [\"{}\"]\nrequests_per_minute = 60000\n",
            gemini_fake.url,
            key_file(spool, "gemini.key", GEMINI_KEY)
        )
    };
    let chain = ["whisk".to_string(), "gemini".to_string()];
    let (_spool, providers) = spool(&["gemini"], |spool| {
        format!(
            "[plugins]\ncall_timeout = \"30s\"\nattempts = 2\n{}\n{}",
            table(spool, &whisk_fake, &[COOKIE]),
            gemini_table(spool)
        )
    })
    .await;
    assert!(providers.problems.is_empty(), "{:?}", providers.problems);

    let served = providers
        .call_chain(&chain, image("a teapot", Vec::new()), None)
        .await
        .unwrap();
    assert_eq!(served.record.provider, "whisk");
    assert_eq!(png_size(served.answer), (768, 1344));

    whisk_fake.shut_down(Retired::NotFound);
    let served = providers
        .call_chain(&chain, image("a kettle", Vec::new()), None)
        .await
        .unwrap();
    assert_eq!(served.record.provider, "gemini");
    assert_eq!(png_size(served.answer), (768, 1344), "gemini's 9:16");
    let skipped = served.record.fell_through.join("; ");
    assert!(
        skipped.starts_with("whisk:") && skipped.contains("shut down"),
        "{skipped}"
    );
    assert_eq!(whisk_fake.images_made(), 1);

    // Shipped disabled and not enabled: whisk is not loaded, gemini serves.
    let (_spool, providers) = spool(&["gemini"], |spool| {
        let enabled = table(spool, &whisk_fake, &[COOKIE]).replace("enabled = true\n", "");
        format!(
            "[plugins]\nattempts = 1\n{enabled}\n{}",
            gemini_table(spool)
        )
    })
    .await;
    assert!(providers.get("whisk").is_none());
    let (_, why) = &providers.disabled["whisk"];
    assert!(why.contains("unofficial Google Labs API"), "{why}");
    let served = providers
        .call_chain(&chain, image("a mug", Vec::new()), None)
        .await
        .unwrap();
    assert_eq!(served.record.provider, "gemini");
    assert_eq!(served.record.fell_through, ["whisk: not loaded"]);
}
