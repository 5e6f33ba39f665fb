//! The shipped `gemini` plugin (text, image, speech) through the real host against
//! the fake Gemini API: each capability's request as the API expects it, the answer
//! read back, and every failure the fake can inject mapped to the error the host acts
//! on.

use std::time::Duration;

use chute::provider::bindings::{Image, ImageRequest, ProviderError, SpeechRequest, TextRequest};
use chute::provider::plugin::{Answer, CallFailure, Operation};
use chute::provider::{Provider, Providers};
use chute_fakes::{Call, FakeGemini, Fault, KeyMode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{call_once, error_kind, one_provider};

const KEY: &str = "AIzaSyFAKE-gemini-plugin-000000000000";
const AQ_KEY: &str = "AQ.FAKE-refused-authorization-key-0000";

/// A spool with the gemini plugin, its provider pointed at `fake` with `keys`.
async fn gemini(fake: &FakeGemini, keys: &[&str], extra: &str) -> (TempDir, Providers) {
    let models = "model = \"gemini-test-flash\"
image_model = \"gemini-test-flash-image\"
tts_model = \"gemini-test-flash-tts\"
";
    one_provider("gemini", &fake.url, keys, &format!("{models}{extra}")).await
}

fn provider(providers: &Providers) -> &Provider {
    providers.get("gemini").expect("gemini loaded")
}

fn schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["title", "scenes"],
           "properties": {"title": {"type": "string", "maxLength": 40},
                          "scenes": {"type": "array", "minItems": 3, "maxItems": 3,
                                     "items": {"type": "string", "minLength": 1}}}})
}

fn text_request() -> Operation {
    Operation::Text(TextRequest {
        system: Some("You write short video scripts.".into()),
        prompt: "Three scenes about fresh roasted coffee beans".into(),
        json_schema: Some(schema().to_string()),
        temperature: Some(0.4),
        max_output_tokens: Some(2048),
    })
}

fn image_request() -> Operation {
    let reference = chute_fakes::media::png(40, 40, "product");
    Operation::Image(ImageRequest {
        prompt: "A bag of coffee on a wooden table, morning light".into(),
        references: vec![Image {
            mime_type: "image/png".into(),
            data: reference,
        }],
        aspect_ratio: Some("9:16".into()),
    })
}

