//! The shipped `veo` plugin through the real host against the fake Veo API: the
//! submit in the SDK's wire form (first frame, snapped duration, nearest aspect
//! ratio), polls until done, the download URI from the wire name, and each way an
//! operation ends mapped.

use chute::provider::bindings::{Image, Media, Progress, ProviderError, VideoRequest};
use chute::provider::plugin::{Answer, CallFailure, Operation};
use chute::provider::{Provider, Providers};
use chute_fakes::{Call, FakeGemini, Fault, KeyMode, VideoOutcome};
use tempfile::TempDir;

use crate::harness::{call_once, one_provider};

const KEY: &str = "AIzaSyFAKE-veo-plugin-0000000000000000";

async fn veo(fake: &FakeGemini) -> (TempDir, Providers) {
    let settings = "model = \"veo-3.1-test-preview\"
negative_prompt = \"text, watermark\"
person_generation = \"allow_adult\"
poll_ms = \"250\"
";
    one_provider(
        "veo",
        &fake.url,
        &[KEY],
        &format!("{settings}{}", fake.allow_hosts()),
    )
    .await
}

fn submit(seconds: u32, aspect: &str) -> Operation {
    Operation::SubmitVideo(VideoRequest {
        prompt: "Slow dolly-in on a coffee cup".into(),
        first_frame: Some(Image {
            mime_type: "image/png".into(),
            data: chute_fakes::media::png(36, 64, "first"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_is_submitted_in_the_wire_form_polled_and_found_under_its_wire_name() {
    let fake = FakeGemini::start(&[(KEY, KeyMode::Valid)]).await;
    fake.polls_until_done(3);
    let (_spool, providers) = veo(&fake).await;
    let veo = providers.get("veo").unwrap();
    // 5 s is not a Veo length: 6 s covers it. 1:1 is not a Veo ratio: 9:16 is nearer.
    let state = pending_state(progress(veo, submit(5, "1:1")).await.unwrap());
    assert_eq!(state, "models/veo-3.1-test-preview/operations/op000001");
    let body = fake.seen_ending(":predictLongRunning")[0].json();
    assert_eq!(body["parameters"]["durationSeconds"], 6);
    assert_eq!(body["parameters"]["aspectRatio"], "9:16");
    assert_eq!(body["parameters"]["resolution"], "720p");
    assert_eq!(body["parameters"]["negativePrompt"], "text, watermark");
    assert_eq!(body["parameters"]["personGeneration"], "allow_adult");
    assert_eq!(body["instances"][0]["image"]["mimeType"], "image/png");
    assert!(body["instances"][0]["image"]["bytesBase64Encoded"].is_string());

    let mut polls = 0;
    let done = loop {
        polls += 1;
        match progress(veo, Operation::PollVideo(state.clone()))
            .await
            .unwrap()
        {
            Progress::Pending(again) => assert_eq!(again.state, state),
            Progress::Done(media) => break media,
        }
        assert!(polls < 10, "never done");
    };
    assert_eq!(polls, 3);
    let Media::Download(download) = done else {
        panic!("a video comes as a download")
    };
    assert_eq!(download.mime_type, "video/mp4");
    assert_eq!(
        download.url,
        format!("{}/v1beta/files/op000001:download?alt=media", fake.url)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_that_end_badly_and_refused_submits_are_mapped() {
    let fake = FakeGemini::start(&[(KEY, KeyMode::Valid)]).await;
    fake.polls_until_done(1);
    let (_spool, providers) = veo(&fake).await;
    let veo = providers.get("veo").unwrap();
    fake.video_outcomes([
        VideoOutcome::Filtered,
        VideoOutcome::Failed(3),
        VideoOutcome::Failed(13),
        VideoOutcome::Failed(8),
    ]);
    let expected: [fn(&ProviderError) -> bool; 4] = [
        |error| matches!(error, ProviderError::ContentBlocked(why) if why.contains("celebrity")),
        |error| matches!(error, ProviderError::BadRequest(why) if why.contains("gRPC 3")),
        |error| matches!(error, ProviderError::Unavailable(why) if why.contains("gRPC 13")),
        |error| matches!(error, ProviderError::RateLimited(None)),
    ];
    for check in expected {
        let state = pending_state(progress(veo, submit(8, "16:9")).await.unwrap());
        let failure = progress(veo, Operation::PollVideo(state))
            .await
            .unwrap_err();
        let CallFailure::Provider(error) = &failure else {
            panic!("{failure}")
        };
        assert!(check(error), "{error:?}");
    }
    // A state that is not an operation name never becomes a request.
    let before = fake.seen().len();
    let failure = progress(veo, Operation::PollVideo("../../v1beta/files/x".into()))
        .await
        .unwrap_err();
    assert!(matches!(
        failure,
        CallFailure::Provider(ProviderError::BadRequest(_))
    ));
    assert_eq!(fake.seen().len(), before);
    // A submit refused with a 429 carries the RetryInfo delay (the key then rests).
    fake.faults().script_for(
        Call::Submit,
        [Fault::RateLimited(std::time::Duration::from_secs(30))],
    );
    let failure = progress(veo, submit(8, "16:9")).await.unwrap_err();
    assert!(
        matches!(
            failure,
            CallFailure::Provider(ProviderError::RateLimited(Some(30_000)))
        ),
        "{failure:?}"
    );
}
