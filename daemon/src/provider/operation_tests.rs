//! The driver's polling, backoff, deadline and materializing, on paused tokio time
//! with a scripted status check (no plugin, no network).

// The scripted answers have the status check's own result type.
#![allow(clippy::result_large_err)]

use std::collections::VecDeque;
use std::sync::Mutex;

use std::future::Future;
use std::pin::Pin;

use tokio::time::Instant;

use super::*;
use crate::provider::ServeError;
use crate::provider::handle::MemoryHandles;
use crate::provider::plugin::{CallFailure, Pending, ProviderError};
use crate::stop::Stopped;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// Answers status checks from a script (then "still pending" forever) and remembers
/// when each check came, on tokio's clock.
struct Script {
    answers: Mutex<VecDeque<Result<Served, CallError>>>,
    seen: Mutex<Vec<(Duration, String)>>,
    started: Instant,
}

impl Script {
    fn new(answers: Vec<Result<Served, CallError>>) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.into()),
            seen: Mutex::new(Vec::new()),
            started: Instant::now(),
        })
    }

    fn seen_at_seconds(&self) -> Vec<f64> {
        let seen = self.seen.lock().expect("lock");
        seen.iter().map(|(at, _)| at.as_secs_f64()).collect()
    }
}

impl StatusCheck for Script {
    fn check<'a>(
        &'a self,
        state: &'a str,
        _key: Option<&'a str>,
        _job: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<Served, CallError>> + Send + 'a>> {
        Box::pin(async move {
            let at = self.started.elapsed();
            self.seen.lock().expect("lock").push((at, state.to_owned()));
            let next = self.answers.lock().expect("lock").pop_front();
            next.unwrap_or_else(|| pending(state, 300_000))
        })
    }
}

fn pending(state: &str, poll_after_ms: u64) -> Result<Served, CallError> {
    Ok(Served {
        answer: Answer::Progress(Progress::Pending(Pending {
            state: state.to_owned(),
            poll_after_ms,
        })),
        record: CallRecord::default(),
    })
}

fn done(data: &[u8]) -> Result<Served, CallError> {
    Ok(Served {
        answer: Answer::Progress(Progress::Done(Media::Bytes(Image {
            mime_type: "image/png".into(),
            data: data.to_vec(),
        }))),
        record: CallRecord::default(),
    })
}

fn provider_down() -> Result<Served, CallError> {
    Err(CallError {
        error: ServeError::Failed {
            provider: "fake".into(),
            failure: CallFailure::Provider(ProviderError::Unavailable("503".into())),
        },
        record: CallRecord::default(),
    })
}

fn running(script: &Arc<Script>, handle: RemoteHandle, first: Duration) -> RemoteOperation {
    RemoteOperation {
        handle_key: "clip-0".into(),
        schedule: PollSchedule::new(OperationLimits::default(), &handle, first),
        handle,
        status: script.clone(),
        record: CallRecord::default(),
        cache_key: None,
        checks: 0,
        resumed: false,
    }
}

