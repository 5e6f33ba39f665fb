//! A fake of Google Cloud Text-to-Speech (`texttospeech.googleapis.com`): `POST
//! /v1/text:synthesize` answering `{"audioContent": base64}`, the key in `?key=` or
//! `x-goog-api-key` (or a bearer token, which is checked against the same keys).
//! Requests are checked as the API does: unknown fields, exactly one input, the
//! 5,000-byte input limit, a language code, a voice name that belongs to it, a known
//! audio encoding and speaking rate. LINEAR16 answers are WAV files (with header), MP3
//! answers MP3 files, PCM raw samples. Errors use Google's envelope.
//!
//! Not emulated: OGG_OPUS, MULAW and ALAW (answered 501 UNIMPLEMENTED: nothing here
//! encodes them), SSML parsing (its text is spoken as is) and per-voice-family quotas.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::faults::{Call, Fault};
use crate::google::{error, field, invalid, unknown_field};
use crate::media;
use crate::record::Recorder;
use crate::server::{self, Exchange, Fake, KeyCheck, KeyMode, Keys};

/// The service name Google's errors carry.
const SERVICE: &str = "texttospeech.googleapis.com";

/// The most input bytes a request may carry.
pub const MAX_INPUT_BYTES: usize = 5_000;

/// Voice families the fake knows (the part of a name after `xx-XX-`).
const FAMILIES: &[&str] = &[
    "Standard",
    "Wavenet",
    "Neural2",
    "News",
    "Studio",
    "Polyglot",
    "Chirp-HD",
    "Chirp3-HD",
];

/// Cloud TTS keeps no state beyond its keys and faults.
type Inner = server::Core<()>;

/// A running fake Cloud TTS API; the handle tests drive it with.
#[derive(Clone)]
pub struct FakeGoogleTts {
    /// `http://127.0.0.1:PORT` (a provider's `base_url`).
    pub url: String,
    handle: server::Handle<()>,
}

impl std::ops::Deref for FakeGoogleTts {
    type Target = server::Handle<()>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

/// The API as a [`Fake`].
struct Api(Arc<Inner>);

impl FakeGoogleTts {
    /// Starts on a loopback port, knowing `keys`.
    pub async fn start(keys: &[(&str, KeyMode)]) -> FakeGoogleTts {
        FakeGoogleTts::start_with(Keys::new(keys)).await
    }

    /// Starts with a key registry of the caller's (e.g. [`Keys::any`]).
    pub async fn start_with(keys: Keys) -> FakeGoogleTts {
        let mut fake = FakeGoogleTts::detached(keys);
        fake.url = server::start(fake.api(), fake.recorder.clone()).await;
        fake
    }

    /// A fake not yet serving: the caller puts [`FakeGoogleTts::api`] on a listener.
    pub fn detached(keys: Keys) -> FakeGoogleTts {
        FakeGoogleTts {
            url: String::new(),
            handle: server::Handle {
                recorder: Recorder::default(),
                inner: Arc::new(server::Core::new(keys, ())),
            },
        }
    }

    /// The handler.
    pub fn api(&self) -> Arc<dyn Fake> {
        Arc::new(Api(self.inner.clone()))
    }
}

impl Fake for Api {
    fn origin(&self) -> &'static str {
        "google-tts"
    }

    fn claims(&self, path: &str) -> bool {
        path == "/v1/text:synthesize"
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        crate::google::api_key(exchange).or_else(|| exchange.bearer())
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            match synthesize(&self.0, &exchange).await {
                Ok(answer) | Err(answer) => answer,
            }
        })
    }
}

/// The Cloud TTS answer for a fault that is an HTTP error; `None` for faults
/// answered otherwise (malformed bodies, delays) or that the API has no form of
/// (blocks, truncation).
pub fn fault(fault: &Fault) -> Option<Response> {
    let quota = |quota_id: &str, delay: Option<f64>| {
        let mut details = vec![json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "texttospeech.googleapis.com/default_requests",
                            "quotaId": quota_id}]})];
        if let Some(seconds) = delay {
            details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                "retryDelay": format!("{seconds}s")}));
        }
        error(
            429,
            "RESOURCE_EXHAUSTED",
            &format!(
                "Quota exceeded for quota metric 'Requests' and limit '{quota_id}' of service '{SERVICE}'."
            ),
            Value::Array(details),
        )
    };
    Some(match fault {
        Fault::RateLimited(delay) => quota(
            "DefaultRequestsPerMinutePerProject",
            Some(delay.as_secs_f64()),
        ),
        Fault::QuotaExhausted => quota("DefaultRequestsPerDayPerProject", None),
        Fault::ModelGone => invalid("Voice 'vi-VN-Standard-Z' does not exist. Is it misspelled?"),
        Fault::TooManyConcurrent
        | Fault::BareRateLimit
        | Fault::Unauthorized
        | Fault::Forbidden
        | Fault::Internal
        | Fault::Unavailable => crate::google::fault(fault, "", "synthesize")?,
        Fault::Malformed | Fault::Blocked | Fault::Truncated | Fault::Slow(_) => return None,
    })
}

