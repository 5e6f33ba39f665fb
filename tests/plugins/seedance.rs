//! The shipped `seedance` plugin through the real host against the fake Ark API: the
//! submit in Ark's shape (text and data-URL first frame items, ratio, duration and the
//! settings as JSON fields, the key only in `Authorization`), polls until the task is
//! done, the pre-signed video downloaded by the host without the key, and every way a
//! task or an HTTP answer ends mapped to the error the host acts on.

use std::time::Duration;

use chute::provider::bindings::{Image, Media, Progress, VideoRequest};
use chute::provider::http::DownloadError;
use chute::provider::keys::Pick;
use chute::provider::plugin::{Answer, CallFailure, Operation};
use chute::provider::{Provider, Providers};
use chute_fakes::seedance::OUTPUT_MODERATION;
use chute_fakes::{Call, FakeSeedance, Fault, KeyMode, TaskOutcome};
use tempfile::TempDir;

use crate::harness::{call_once, mapped_failure, one_provider};

const KEY: &str = "ark-fake-seedance-plugin-0123456789abcdef";

async fn seedance(fake: &FakeSeedance, keys: &[&str], extra: &str) -> (TempDir, Providers) {
    let settings = format!(
        "model = \"seedance-1-0-pro-fast-251015\"\npoll_ms = \"250\"\n{}{extra}",
        fake.allow_hosts()
    );
    one_provider("seedance", &fake.url, keys, &settings).await
}

fn provider(providers: &Providers) -> &Provider {
    providers.get("seedance").expect("seedance loaded")
}

fn submit(seconds: u32, aspect: &str) -> Operation {
    Operation::SubmitVideo(VideoRequest {
        prompt: "Slow dolly-in on a coffee cup".into(),
        first_frame: Some(Image {
            mime_type: "image/png".into(),
            data: chute_fakes::media::png(360, 640, "first"),
        }),
        duration_seconds: Some(seconds),
        aspect_ratio: Some(aspect.into()),
        idempotency_key: "job:clips:1".into(),
    })
}

async fn progress(provider: &Provider, operation: Operation) -> Result<Progress, CallFailure> {
    match call_once(provider, operation).await? {
        Answer::Progress(progress) => Ok(progress),
        other => panic!("not progress: {other:?}"),
    }
}

fn pending_state(progress: Progress) -> String {
    match progress {
        Progress::Pending(pending) => {
            assert_eq!(pending.poll_after_ms, 250);
            pending.state
        }
        Progress::Done(_) => panic!("done at once"),
    }
}

/// Polls `state` until done; the download URL and how many polls it took.
async fn until_done(provider: &Provider, state: &str) -> (String, u32) {
    let mut polls = 0;
    loop {
        polls += 1;
        match progress(provider, Operation::PollVideo(state.into()))
            .await
            .unwrap()
        {
            Progress::Pending(again) => assert_eq!(again.state, state),
            Progress::Done(Media::Download(download)) => {
                assert_eq!(download.mime_type, "video/mp4");
                return (download.url, polls);
            }
            Progress::Done(other) => panic!("a video comes as a download, not {other:?}"),
        }
        assert!(polls < 10, "never done");
    }
}