#[tokio::test(start_paused = true)]
async fn checks_follow_the_providers_hint_and_back_off_while_it_is_down() {
    let providers = Providers::default();
    let handles = MemoryHandles::default();
    let driver = providers.operations(&handles, StopSignals::default(), Some("job-1"));
    let script = Script::new(vec![
        provider_down(),
        provider_down(),
        pending("state-2", 2_000),
        done(PNG),
    ]);
    let handle = RemoteHandle::submitted("fake", "state-1".into(), None);
    handles.save("clip-0", &handle).expect("save");
    let mut pending_seen = 0;
    let finished = driver
        .poll_until_done(running(&script, handle, Duration::from_secs(1)), |_| {
            pending_seen += 1
        })
        .await
        .expect("done");
    // 1 s (the submit's hint), then 5 s and 10 s of backoff, then the 2 s hint.
    assert_eq!(script.seen_at_seconds(), vec![1.0, 6.0, 16.0, 18.0]);
    assert_eq!(pending_seen, 3);
    let saved = handles.load("clip-0").expect("load").expect("saved");
    assert_eq!(saved.state, "state-2", "a changed poll state is saved");

    let out = tempfile::tempdir().expect("tempdir");
    let file = driver
        .materialize(finished, out.path(), "frame", MediaKind::Image)
        .await
        .expect("a PNG is an image");
    assert_eq!(file.file_name, "frame.png");
    assert_eq!(std::fs::read(&file.path).expect("read"), PNG);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_counts_from_the_submit_across_restarts() {
    let providers = Providers::default();
    let handles = MemoryHandles::default();
    let driver = providers.operations(&handles, StopSignals::default(), None);
    let script = Script::new(Vec::new());
    let mut handle = RemoteHandle::submitted("fake", "state-1".into(), None);
    // Submitted 50 minutes ago by a daemon that was killed since.
    handle.submitted_at = Some(chrono::Utc::now() - chrono::Duration::minutes(50));
    let started = Instant::now();
    let Err(error) = driver
        .poll_until_done(running(&script, handle, Duration::ZERO), |_| {})
        .await
    else {
        panic!("the operation never finishes")
    };
    assert!(
        matches!(error, OperationError::DeadlineExceeded(_)),
        "{error}"
    );
    assert_eq!(error.consequence(), Consequence::FailJob);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9 * 60) && waited <= Duration::from_secs(16 * 60),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn operations_polled_together_wait_side_by_side_and_stop_on_cancel() {
    let providers = Providers::default();
    let handles = MemoryHandles::default();
    let driver = providers.operations(&handles, StopSignals::default(), None);
    let first = Script::new(vec![pending("a", 10_000), done(PNG)]);
    let second = Script::new(vec![pending("b", 10_000), done(PNG)]);
    let started = Instant::now();
    let (one, two) = tokio::join!(
        driver.poll_until_done(
            running(
                &first,
                RemoteHandle::submitted("fake", "a".into(), None),
                Duration::from_secs(10)
            ),
            |_| {}
        ),
        driver.poll_until_done(
            running(
                &second,
                RemoteHandle::submitted("fake", "b".into(), None),
                Duration::from_secs(10)
            ),
            |_| {}
        ),
    );
    assert!(one.is_ok() && two.is_ok());
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(20),
        "not one after the other"
    );

    let signals = StopSignals::default();
    let cancelled = providers.operations(&handles, signals.clone(), None);
    let script = Script::new(Vec::new());
    let waiting = cancelled.poll_until_done(
        running(
            &script,
            RemoteHandle::submitted("fake", "c".into(), None),
            Duration::from_secs(60),
        ),
        |_| {},
    );
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        signals.cancel.cancel();
    };
    let (result, ()) = tokio::join!(waiting, cancel);
    assert!(matches!(
        result,
        Err(OperationError::Stopped(Stopped::Cancelled))
    ));
    assert!(
        script.seen_at_seconds().is_empty(),
        "checked after the cancel"
    );
}

#[tokio::test]
async fn results_of_the_wrong_kind_are_refused_and_raw_pcm_is_written_as_wav() {
    let providers = Providers::default();
    let handles = MemoryHandles::default();
    let driver = providers.operations(&handles, StopSignals::default(), None);
    let out = tempfile::tempdir().expect("tempdir");
    let png = || {
        Media::Bytes(Image {
            mime_type: "image/png".into(),
            data: PNG.to_vec(),
        })
    };
    let refused = driver
        .materialize(
            driver.finished(CallRecord::default(), png()),
            out.path(),
            "video",
            MediaKind::Video,
        )
        .await
        .expect_err("a PNG is not a video");
    assert!(
        matches!(refused, OperationError::WrongType { .. }),
        "{refused}"
    );
    let pcm = Media::Bytes(Image {
        mime_type: "audio/L16;rate=24000".into(),
        data: vec![0xff, 0x00, 0x01, 0x02],
    });
    let speech = driver
        .materialize(
            driver.finished(CallRecord::default(), pcm),
            out.path(),
            "speech",
            MediaKind::Audio,
        )
        .await
        .expect("raw audio is taken as declared");
    assert_eq!(speech.file_name, "speech.wav");
    assert_eq!(speech.mime, "audio/wav");
    let wav = hound::WavReader::open(&speech.path).expect("a WAV file");
    assert_eq!(wav.spec().sample_rate, 24_000);
    assert_eq!(wav.duration(), 2, "two 16-bit samples");
}
