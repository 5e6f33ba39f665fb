//! The shipped `elevenlabs` plugin through the real host against the fake ElevenLabs
//! API: the request as the API expects it (key in `xi-api-key`, `output_format` in the
//! query, the voice id in the path), audio that decodes in the declared format, the
//! with-timestamps answer checked, and every failure the fake can inject mapped to
//! the error the host acts on.

use std::time::Duration;

use chute::provider::bindings::{Media, ProviderError, SpeechRequest};
use chute::provider::plugin::{Answer, CallFailure, Operation};
use chute::provider::{Provider, Providers};
use chute_fakes::{Call, FakeElevenLabs, Fault, KeyMode};
use serde_json::json;
use tempfile::TempDir;

use crate::harness::{call_once, mapped_failure, one_provider};

const KEY: &str = "sk_fake_elevenlabs_plugin_0000000000000000";

/// A spool with the elevenlabs plugin, its provider pointed at `fake` with `keys`.
async fn elevenlabs(fake: &FakeElevenLabs, keys: &[&str], extra: &str) -> (TempDir, Providers) {
    one_provider("elevenlabs", &fake.url, keys, extra).await
}

fn provider(providers: &Providers) -> &Provider {
    providers.get("elevenlabs").expect("elevenlabs loaded")
}

fn speech(voice: Option<&str>) -> Operation {
    Operation::Speak(SpeechRequest {
        text: "Cà phê rang mỗi sáng. Thơm ngon!".into(),
        voice: voice.map(str::to_string),
        language: Some("vi-VN".into()),
    })
}

/// The audio and format of a successful call.
async fn spoken(provider: &Provider, operation: Operation) -> (Vec<u8>, String) {
    let Answer::Speech(speech) = call_once(provider, operation).await.unwrap() else {
        panic!("speech")
    };
    let Media::Bytes(audio) = speech.audio else {
        panic!("speech comes inline")
    };
    assert_eq!(audio.mime_type, speech.format);
    (audio.data, speech.format)
}

