//! The shipped `google-tts` plugin through the real host against the fake Cloud
//! Text-to-Speech API: the request as the API expects it (key in `?key=`), texts over
//! the 5,000-byte cap split at sentences into several requests joined into one WAV,
//! MP3 when asked, and every failure the fake can inject mapped to the error the host
//! acts on.

use std::time::Duration;

use chute::provider::bindings::{Media, SpeechRequest};
use chute::provider::plugin::{Answer, Operation};
use chute::provider::{Provider, Providers};
use chute_fakes::{Call, FakeGoogleTts, Fault, KeyMode};
use tempfile::TempDir;

use crate::harness::{call_once, mapped_failure, one_provider};

const KEY: &str = "AIzaSyFAKE-google-tts-plugin-00000000";

/// A spool with the google-tts plugin, its provider pointed at `fake` with `keys`.
async fn google_tts(fake: &FakeGoogleTts, keys: &[&str], extra: &str) -> (TempDir, Providers) {
    one_provider("google-tts", &fake.url, keys, extra).await
}

fn provider(providers: &Providers) -> &Provider {
    providers.get("google-tts").expect("google-tts loaded")
}

fn speech(text: &str, voice: Option<&str>) -> Operation {
    Operation::Speak(SpeechRequest {
        text: text.into(),
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

/// Seconds of audio once decoded by the renderer's own decoder (at most `limit`).
fn decoded_seconds(audio: &[u8], extension: &str, limit: f64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("voice.{extension}"));
    std::fs::write(&path, audio).unwrap();
    gstreamer::init().unwrap();
    let samples = chute::video::render::audio::decode(&path, "voice", limit).unwrap();
    samples.len() as f64 / (48_000.0 * 2.0)
}

/// A 16-bit mono WAV's rate and PCM, checking its header says what the file holds.
fn wav_pcm(file: &[u8]) -> (u32, &[u8]) {
    assert!(
        file.starts_with(b"RIFF") && &file[8..12] == b"WAVE",
        "a WAV file"
    );
    let riff = u32::from_le_bytes(file[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff + 8, file.len(), "the RIFF size is the file's");
    assert_eq!(&file[12..16], b"fmt ");
    let channels = u16::from_le_bytes(file[22..24].try_into().unwrap());
    let rate = u32::from_le_bytes(file[24..28].try_into().unwrap());
    let bits = u16::from_le_bytes(file[34..36].try_into().unwrap());
    assert_eq!((channels, bits), (1, 16));
    assert_eq!(&file[36..40], b"data");
    let data = u32::from_le_bytes(file[40..44].try_into().unwrap()) as usize;
    assert_eq!(data + 44, file.len(), "one data chunk holds all the PCM");
    (rate, &file[44..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_goes_out_with_the_key_in_the_query_and_comes_back_as_one_wav() {
    let fake = FakeGoogleTts::start(&[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = google_tts(&fake, &[KEY], "speaking_rate = 1.1\n").await;
    let tts = provider(&providers);
    let text = "Cà phê rang mỗi sáng. Thơm ngon!";
    let (audio, format) = spoken(tts, speech(text, Some("vi-VN-Wavenet-A"))).await;
    assert_eq!(format, "audio/wav");
    let (rate, pcm) = wav_pcm(&audio);
    assert_eq!(rate, 24_000);
    let seconds = pcm.len() as f64 / (24_000.0 * 2.0);
    assert!((1.0..6.0).contains(&seconds), "{seconds} s of speech");
    assert!((decoded_seconds(&audio, "wav", 60.0) - seconds).abs() < 0.05);
    let sent = &fake.seen()[0];
    assert_eq!(sent.path, "/v1/text:synthesize");
    assert_eq!(sent.query, format!("key={KEY}"));
    assert_eq!(
        sent.header("x-goog-api-key"),
        None,
        "the key also went in a header"
    );
    assert_eq!(sent.status, 200);
    let body = sent.json();
    assert_eq!(body["input"]["text"], text);
    assert_eq!(body["voice"]["languageCode"], "vi-VN");
    assert_eq!(body["voice"]["name"], "vi-VN-Wavenet-A");
    assert_eq!(body["audioConfig"]["audioEncoding"], "LINEAR16");
    assert_eq!(body["audioConfig"]["speakingRate"], 1.1);
    let settings = format!("{:?}", tts.settings);
    assert!(
        !settings.contains(KEY),
        "the key is in the plugin's settings"
    );

    // A brief's voice that is not a Cloud TTS name is left out: Google picks one.
    spoken(tts, speech(text, Some("female"))).await;
    let body = fake.seen()[1].json();
    assert_eq!(body["voice"].get("name"), None);
    assert_eq!(body["voice"]["languageCode"], "vi-VN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_vietnamese_text_is_split_under_5000_bytes_and_joined_into_one_wav() {
    let fake = FakeGoogleTts::start(&[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = google_tts(&fake, &[KEY], "voice = \"vi-VN-Standard-A\"\n").await;
    let sentence =
        "Cà phê Buôn Ma Thuột được rang mộc mỗi sáng, thơm nồng và đậm đà hương vị núi rừng. ";
    // 10,488 bytes in 7,728 characters (over ten minutes of speech): a split by
    // characters would send 5,000 characters, over the byte cap.
    let text = sentence.repeat(92);
    assert!(text.len() > 10_000 && text.chars().count() < 10_000);
    let (audio, format) = spoken(provider(&providers), speech(&text, None)).await;
    assert_eq!(format, "audio/wav");
    let sent = fake.seen();
    assert!(sent.len() >= 3, "{} requests", sent.len());
    let mut expected_pcm = 0;
    let mut pieces = Vec::new();
    for request in &sent {
        assert_eq!(request.status, 200);
        let piece = request.json()["input"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(piece.len() <= 5_000, "{} bytes in one request", piece.len());
        assert!(
            piece.ends_with("núi rừng."),
            "cut inside a sentence: {piece:?}"
        );
        let (samples, _) = chute_fakes::media::speech(&piece, 24_000);
        expected_pcm += samples.len() * 2;
        pieces.push(piece);
    }
    assert_eq!(pieces.join(" "), text.trim_end());
    let (rate, pcm) = wav_pcm(&audio);
    assert_eq!((rate, pcm.len()), (24_000, expected_pcm));
    // Over ten minutes of speech: its first minute is decoded, the rest is counted.
    assert!(expected_pcm as f64 / 48_000.0 > 60.0);
    let seconds = decoded_seconds(&audio, "wav", 60.0);
    assert!((seconds - 60.0).abs() < 0.05, "{seconds} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_is_asked_for_and_decodes() {
    let fake = FakeGoogleTts::start(&[(KEY, KeyMode::Valid)]).await;
    let (_spool, providers) = google_tts(&fake, &[KEY], "audio_encoding = \"MP3\"\n").await;
    let (audio, format) =
        spoken(provider(&providers), speech("Xin chào. Hẹn gặp lại!", None)).await;
    assert_eq!(format, "audio/mpeg");
    assert!(audio.starts_with(b"ID3"));
    let seconds = decoded_seconds(&audio, "mp3", 60.0);
    assert!((0.8..6.0).contains(&seconds), "{seconds} s");
    assert_eq!(fake.seen()[0].json()["audioConfig"]["audioEncoding"], "MP3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_failure_maps_to_the_error_the_host_acts_on() {
    let keys: Vec<String> = (0..12)
        .map(|n| format!("AIzaSyFAKE-tts-row-{n:02}-000000000000"))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let known: Vec<(&str, KeyMode)> = keys.iter().map(|key| (*key, KeyMode::Valid)).collect();
    let fake = FakeGoogleTts::start(&known).await;
    let (_spool, providers) = google_tts(&fake, &keys, "").await;
    let tts = provider(&providers);
    let table: Vec<(Fault, &str, &str)> = vec![
        (
            Fault::RateLimited(Duration::from_secs(7)),
            "rate-limited",
            "7000",
        ),
        (Fault::BareRateLimit, "rate-limited", ""),
        (Fault::QuotaExhausted, "quota-exhausted", "PerDay"),
        (Fault::Unauthorized, "unauthorized", "401"),
        (Fault::Forbidden, "unauthorized", "leaked"),
        (Fault::ModelGone, "bad-request", "does not exist"),
        (Fault::Internal, "unavailable", "500"),
        (Fault::Unavailable, "unavailable", "503"),
        (Fault::Malformed, "other", "bad base64"),
    ];
    for (fault, want, word) in table {
        fake.faults().script_for(Call::Speech, [fault.clone()]);
        let (got, message) = mapped_failure(tts, speech("Xin chào.", None)).await;
        assert_eq!(got, want, "{fault:?} became {got}: {message}");
        assert!(
            message.contains(word),
            "{fault:?}: {message:?} lacks {word:?}"
        );
    }
    // A key nobody issued: Google's 400 API_KEY_INVALID is a refused key.
    let (_spool, providers) =
        google_tts(&fake, &["AIzaSyFAKE-never-issued-0000000000000"], "").await;
    let (got, message) = mapped_failure(provider(&providers), speech("Xin chào.", None)).await;
    assert_eq!(got, "unauthorized");
    assert!(message.contains("API key not valid"), "{message}");
    // A failure halfway through a split text fails the whole call.
    let (_spool, providers) = google_tts(&fake, &[keys[11]], "").await;
    fake.faults()
        .script_for(Call::Speech, [Fault::Slow(Duration::ZERO), Fault::Internal]);
    let long = "Một câu tiếng Việt khá dài để chia nhỏ văn bản. ".repeat(150);
    let (got, _) = mapped_failure(provider(&providers), speech(&long, None)).await;
    assert_eq!(got, "unavailable");
}