/// A request: auth, checks, faults, the audio.
async fn synthesize(inner: &Inner, exchange: &Exchange) -> Result<Response, Response> {
    match exchange.bearer() {
        Some(token) if crate::google::api_key(exchange).is_none() => {
            if inner.keys.check(Some(&token)) != KeyCheck::Known(KeyMode::Valid) {
                return Err(error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
                    json!([]),
                ));
            }
        }
        _ => crate::google::authorize(&inner.keys, exchange, SERVICE)?,
    }
    if exchange.method != "POST" {
        return Err(error(
            405,
            "METHOD_NOT_ALLOWED",
            "The method is not allowed for the requested URL.",
            json!([]),
        ));
    }
    let asked = check(exchange)?;
    let fault = inner.faults.next(Call::Speech);
    if let Some(answer) = fault.as_ref().and_then(self::fault) {
        return Err(answer);
    }
    let latency = match &fault {
        Some(Fault::Slow(delay)) => *delay,
        _ => inner.faults.latency_of(Call::Speech),
    };
    tokio::time::sleep(latency).await;
    if fault == Some(Fault::Malformed) {
        return Ok(axum::Json(json!({"audioContent": "%%% not base64 %%%"})).into_response());
    }
    let (samples, _) = media::speech(&asked.text, asked.rate);
    let rate = asked.rate;
    let bytes = match asked.encoding.as_str() {
        "LINEAR16" => media::wav(&samples, rate),
        "PCM" => media::pcm_bytes(&samples),
        "MP3" => match tokio::task::spawn_blocking(move || media::mp3(&samples, rate, 32)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(why)) => return Err(error(500, "INTERNAL", &why.to_string(), json!([]))),
            Err(why) => return Err(error(500, "INTERNAL", &why.to_string(), json!([]))),
        },
        other => {
            return Err(error(
                501,
                "UNIMPLEMENTED",
                &format!("the fake does not encode {other}"),
                json!([]),
            ));
        }
    };
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    Ok(axum::Json(json!({"audioContent": content})).into_response())
}

/// What a valid request asks for.
struct Asked {
    text: String,
    encoding: String,
    rate: u32,
}

/// The checks the API makes before speaking.
fn check(exchange: &Exchange) -> Result<Asked, Response> {
    let body: Value = exchange
        .json()
        .map_err(|why| invalid(&format!("Invalid JSON payload received. {why}")))?;
    if let Some(refusal) = unknown_field(
        &body,
        &[
            "input",
            "voice",
            "audioConfig",
            "enableTimePointing",
            "advancedVoiceOptions",
        ],
        "",
    ) {
        return Err(refusal);
    }
    let input = field(&body, "input").cloned().unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(
        &input,
        &["text", "ssml", "markup", "customPronunciations"],
        "input",
    ) {
        return Err(refusal);
    }
    let texts: Vec<&str> = ["text", "ssml", "markup"]
        .iter()
        .filter_map(|name| input.get(*name).and_then(Value::as_str))
        .collect();
    let [text] = texts.as_slice() else {
        return Err(invalid(
            "Exactly one of input.text, input.ssml or input.markup must be set.",
        ));
    };
    if text.len() > MAX_INPUT_BYTES {
        return Err(invalid(&format!(
            "Either `input.text` or `input.ssml` is longer than the limit of {MAX_INPUT_BYTES} bytes. This limit is different from quotas. To fix, reduce the byte length of the characters in this request, or consider using the Long Audio API: https://cloud.google.com/text-to-speech/docs/create-audio-text-long-audio-synthesis."
        )));
    }
    if text.trim().is_empty() {
        return Err(invalid("Input text is empty."));
    }
    let voice = field(&body, "voice").cloned().unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(
        &voice,
        &[
            "languageCode",
            "name",
            "ssmlGender",
            "customVoice",
            "voiceClone",
        ],
        "voice",
    ) {
        return Err(refusal);
    }
    let language = field(&voice, "languageCode")
        .and_then(Value::as_str)
        .unwrap_or("");
    if language.is_empty() {
        return Err(invalid("Invalid voice: language_code is required."));
    }
    if let Some(name) = field(&voice, "name").and_then(Value::as_str) {
        check_voice(name, language)?;
    }
    let config = field(&body, "audioConfig").cloned().unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(
        &config,
        &[
            "audioEncoding",
            "speakingRate",
            "pitch",
            "volumeGainDb",
            "sampleRateHertz",
            "effectsProfileId",
        ],
        "audio_config",
    ) {
        return Err(refusal);
    }
    let encoding = field(&config, "audioEncoding")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !["LINEAR16", "MP3", "OGG_OPUS", "MULAW", "ALAW", "PCM"].contains(&encoding) {
        return Err(invalid(&format!(
            "Invalid value at 'audio_config.audio_encoding' (type.googleapis.com/google.cloud.texttospeech.v1.AudioEncoding), \"{encoding}\""
        )));
    }
    if let Some(rate) = field(&config, "speakingRate")
        && !rate
            .as_f64()
            .is_some_and(|rate| (0.25..=4.0).contains(&rate))
    {
        return Err(invalid("speaking_rate must be between 0.25 and 4.0."));
    }
    let rate = match field(&config, "sampleRateHertz").map(Value::as_u64) {
        None => 24_000,
        Some(Some(rate)) if (8_000..=48_000).contains(&rate) => rate as u32,
        Some(_) => return Err(invalid("sample_rate_hertz must be between 8000 and 48000.")),
    };
    Ok(Asked {
        text: text.to_string(),
        encoding: encoding.to_string(),
        rate,
    })
}