/// Seconds of audio once decoded by the renderer's own decoder.
fn decoded_seconds(audio: &[u8], extension: &str) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("voice.{extension}"));
    std::fs::write(&path, audio).unwrap();
    gstreamer::init().unwrap();
    let samples = chute::video::render::audio::decode(&path, "voice", 60.0).unwrap();
    samples.len() as f64 / (48_000.0 * 2.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_goes_out_in_the_api_shape_and_comes_back_as_the_declared_audio() {
    let fake = FakeElevenLabs::start(&[(KEY, KeyMode::Valid)]).await;
    let settings = "stability = 0.4\nsimilarity_boost = 0.8\nspeed = 1.1\n";
    let (_spool, providers) = elevenlabs(&fake, &[KEY], settings).await;
    let el = provider(&providers);

    // "vi-female" is not a voice id: the documented default voice is used.
    let (audio, format) = spoken(el, speech(Some("vi-female"))).await;
    assert_eq!(format, "audio/mpeg");
    assert!(audio.starts_with(b"ID3"), "an MP3 file");
    let seconds = decoded_seconds(&audio, "mp3");
    assert!((1.0..6.0).contains(&seconds), "{seconds} s of speech");
    let sent = &fake.seen()[0];
    assert_eq!(sent.path, "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb");
    assert_eq!(sent.query, "output_format=mp3_44100_128");
    assert_eq!(sent.header("xi-api-key"), Some(KEY));
    assert!(!sent.query.contains(KEY), "the key also went in the query");
    assert_eq!(sent.status, 200);
    let body = sent.json();
    assert_eq!(body["text"], "Cà phê rang mỗi sáng. Thơm ngon!");
    assert_eq!(body["model_id"], "eleven_multilingual_v2");
    assert_eq!(body["language_code"], "vi");
    assert_eq!(
        body["voice_settings"],
        json!({"stability": 0.4, "similarity_boost": 0.8, "speed": 1.1})
    );
    let settings = format!("{:?}", el.settings);
    assert!(
        !settings.contains(KEY),
        "the key is in the plugin's settings"
    );

    // A request's own voice id goes in the path.
    spoken(el, speech(Some("21m00Tcm4TlvDq8ikWAM"))).await;
    assert_eq!(
        fake.seen()[1].path,
        "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
    );

    // WAV and with-timestamps PCM, as configured.
    let (_spool, providers) = elevenlabs(&fake, &[KEY], "output_format = \"wav_16000\"\n").await;
    let (audio, format) = spoken(provider(&providers), speech(None)).await;
    assert_eq!(format, "audio/wav");
    let seconds = decoded_seconds(&audio, "wav");
    assert!((1.0..6.0).contains(&seconds), "{seconds} s of speech");
    let extra = "output_format = \"pcm_24000\"\ntimestamps = true\nvoice = \"EXAVITQu4vr4xnSDxMaL\"\nmodel = \"eleven_flash_v2_5\"\n";
    let (_spool, providers) = elevenlabs(&fake, &[KEY], extra).await;
    let (audio, format) = spoken(provider(&providers), speech(None)).await;
    assert_eq!(format, "audio/L16;rate=24000");
    let seconds = audio.len() as f64 / (24_000.0 * 2.0);
    assert!((1.0..6.0).contains(&seconds), "{seconds} s of PCM");
    let sent = fake.seen().pop().unwrap();
    assert_eq!(
        sent.path,
        "/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/with-timestamps"
    );
    assert_eq!(sent.query, "output_format=pcm_24000");
    assert_eq!(sent.json()["model_id"], "eleven_flash_v2_5");
    // The alignment comes back as word timings: one per word of the text, in order,
    // inside the audio.
    let Answer::Speech(timed) = call_once(provider(&providers), speech(None)).await.unwrap() else {
        panic!("speech")
    };
    let words: Vec<&str> = timed.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(
        words,
        ["Cà", "phê", "rang", "mỗi", "sáng.", "Thơm", "ngon!"]
    );
    assert!(
        timed
            .words
            .windows(2)
            .all(|pair| pair[0].end_ms <= pair[1].start_ms)
    );
    assert!(timed.words.iter().all(|w| w.start_ms < w.end_ms));
    assert!(f64::from(timed.words.last().unwrap().end_ms) / 1000.0 <= seconds + 0.05);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_failure_maps_to_the_error_the_host_acts_on() {
    // Rate limits rest a key and refusals disable it: one key per row.
    let keys: Vec<String> = (0..12).map(|n| format!("sk_fake_row_{n:02}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let known: Vec<(&str, KeyMode)> = keys.iter().map(|key| (*key, KeyMode::Valid)).collect();
    let fake = FakeElevenLabs::start(&known).await;
    let (_spool, providers) = elevenlabs(&fake, &keys, "output_format = \"pcm_16000\"\n").await;
    let el = provider(&providers);
    let table: Vec<(Fault, &str, &str)> = vec![
        // The concurrency ceiling: the provider's retry-after, else a short hint.
        (
            Fault::RateLimited(Duration::from_secs(3)),
            "rate-limited",
            "3000",
        ),
        (Fault::TooManyConcurrent, "rate-limited", "1000"),
        // The provider's own load: not the key's fault.
        (Fault::BareRateLimit, "unavailable", "system_busy"),
        (Fault::QuotaExhausted, "quota-exhausted", "quota_exceeded"),
        (Fault::Unauthorized, "unauthorized", "Invalid API key"),
        (Fault::Forbidden, "unauthorized", "Unusual activity"),
        (Fault::ModelGone, "bad-request", "does not exist"),
        (Fault::Internal, "unavailable", "500"),
        (Fault::Unavailable, "unavailable", "503"),
        (Fault::Malformed, "other", "text/html, not pcm_16000 audio"),
    ];
    for (fault, want, word) in table {
        fake.faults().script_for(Call::Speech, [fault.clone()]);
        let (got, message) = mapped_failure(el, speech(None)).await;
        assert_eq!(got, want, "{fault:?} became {got}: {message}");
        assert!(
            message.contains(word),
            "{fault:?}: {message:?} lacks {word:?}"
        );
    }

    // A malformed alignment is an error, not audio with wrong timings.
    let (_spool, providers) = elevenlabs(
        &fake,
        &["sk_fake_row_11"],
        "output_format = \"pcm_16000\"\ntimestamps = true\n",
    )
    .await;
    fake.faults().script_for(Call::Speech, [Fault::Malformed]);
    let (got, message) = mapped_failure(provider(&providers), speech(None)).await;
    assert_eq!(got, "other");
    assert!(message.contains("differ in length"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_own_refusals_are_named_for_what_they_are() {
    let fake = FakeElevenLabs::start(&[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = elevenlabs(&fake, &[KEY], "output_format = \"pcm_16000\"\n").await;
    let el = provider(&providers);
    // A voice id the account does not have.
    let (got, message) = mapped_failure(el, speech(Some("ZZZZZZZZZZZZZZZZZZZZ"))).await;
    assert_eq!(
        (got, message.contains("voice_not_found")),
        ("bad-request", true),
        "{message}"
    );
    // A `max_characters` over the model's limit (10,000 for multilingual v2) meets
    // the API's own refusal.
    let (_spool, providers) = elevenlabs(
        &fake,
        &[KEY],
        "output_format = \"pcm_8000\"\nmax_characters = 20000\n",
    )
    .await;
    let long = Operation::Speak(SpeechRequest {
        text: "Cà-phê-rang-xay-nguyên-chất-thơm-ngon. ".repeat(270),
        voice: None,
        language: None,
    });
    let (got, message) = mapped_failure(provider(&providers), long).await;
    assert_eq!(got, "bad-request");
    assert!(
        message.contains("max_character_limit_exceeded"),
        "{message}"
    );
    // The character budget runs out: credits, not the key.
    fake.character_budget(40);
    spoken(el, speech(None)).await;
    let (got, message) = mapped_failure(el, speech(None)).await;
    assert_eq!(got, "quota-exhausted");
    assert!(message.contains("credits remaining"), "{message}");
    // An unknown key.
    let (_spool, providers) = elevenlabs(&fake, &["sk_never_issued"], "").await;
    let (got, _) = mapped_failure(provider(&providers), speech(None)).await;
    assert_eq!(got, "unauthorized");
    // An output format the plugin cannot declare is refused before any request.
    let before = fake.seen().len();
    let (_spool, providers) = elevenlabs(&fake, &[KEY], "output_format = \"ulaw_8000\"\n").await;
    let (got, message) = mapped_failure(provider(&providers), speech(None)).await;
    assert_eq!(got, "bad-request");
    assert!(message.contains("ulaw_8000"), "{message}");
    assert_eq!(fake.seen().len(), before, "a request went out anyway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_concurrency_ceiling_waits_briefly_instead_of_failing_the_key() {
    let fake = FakeElevenLabs::start(&[(KEY, KeyMode::Valid)]).await;
    fake.concurrency(1);
    fake.faults()
        .latency(Call::Speech, Duration::from_millis(1500));
    let (_spool, providers) = elevenlabs(&fake, &[KEY], "output_format = \"pcm_16000\"\n").await;
    let el = provider(&providers);
    let (first, second) = tokio::join!(call_once(el, speech(None)), async {
        // The second call starts once the first holds the key's only slot.
        while fake.seen().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        call_once(el, speech(None)).await
    });
    assert!(first.is_ok(), "{first:?}");
    let failure = second.expect_err("past the ceiling");
    assert!(
        matches!(
            failure,
            CallFailure::Provider(ProviderError::RateLimited(Some(1000)))
        ),
        "{failure:?}"
    );
    let statuses: Vec<u16> = fake.seen().iter().map(|seen| seen.status).collect();
    assert_eq!(statuses, [200, 429]);
}

/// The texts of the speech requests the fake answered.
fn spoken_texts(fake: &FakeElevenLabs) -> Vec<serde_json::Value> {
    fake.seen()
        .iter()
        .filter(|seen| seen.status == 200)
        .map(|seen| seen.json())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_over_the_model_limit_is_spoken_in_pieces_joined_into_one_file() {
    let fake = FakeElevenLabs::start(&[(KEY, KeyMode::Valid)]).await;
    // eleven_v3 speaks at most 5,000 characters a request; this is 5,265.
    let sentence = "Cà-phê-rang-xay-nguyên-chất-thơm-ngon. ";
    let text = sentence.repeat(135);
    let (_spool, providers) = elevenlabs(
        &fake,
        &[KEY],
        "output_format = \"pcm_8000\"\nmodel = \"eleven_v3\"\n",
    )
    .await;
    let one = spoken(
        provider(&providers),
        Operation::Speak(SpeechRequest {
            text: sentence.into(),
            voice: None,
            language: None,
        }),
    )
    .await
    .0;
    let (audio, format) = spoken(
        provider(&providers),
        Operation::Speak(SpeechRequest {
            text: text.clone(),
            voice: None,
            language: None,
        }),
    )
    .await;
    assert_eq!(format, "audio/L16;rate=8000");
    let bodies = spoken_texts(&fake);
    assert_eq!(
        bodies.len(),
        3,
        "one short request, then the long text in two"
    );
    let pieces: Vec<&str> = bodies[1..]
        .iter()
        .map(|body| body["text"].as_str().unwrap())
        .collect();
    assert!(
        pieces.iter().all(|piece| piece.chars().count() <= 5_000),
        "a piece over the limit"
    );
    assert_eq!(pieces.join(" "), text.trim_end(), "the pieces are the text");
    assert!(pieces[0].ends_with("ngon."), "cut at a sentence end");
    // Each request names its neighbour so the voice carries on across the cut.
    assert_eq!(bodies[1]["next_text"], pieces[1]);
    assert_eq!(bodies[2]["previous_text"], pieces[0]);
    assert!(bodies[1].get("previous_text").is_none());
    // The file holds every piece's audio: 135 times one sentence's, give or take the
    // silence after the last word.
    let ratio = audio.len() as f64 / (one.len() as f64 * 135.0);
    assert!((0.98..1.02).contains(&ratio), "joined audio ratio {ratio}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_timings_of_later_pieces_follow_the_audio_before_them() {
    let fake = FakeElevenLabs::start(&[(KEY, KeyMode::Valid)]).await;
    let text = "Cà phê rang mỗi sáng. Thơm ngon đậm đà! Mua ngay hôm nay? Giao tận nhà.";
    let (_spool, providers) =
        elevenlabs(&fake, &[KEY], "timestamps = true\nmax_characters = 30\n").await;
    let Answer::Speech(timed) = call_once(
        provider(&providers),
        Operation::Speak(SpeechRequest {
            text: text.into(),
            voice: None,
            language: None,
        }),
    )
    .await
    .unwrap() else {
        panic!("speech")
    };
    // 21, 17, 17 and 13 letters: no two sentences fit in 30 together.
    assert_eq!(
        spoken_texts(&fake).len(),
        4,
        "four pieces of at most 30 letters"
    );
    let Media::Bytes(audio) = timed.audio else {
        panic!("inline audio")
    };
    // One MP3 stream: no second ID3 tag or Xing frame telling a player it ends early.
    assert!(!audio.data.starts_with(b"ID3"));
    let seconds = decoded_seconds(&audio.data, "mp3");
    let words: Vec<&str> = timed.words.iter().map(|w| w.word.as_str()).collect();
    let expected: Vec<&str> = text.split(' ').collect();
    assert_eq!(words, expected);
    assert!(
        timed
            .words
            .windows(2)
            .all(|pair| pair[0].end_ms <= pair[1].start_ms),
        "timings go back in time: {:?}",
        timed.words
    );
    // The last word ends with the audio (the fake ends each piece 80 ms after its
    // last word), not with the last piece's own length.
    let last = f64::from(timed.words.last().unwrap().end_ms) / 1000.0;
    assert!(
        last <= seconds + 0.05 && last > seconds - 0.6,
        "the last word ends at {last} s of {seconds} s"
    );
}