fn speech_request() -> Operation {
    Operation::Speak(SpeechRequest {
        text: "Cà phê rang mỗi sáng. Thơm ngon!".into(),
        voice: Some("vi-female".into()),
        language: Some("vi-VN".into()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_image_and_speech_go_out_in_the_api_shape_and_come_back_usable() {
    let fake = FakeGemini::start(&[(KEY, KeyMode::Valid)]).await;
    fake.thought_decoys(true);
    let (_spool, providers) = gemini(&fake, &[KEY], "").await;
    let gemini = provider(&providers);

    let Answer::Text(text) = call_once(gemini, text_request()).await.unwrap() else {
        panic!("text")
    };
    let answer: Value = serde_json::from_str(&text.text).unwrap();
    let validator = jsonschema::validator_for(&schema()).unwrap();
    assert!(validator.is_valid(&answer), "{answer}");
    assert_eq!(text.model, "gemini-test-flash");
    assert!(text.input_tokens.is_some_and(|tokens| tokens > 0));
    // Thinking tokens are billed as output: 8 thoughts on top of the written ones.
    assert!(text.output_tokens.is_some_and(|tokens| tokens > 8));
    let sent = &fake.seen_ending("gemini-test-flash:generateContent")[0];
    assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
    assert!(
        !sent.query.contains("key="),
        "the key also went in the query"
    );
    let body = sent.json();
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert_eq!(body["generationConfig"]["responseJsonSchema"], schema());
    assert_eq!(
        body["systemInstruction"]["parts"][0]["text"],
        "You write short video scripts."
    );

    let Answer::Image(image) = call_once(gemini, image_request()).await.unwrap() else {
        panic!("image")
    };
    assert_eq!(image.mime_type, "image/png");
    let decoded = chute_pixels::image::load_from_memory(&image.data).unwrap();
    // The 9:16 image, not the 64x64 thought decoy before it.
    assert_eq!((decoded.width(), decoded.height()), (768, 1344));
    let body = fake.seen_ending("gemini-test-flash-image:generateContent")[0].json();
    assert_eq!(
        body["generationConfig"]["responseModalities"],
        json!(["IMAGE"])
    );
    assert_eq!(
        body["generationConfig"]["imageConfig"]["aspectRatio"],
        "9:16"
    );
    assert_eq!(
        body["contents"][0]["parts"][1]["inlineData"]["mimeType"],
        "image/png"
    );

    let Answer::Speech(speech) = call_once(gemini, speech_request()).await.unwrap() else {
        panic!("speech")
    };
    assert_eq!(speech.format, "audio/L16;codec=pcm;rate=24000");
    let chute::provider::bindings::Media::Bytes(audio) = speech.audio else {
        panic!("speech comes inline")
    };
    let seconds = audio.data.len() as f64 / (24_000.0 * 2.0);
    assert!((1.0..6.0).contains(&seconds), "{seconds} s of speech");
    let body = fake.seen_ending("gemini-test-flash-tts:generateContent")[0].json();
    let speech_config = &body["generationConfig"]["speechConfig"];
    // "vi-female" is not a Gemini voice: the default prebuilt voice is sent instead.
    assert_eq!(
        speech_config["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"],
        "Kore"
    );
    assert_eq!(speech_config["languageCode"], "vi-VN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_failure_maps_to_the_error_the_host_acts_on() {
    // Rate limits rest a key and refusals disable it, as the host should: one key per
    // row keeps a healthy one for every row.
    let keys: Vec<String> = (0..20)
        .map(|n| format!("AIzaSyFAKE-row-key-{n:02}-000000000000"))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let known: Vec<(&str, KeyMode)> = keys.iter().map(|key| (*key, KeyMode::Valid)).collect();
    let fake = FakeGemini::start(&known).await;
    let (_spool, providers) = gemini(&fake, &keys, "").await;
    let gemini = provider(&providers);
    let table: Vec<(Call, Fault, &str, &str)> = vec![
        (
            Call::Text,
            Fault::RateLimited(Duration::from_secs(7)),
            "rate-limited",
            "7000",
        ),
        (Call::Text, Fault::BareRateLimit, "rate-limited", ""),
        (
            Call::Text,
            Fault::QuotaExhausted,
            "quota-exhausted",
            "exceeded your current quota",
        ),
        (Call::Text, Fault::Forbidden, "unauthorized", "leaked"),
        (Call::Text, Fault::Unauthorized, "unauthorized", "401"),
        (
            Call::Text,
            Fault::ModelGone,
            "bad-request",
            "gemini-test-flash is not found",
        ),
        (Call::Text, Fault::Internal, "unavailable", "500"),
        (Call::Text, Fault::Unavailable, "unavailable", "overloaded"),
        (Call::Text, Fault::Malformed, "other", "not JSON"),
        (
            Call::Text,
            Fault::Blocked,
            "content-blocked",
            "prompt was blocked",
        ),
        (Call::Text, Fault::Truncated, "other", "MAX_TOKENS"),
        (
            Call::Image,
            Fault::Blocked,
            "content-blocked",
            "IMAGE_SAFETY",
        ),
        (Call::Image, Fault::Truncated, "other", "NO_IMAGE"),
        (
            Call::Image,
            Fault::RateLimited(Duration::from_millis(1500)),
            "rate-limited",
            "1500",
        ),
        (
            Call::Speech,
            Fault::Blocked,
            "content-blocked",
            "PROHIBITED_CONTENT",
        ),
        (
            Call::Speech,
            Fault::Truncated,
            "unavailable",
            "text tokens instead of audio",
        ),
    ];
    for (call, fault, kind, word) in table {
        fake.faults().script_for(call, [fault.clone()]);
        let operation = match call {
            Call::Text => text_request(),
            Call::Image => image_request(),
            _ => speech_request(),
        };
        let failure = call_once(gemini, operation)
            .await
            .expect_err("the fault fails the call");
        let CallFailure::Provider(error) = failure else {
            panic!("{fault:?} on {call:?}: the plugin failed instead of mapping: {failure}")
        };
        let (got, message) = error_kind(&error);
        assert_eq!(got, kind, "{fault:?} on {call:?} became {error:?}");
        assert!(
            message.contains(word),
            "{fault:?} on {call:?}: {message:?} lacks {word:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_keys_and_bad_requests_are_named_for_what_they_are() {
    let fake =
        FakeGemini::start(&[(KEY, KeyMode::Valid), (AQ_KEY, KeyMode::Unauthenticated)]).await;
    let (_spool, providers) = gemini(&fake, &[AQ_KEY], "").await;
    let failure = call_once(provider(&providers), text_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, CallFailure::Provider(ProviderError::Unauthorized(why)) if why.contains("401")),
        "{failure:?}"
    );
    let (_spool, providers) = gemini(&fake, &["AIzaSyFAKE-never-issued-000000000000000"], "").await;
    let failure = call_once(provider(&providers), text_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, CallFailure::Provider(ProviderError::Unauthorized(why)) if why.contains("API key not valid")),
        "{failure:?}"
    );
    // An aspect ratio the image models do not offer is refused before any request.
    let (_spool, providers) = gemini(&fake, &[KEY], "").await;
    let before = fake.seen().len();
    let odd = Operation::Image(ImageRequest {
        prompt: "a cup".into(),
        references: Vec::new(),
        aspect_ratio: Some("7:5".into()),
    });
    let failure = call_once(provider(&providers), odd).await.unwrap_err();
    assert!(
        matches!(&failure, CallFailure::Provider(ProviderError::BadRequest(why)) if why.contains("7:5")),
        "{failure:?}"
    );
    assert_eq!(fake.seen().len(), before, "a request went out anyway");
    // A retired model is a 404 that names the model (the remedy is the config).
    fake.retire_model("gemini-test-flash");
    let failure = call_once(provider(&providers), text_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, CallFailure::Provider(ProviderError::BadRequest(why)) if why.contains("models/gemini-test-flash is not found")),
        "{failure:?}"
    );
}