/// A voice name is `xx-XX-Family-Variant` of a known family, in the asked language.
fn check_voice(name: &str, language: &str) -> Result<(), Response> {
    let mut parts = name.splitn(3, '-');
    let (Some(lang), Some(region), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(&format!(
            "Voice '{name}' does not exist. Is it misspelled?"
        )));
    };
    let family = rest.rsplit_once('-').map_or("", |(family, _)| family);
    if !FAMILIES.contains(&family) {
        return Err(invalid(&format!(
            "Voice '{name}' does not exist. Is it misspelled?"
        )));
    }
    let own = format!("{lang}-{region}");
    if !own.eq_ignore_ascii_case(language) {
        return Err(invalid(&format!(
            "Requested language code '{language}' doesn't match the voice '{name}''s language code '{}'. Either switch to a voice with language code '{language}', or don't specify a voice, so that we can pick one for you.",
            own.to_ascii_lowercase()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::{Bytes, to_bytes};
    use axum::http::HeaderMap;

    const KEY: &str = "AIzaSyFAKE-google-tts-000000000000000";

    async fn send(fake: &FakeGoogleTts, query: &str, body: Value) -> (u16, Value) {
        let exchange = Exchange {
            method: "POST".into(),
            path: "/v1/text:synthesize".into(),
            query: query.into(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        };
        let answer = fake.api().answer(exchange).await;
        let status = answer.status().as_u16();
        let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    fn body(text: &str, name: &str) -> Value {
        json!({"input": {"text": text}, "voice": {"languageCode": "vi-VN", "name": name},
               "audioConfig": {"audioEncoding": "LINEAR16", "speakingRate": 1.0}})
    }

    #[tokio::test]
    async fn linear16_is_a_wav_file_and_bad_requests_are_refused_as_google_does() {
        let fake = FakeGoogleTts::detached(Keys::new(&[(KEY, KeyMode::Valid)]));
        let query = format!("key={KEY}");
        let (status, answer) = send(&fake, &query, body("Xin chào.", "vi-VN-Standard-A")).await;
        assert_eq!(status, 200);
        let audio = base64::engine::general_purpose::STANDARD
            .decode(answer["audioContent"].as_str().unwrap())
            .unwrap();
        media::check_magic(&audio, "wav").unwrap();
        // 5,000 bytes, not characters: 2,000 Vietnamese letters of 3 bytes are too long.
        let (status, answer) =
            send(&fake, &query, body(&"ạ".repeat(2_000), "vi-VN-Standard-A")).await;
        assert_eq!(status, 400);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("5000 bytes")
        );
        let (status, answer) = send(&fake, &query, body("Hi.", "en-US-Standard-A")).await;
        assert_eq!(status, 400);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("doesn't match")
        );
        let mut odd = body("Hi.", "vi-VN-Standard-A");
        odd["audioConfig"]["speaking_rate_x"] = json!(1);
        assert_eq!(send(&fake, &query, odd).await.0, 400);
        let (status, answer) = send(
            &fake,
            "key=AIzaSyNOT-ISSUED",
            body("Hi.", "vi-VN-Standard-A"),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(answer["error"]["details"][0]["reason"], "API_KEY_INVALID");
        assert_eq!(
            send(&fake, "", body("Hi.", "vi-VN-Standard-A")).await.0,
            403
        );
    }
}
