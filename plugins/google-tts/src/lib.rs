//! Google Cloud Text-to-Speech (`texttospeech.googleapis.com`, API key in `?key=`):
//! `POST /v1/text:synthesize` answers `{"audioContent": base64}`. The input is capped
//! at 5,000 bytes per request, so longer texts are split at sentence boundaries and
//! the pieces joined: LINEAR16 answers are WAV files, whose PCM is joined under one
//! header; MP3 answers are joined frame stream after frame stream.
//!
//! Settings (`[providers.NAME]`): `voice` (a voice name such as `vi-VN-Standard-A`,
//! used when the request's voice is not one), `language` (the language when the
//! request has none; default `en-US`), `audio_encoding` (`LINEAR16`, the default, or
//! `MP3`), `speaking_rate` (0.25 to 4.0).

use chute_plugin_sdk::http::{json_ok, post_json};
use chute_plugin_sdk::serde_json::{Value, json};
use chute_plugin_sdk::*;

struct GoogleTts;

const DEFAULT_BASE: &str = "https://texttospeech.googleapis.com";

/// The most input bytes one request may carry.
pub const MAX_INPUT_BYTES: usize = 5_000;

/// A setting, when set and not blank.
fn setting(name: &str) -> Option<String> {
    config(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// True for a Cloud TTS voice name: `xx-XX-…` (language, region, then the voice).
fn is_voice_name(name: &str) -> bool {
    let mut parts = name.split('-');
    let language = parts.next().unwrap_or("");
    let region = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    (2..=3).contains(&language.len())
        && language.bytes().all(|byte| byte.is_ascii_lowercase())
        && region.len() == 2
        && region.bytes().all(|byte| byte.is_ascii_uppercase())
        && !rest.is_empty()
}

/// The `voice` object: the language, and the voice name when one is known (it must
/// belong to the language, so the name's own language wins).
fn voice(req: &SpeechRequest) -> Value {
    let name = req
        .voice
        .as_deref()
        .map(str::trim)
        .filter(|name| is_voice_name(name))
        .map(str::to_string)
        .or_else(|| setting("voice").filter(|name| is_voice_name(name)));
    let language = match &name {
        Some(name) => name.splitn(3, '-').take(2).collect::<Vec<_>>().join("-"),
        None => req
            .language
            .as_deref()
            .map(str::trim)
            .filter(|language| !language.is_empty())
            .map(str::to_string)
            .or_else(|| setting("language"))
            .unwrap_or_else(|| "en-US".into()),
    };
    let mut voice = json!({"languageCode": language});
    if let Some(name) = name {
        voice["name"] = json!(name);
    }
    voice
}

/// The `audioConfig` object and the MIME type of the answer.
fn audio_config() -> Result<(Value, &'static str), ProviderError> {
    let encoding = setting("audio_encoding")
        .unwrap_or_else(|| "LINEAR16".into())
        .to_ascii_uppercase();
    let mime = match encoding.as_str() {
        "LINEAR16" => "audio/wav",
        "MP3" => "audio/mpeg",
        other => {
            return Err(ProviderError::BadRequest(format!(
                "audio_encoding `{other}` is not supported; use LINEAR16 or MP3"
            )));
        }
    };
    let mut config = json!({"audioEncoding": encoding});
    if let Some(rate) = setting("speaking_rate") {
        let rate: f64 = rate
            .parse()
            .ok()
            .filter(|rate| (0.25..=4.0).contains(rate))
            .ok_or_else(|| {
                ProviderError::BadRequest(format!(
                    "speaking_rate = `{rate}` is not a number from 0.25 to 4.0"
                ))
            })?;
        config["speakingRate"] = json!(rate);
    }
    Ok((config, mime))
}

/// One `text:synthesize` call; the decoded audio.
fn synthesize(
    url: &str,
    text: &str,
    voice: &Value,
    audio: &Value,
) -> Result<Vec<u8>, ProviderError> {
    let body = json!({"input": {"text": text}, "voice": voice, "audioConfig": audio});
    let answer = json_ok(post_json(url, &body)?)?;
    let content = answer
        .get("audioContent")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Other("the answer has no audioContent".into()))?;
    let data = base64_decode(content)?;
    if data.is_empty() {
        return Err(ProviderError::Other("the answer's audio is empty".into()));
    }
    Ok(data)
}

impl Provider for GoogleTts {
    fn describe() -> Info {
        let mut info = Info::new(
            "google-tts",
            env!("CARGO_PKG_VERSION"),
            &[Capability::Speech],
        );
        info.hosts = vec!["texttospeech.googleapis.com".into()];
        info.auth = Auth::Query("key".into());
        // The per-voice-family quotas start at 200 requests a minute (Chirp 3).
        info.limits.requests_per_minute = Some(200);
        info
    }

    fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
        let pieces = text::pieces(&req.text, MAX_INPUT_BYTES, text::Measure::Bytes);
        if pieces.is_empty() {
            return Err(ProviderError::BadRequest(
                "there is no text to speak".into(),
            ));
        }
        let voice = voice(&req);
        let (audio, mime) = audio_config()?;
        let base = setting("base_url").unwrap_or_else(|| DEFAULT_BASE.into());
        let url = format!("{}/v1/text:synthesize", base.trim_end_matches('/'));
        let total: usize = pieces.iter().map(String::len).sum();
        let mut joiner = wav::Joiner::default();
        let mut mp3s = Vec::new();
        for piece in &pieces {
            let part = synthesize(&url, piece, &voice, &audio)?;
            if mime == "audio/wav" {
                // The result's PCM, guessed from this piece's share of the text.
                let expected = part.len().saturating_mul(total) / piece.len().max(1);
                joiner.push(&part, expected.saturating_add(expected / 20))?;
            } else {
                mp3s.push(part);
            }
        }
        let data = if mime == "audio/wav" {
            joiner.finish()?
        } else if mp3s.len() == 1 {
            mp3s.pop().unwrap_or_default()
        } else {
            // One stream of every piece's frames, without the per-piece tags.
            mp3::join(&mp3s)?.0
        };
        Ok(SpeechResult {
            audio: Media::Bytes(Image {
                mime_type: mime.into(),
                data,
            }),
            format: mime.into(),
            words: Vec::new(),
        })
    }
}

export!(GoogleTts);