/// The host's own download of `url` (as the operation driver does it, with the key
/// that submitted): the file's bytes, or why not.
async fn download(provider: &Provider, url: &str) -> Result<Vec<u8>, DownloadError> {
    let Pick::Ready(lease) = provider.keys.pick() else {
        panic!("no key ready")
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.download");
    provider.http.download(url, Some(&lease), &path).await?;
    Ok(std::fs::read(&path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_goes_out_in_arks_shape_and_comes_back_as_a_real_mp4_without_the_key() {
    let fake = FakeSeedance::start(&[(KEY, KeyMode::Valid)]).await;
    fake.polls_until_done(3);
    fake.shrink_clips(4);
    let (_spool, providers) = seedance(&fake, &[KEY], "seed = \"42\"\n").await;
    let sd = provider(&providers);
    let state = pending_state(progress(sd, submit(5, "9:16")).await.unwrap());
    assert_eq!(vec![state.clone()], fake.task_ids());
    let sent = &fake.seen()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/api/v3/contents/generations/tasks")
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(!sent.query.contains(KEY) && !String::from_utf8_lossy(&sent.body).contains(KEY));
    let body = sent.json();
    assert_eq!(body["model"], "seedance-1-0-pro-fast-251015");
    assert_eq!(
        body["content"][0],
        serde_json::json!({"type": "text", "text": "Slow dolly-in on a coffee cup"})
    );
    assert_eq!(body["content"][1]["type"], "image_url");
    assert_eq!(body["content"][1]["role"], "first_frame");
    assert!(
        body["content"][1]["image_url"]["url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR")
    );
    assert_eq!(body["content"].as_array().unwrap().len(), 2);
    assert_eq!(
        (body["ratio"].as_str(), body["duration"].as_u64()),
        (Some("9:16"), Some(5))
    );
    assert_eq!(
        (
            body["resolution"].as_str(),
            body["watermark"].as_bool(),
            body["seed"].as_i64()
        ),
        (Some("720p"), Some(false), Some(42))
    );

    let (url, polls) = until_done(sd, &state).await;
    assert_eq!(polls, 3);
    assert!(
        url.starts_with(&format!("{}/ark-content-generation-", fake.storage_url)),
        "{url}"
    );
    assert!(url.contains("X-Tos-Signature="), "{url}");
    for seen in fake.seen().iter().filter(|seen| seen.origin == "seedance") {
        assert_eq!(
            seen.key.as_deref(),
            Some(KEY),
            "{} {}",
            seen.method,
            seen.path
        );
        assert!(seen.path.starts_with("/api/v3/contents/generations/tasks"));
    }
    // The host downloads the signed link at once, and the key stays home.
    let bytes = download(sd, &url).await.unwrap();
    chute_fakes::media::check_magic(&bytes, "mp4").unwrap();
    assert!(bytes.len() > 1000, "{} bytes", bytes.len());
    let storage = fake.storage_seen();
    assert_eq!(storage.len(), 1);
    assert_eq!(
        (storage[0].status, storage[0].header("authorization")),
        (200, None)
    );
    // Nothing the plugin saw or returned holds the key.
    let seen_by_plugin: String = fake
        .seen()
        .iter()
        .map(|seen| format!("{:?}", seen.body))
        .collect();
    assert!(!format!("{:?}{state}{url}{seen_by_plugin}", sd.settings).contains(KEY));

    // Out-of-range asks snap to what the model makes: 30 s → 12 s on 1.0, 2:1 → 16:9.
    progress(sd, submit(30, "2:1")).await.unwrap();
    let body = fake
        .seen()
        .iter()
        .rev()
        .find(|seen| seen.method == "POST")
        .unwrap()
        .json();
    assert_eq!(
        (body["ratio"].as_str(), body["duration"].as_u64()),
        (Some("16:9"), Some(12))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_end_badly_are_mapped() {
    let fake = FakeSeedance::start(&[(KEY, KeyMode::Valid)]).await;
    fake.polls_until_done(1);
    let (_spool, providers) = seedance(&fake, &[KEY], "").await;
    let sd = provider(&providers);
    let table = [
        (
            TaskOutcome::Failed(OUTPUT_MODERATION),
            "content-blocked",
            "copyright",
        ),
        (
            TaskOutcome::Failed("OutputAudioSensitiveContentDetected.PolicyViolation"),
            "content-blocked",
            "OutputAudio",
        ),
        (
            TaskOutcome::Failed("InternalServiceError"),
            "unavailable",
            "InternalServiceError",
        ),
        (
            TaskOutcome::Failed("QuotaExceeded"),
            "quota-exhausted",
            "QuotaExceeded",
        ),
        (
            TaskOutcome::Failed("ModelAccountRpmRateLimitExceeded"),
            "rate-limited",
            "",
        ),
        (
            TaskOutcome::Failed("AuthenticationError"),
            "unauthorized",
            "AuthenticationError",
        ),
        (
            TaskOutcome::Failed("InvalidParameter"),
            "bad-request",
            "InvalidParameter",
        ),
        (TaskOutcome::Expired, "unavailable", "expired"),
        (TaskOutcome::Cancelled, "other", "cancelled"),
    ];
    for (outcome, want, word) in table {
        fake.task_outcomes([outcome]);
        let state = pending_state(progress(sd, submit(5, "9:16")).await.unwrap());
        let (got, message) = mapped_failure(sd, Operation::PollVideo(state)).await;
        assert_eq!(got, want, "{outcome:?} became {got}: {message}");
        assert!(
            message.contains(word),
            "{outcome:?}: {message:?} lacks {word:?}"
        );
    }
    // A state that is not a task id never becomes a request.
    let before = fake.seen().len();
    let (got, _) = mapped_failure(sd, Operation::PollVideo("../../files/x".into())).await;
    assert_eq!(got, "bad-request");
    assert_eq!(fake.seen().len(), before);
    // An unknown task id is the API's 404.
    let (got, message) =
        mapped_failure(sd, Operation::PollVideo("cgt-20260101000000-zzzzz".into())).await;
    assert_eq!(got, "bad-request");
    assert!(message.contains("ResourceNotFound"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_error_maps_to_the_error_the_host_acts_on() {
    // Rate limits rest a key and refusals disable it: one key per row.
    let keys: Vec<String> = (0..20).map(|n| format!("ark-fake-row-{n:02}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let known: Vec<(&str, KeyMode)> = keys.iter().map(|key| (*key, KeyMode::Valid)).collect();
    let fake = FakeSeedance::start(&known).await;
    fake.polls_until_done(1);
    let (_spool, providers) = seedance(&fake, &keys, "").await;
    let sd = provider(&providers);
    let table: Vec<(Call, Fault, &str, &str)> = vec![
        (
            Call::Submit,
            Fault::RateLimited(Duration::from_secs(30)),
            "rate-limited",
            "30000",
        ),
        (Call::Submit, Fault::BareRateLimit, "rate-limited", ""),
        (Call::Submit, Fault::TooManyConcurrent, "rate-limited", ""),
        (
            Call::Submit,
            Fault::QuotaExhausted,
            "quota-exhausted",
            "QuotaExceeded",
        ),
        (
            Call::Submit,
            Fault::Unauthorized,
            "unauthorized",
            "AuthenticationError",
        ),
        (
            Call::Submit,
            Fault::Forbidden,
            "unauthorized",
            "AccessDenied",
        ),
        (
            Call::Submit,
            Fault::ModelGone,
            "bad-request",
            "InvalidEndpointOrModel.NotFound",
        ),
        (
            Call::Submit,
            Fault::Internal,
            "unavailable",
            "HTTP 500 InternalServiceError",
        ),
        (Call::Submit, Fault::Unavailable, "unavailable", "HTTP 503"),
        (
            Call::Submit,
            Fault::Blocked,
            "content-blocked",
            "InputTextSensitiveContentDetected",
        ),
        (Call::Submit, Fault::Malformed, "other", "not JSON"),
        (
            Call::Poll,
            Fault::RateLimited(Duration::from_secs(2)),
            "rate-limited",
            "2000",
        ),
        (
            Call::Poll,
            Fault::Internal,
            "unavailable",
            "InternalServiceError",
        ),
        (
            Call::Poll,
            Fault::Unauthorized,
            "unauthorized",
            "AuthenticationError",
        ),
        (Call::Poll, Fault::Malformed, "other", "without a video URL"),
    ];
    for (call, fault, want, word) in table {
        let operation = if call == Call::Poll {
            let state = pending_state(progress(sd, submit(5, "9:16")).await.unwrap());
            Operation::PollVideo(state)
        } else {
            submit(5, "9:16")
        };
        fake.faults().script_for(call, [fault.clone()]);
        let (got, message) = mapped_failure(sd, operation).await;
        assert_eq!(got, want, "{fault:?} on {call:?} became {got}: {message}");
        assert!(
            message.contains(word),
            "{fault:?}: {message:?} lacks {word:?}"
        );
    }
    // The API's own refusals: a retired model, one not activated, a value it rejects.
    let rows = [
        (
            "model = \"seedance-1-0-lite-t2v-250428\"\n",
            "does not exist",
        ),
        (
            "model = \"seedance-1-5-pro-251215\"\n",
            "activate the model",
        ),
        ("resolution = \"4k\"\n", "param resolution"),
        ("generate_audio = \"true\"\n", "param generate_audio"),
    ];
    fake.model_not_open("seedance-1-5-pro-251215");
    for (n, (settings, word)) in rows.into_iter().enumerate() {
        let key = keys[16 + n];
        let (_spool, providers) = one_provider("seedance", &fake.url, &[key], settings).await;
        let (got, message) = mapped_failure(provider(&providers), submit(5, "9:16")).await;
        assert_eq!(got, "bad-request", "{settings}: {message}");
        assert!(
            message.contains(word),
            "{settings}: {message:?} lacks {word:?}"
        );
    }
    // A key Ark never issued.
    let (_spool, providers) = one_provider("seedance", &fake.url, &["ark-unknown"], "").await;
    let (got, message) = mapped_failure(provider(&providers), submit(5, "9:16")).await;
    assert_eq!(got, "unauthorized");
    assert!(message.contains("missing or invalid"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_download_succeeds_and_an_expired_link_says_so() {
    let fake = FakeSeedance::start(&[(KEY, KeyMode::Valid)]).await;
    fake.polls_until_done(1);
    fake.shrink_clips(8);
    fake.link_expiry(Duration::from_secs(2));
    let (_spool, providers) = seedance(&fake, &[KEY], "").await;
    let sd = provider(&providers);
    let state = pending_state(progress(sd, submit(2, "16:9")).await.unwrap());
    let (url, _) = until_done(sd, &state).await;
    assert!(url.contains("X-Tos-Expires=2&"), "{url}");
    let bytes = download(sd, &url).await.unwrap();
    chute_fakes::media::check_magic(&bytes, "mp4").unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let error = download(sd, &url).await.unwrap_err();
    assert!(matches!(error, DownloadError::Status(403, _)), "{error:?}");
    assert!(
        error.is_transient(),
        "a fresh status check may bring a new link"
    );
    assert_eq!(
        error.to_string(),
        "the download failed with HTTP 403 (AccessDenied: Request has expired)"
    );
    // A storage outage is its own status, also retried later.
    fake.faults()
        .script_for(Call::Download, [Fault::Unavailable]);
    let state = pending_state(progress(sd, submit(2, "16:9")).await.unwrap());
    let (url, _) = until_done(sd, &state).await;
    let error = download(sd, &url).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the download failed with HTTP 503 (ServiceUnavailable: Please reduce your request rate.)"
    );
    assert!(
        fake.storage_seen()
            .iter()
            .all(|seen| seen.header("authorization").is_none())
    );
}
