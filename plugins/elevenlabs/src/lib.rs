//! ElevenLabs text-to-speech (`api.elevenlabs.io`, key in `xi-api-key`):
//! `POST /v1/text-to-speech/{voice_id}?output_format=…` answers the audio bytes, or
//! with `timestamps = true` the `/with-timestamps` JSON (base64 audio and a
//! per-character alignment).
//!
//! Settings (`[providers.NAME]`): `model` (default `eleven_multilingual_v2`), `voice`
//! (a voice id, used when the request's voice is not one; default [`DEFAULT_VOICE`]),
//! `output_format` (`mp3_*`, `wav_*` or `pcm_*`; default `mp3_44100_128`),
//! `stability`, `similarity_boost`, `style`, `speed` (voice settings, sent only when
//! set), `timestamps` (`true`/`false`), `max_characters` (per request; default the
//! model's published limit).
//!
//! A text over the model's character limit is spoken in pieces cut at sentence ends
//! (each request names its neighbours in `previous_text`/`next_text` so the voice
//! carries on), joined into one file, and the word timings shifted by the length of
//! the audio before them.
//!
//! Errors are `{"detail": {"status", "message"}}`: `quota_exceeded` is a 401 that
//! means the credits are spent (not a bad key); `too_many_concurrent_requests` is a
//! 429 for the plan's parallel-request ceiling (rate-limited with a short hint, so
//! the host queues the call on this key instead of hammering); `system_busy` is a 429
//! for the provider's own load, mapped to unavailable: the key is fine, so the host
//! backs off and may try another provider rather than resting the key.

mod alignment;

use chute_plugin_sdk::bindings::chute::provider::host::{Request, Response};
use chute_plugin_sdk::http::{header, send};
use chute_plugin_sdk::serde_json::{Map, Value, json};
use chute_plugin_sdk::*;
use chute_plugin_sdk::{mp3, text, wav};

struct ElevenLabs;

const DEFAULT_BASE: &str = "https://api.elevenlabs.io";

/// The model used when the `model` setting names none.
const DEFAULT_MODEL: &str = "eleven_multilingual_v2";

/// The voice used when neither the request nor the `voice` setting names one:
/// "George", a premade voice every account has (the one ElevenLabs' examples use).
pub const DEFAULT_VOICE: &str = "JBFqnCBsd6RMkjVDRZzb";

/// The retry hint for `too_many_concurrent_requests` when the answer gives none: a
/// call in flight on this key usually ends within a second or two.
const CONCURRENCY_RETRY_MS: u64 = 1_000;

/// A setting, when set and not blank.
fn setting(name: &str) -> Option<String> {
    config(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// True for an ElevenLabs voice id: 20 ASCII letters and digits.
fn is_voice_id(text: &str) -> bool {
    text.len() == 20 && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

/// The MIME type of an `output_format`, or why it is not one this plugin returns.
fn format_mime(format: &str) -> Result<String, ProviderError> {
    let refuse = || {
        ProviderError::BadRequest(format!(
            "output_format `{format}` is not supported; use an mp3_*, wav_* or pcm_* format such as mp3_44100_128"
        ))
    };
    let mut parts = format.split('_');
    let (Some(kind), Some(rate)) = (parts.next(), parts.next()) else {
        return Err(refuse());
    };
    let rate: u32 = rate.parse().map_err(|_| refuse())?;
    match (kind, parts.next()) {
        ("mp3", Some(_)) => Ok("audio/mpeg".into()),
        ("wav", None) => Ok("audio/wav".into()),
        ("pcm", None) => Ok(format!("audio/L16;rate={rate}")),
        _ => Err(refuse()),
    }
}

/// The two-letter language of a BCP-47 tag (`vi-VN` → `vi`).
fn language_code(language: &str) -> Option<String> {
    let primary = language
        .split(['-', '_'])
        .next()?
        .trim()
        .to_ascii_lowercase();
    (primary.len() == 2 && primary.bytes().all(|byte| byte.is_ascii_lowercase())).then_some(primary)
}

/// A numeric voice setting, when set; a value that is not a number is the operator's
/// error, reported before any request.
fn number(name: &str) -> Result<Option<f64>, ProviderError> {
    let Some(text) = setting(name) else {
        return Ok(None);
    };
    text.parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .map(Some)
        .ok_or_else(|| {
            ProviderError::BadRequest(format!("setting {name} = `{text}` is not a number"))
        })
}

/// The request body for `piece` of the request's text.
fn body(
    req: &SpeechRequest,
    piece: &str,
    model: &str,
    context: Context,
) -> Result<Value, ProviderError> {
    let mut body = json!({"text": piece, "model_id": model});
    if let Some(previous) = context.previous {
        body["previous_text"] = json!(previous);
    }
    if let Some(next) = context.next {
        body["next_text"] = json!(next);
    }
    if let Some(code) = req.language.as_deref().and_then(language_code) {
        body["language_code"] = json!(code);
    }
    let mut voice = Map::new();
    for name in ["stability", "similarity_boost", "style", "speed"] {
        if let Some(value) = number(name)? {
            voice.insert(name.into(), json!(value));
        }
    }
    if !voice.is_empty() {
        body["voice_settings"] = Value::Object(voice);
    }
    Ok(body)
}

/// The error an ElevenLabs answer means (its `detail.status` first, then the SDK's
/// generic mapping).
fn error(response: &Response) -> ProviderError {
    let parsed: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let status = parsed.pointer("/detail/status").and_then(Value::as_str);
    let message = parsed
        .pointer("/detail/message")
        .and_then(Value::as_str)
        .unwrap_or("");
    let said = format!(
        "HTTP {}: {} ({message})",
        response.status,
        status.unwrap_or("")
    );
    match status {
        Some("quota_exceeded") => ProviderError::QuotaExhausted(said),
        Some("too_many_concurrent_requests") => ProviderError::RateLimited(Some(
            errors::retry_after_ms(response).unwrap_or(CONCURRENCY_RETRY_MS),
        )),
        Some("system_busy") => ProviderError::Unavailable(said),
        Some("max_character_limit_exceeded" | "voice_not_found") => ProviderError::BadRequest(said),
        _ => errors::from_status(response),
    }
}

impl Provider for ElevenLabs {
    fn describe() -> Info {
        let mut info = Info::new(
            "elevenlabs",
            env!("CARGO_PKG_VERSION"),
            &[Capability::Speech],
        );
        info.hosts = vec!["api.elevenlabs.io".into()];
        info.auth = Auth::Header("xi-api-key".into());
        // ElevenLabs limits parallel requests (2 on the free plan), not requests per
        // minute; spacing calls a second apart keeps a free key under it.
        info.limits.requests_per_minute = Some(60);
        info
    }

    fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
        if req.text.trim().is_empty() {
            return Err(ProviderError::BadRequest(
                "there is no text to speak".into(),
            ));
        }
        let voice = req
            .voice
            .as_deref()
            .map(str::trim)
            .filter(|voice| is_voice_id(voice))
            .map(str::to_string)
            .or_else(|| setting("voice"))
            .unwrap_or_else(|| DEFAULT_VOICE.into());
        if !is_voice_id(&voice) {
            return Err(ProviderError::BadRequest(format!(
                "voice `{voice}` is not an ElevenLabs voice id (20 letters and digits)"
            )));
        }
        let output = setting("output_format").unwrap_or_else(|| "mp3_44100_128".into());
        let mime = format_mime(&output)?;
        let model = setting("model").unwrap_or_else(|| DEFAULT_MODEL.into());
        let limit = match setting("max_characters").map(|text| (text.parse::<usize>(), text)) {
            Some((Ok(0), _)) | None => character_limit(&model),
            Some((Ok(limit), _)) => limit,
            Some((Err(_), text)) => {
                return Err(ProviderError::BadRequest(format!(
                    "setting max_characters = `{text}` is not a number of characters"
                )));
            }
        };
        let pieces = text::pieces(&req.text, limit, text::Measure::Chars);
        let mut spoken = Vec::with_capacity(pieces.len());
        let mut words = Vec::new();
        let mut offset_ms = 0u32;
        for (index, piece) in pieces.iter().enumerate() {
            // The neighbours keep the prosody continuous across the cut.
            let context = Context {
                previous: index.checked_sub(1).map(|at| pieces[at].as_str()),
                next: pieces.get(index + 1).map(String::as_str),
            };
            let (audio, piece_words) = speak_piece(&req, piece, &voice, &output, &model, context)?;
            let seconds = audio_seconds(&audio, &output)?;
            words.extend(piece_words.into_iter().map(|word| WordTime {
                word: word.word,
                start_ms: word.start_ms.saturating_add(offset_ms),
                end_ms: word.end_ms.saturating_add(offset_ms),
            }));
            offset_ms = offset_ms.saturating_add((seconds * 1000.0).round() as u32);
            spoken.push(audio);
        }
        let audio = join(spoken, &output)?;
        Ok(SpeechResult {
            audio: Media::Bytes(Image {
                mime_type: mime.clone(),
                data: audio,
            }),
            format: mime,
            words,
        })
    }
}

/// The texts around a piece of a long text.
#[derive(Clone, Copy)]
struct Context<'a> {
    previous: Option<&'a str>,
    next: Option<&'a str>,
}

/// The most characters `model` speaks in one request (ElevenLabs' published limits;
/// an unknown model gets the smallest).
fn character_limit(model: &str) -> usize {
    match model {
        "eleven_flash_v2_5" | "eleven_turbo_v2_5" => 40_000,
        "eleven_flash_v2" | "eleven_turbo_v2" => 30_000,
        "eleven_multilingual_v2" | "eleven_multilingual_v1" | "eleven_monolingual_v1" => 10_000,
        _ => 5_000,
    }
}

/// One request: `piece` spoken, with its word timings when `timestamps` is set.
fn speak_piece(
    req: &SpeechRequest,
    piece: &str,
    voice: &str,
    output: &str,
    model: &str,
    context: Context,
) -> Result<(Vec<u8>, Vec<WordTime>), ProviderError> {
    let timestamps = setting("timestamps").is_some_and(|on| on == "true");
    let base = setting("base_url").unwrap_or_else(|| DEFAULT_BASE.into());
    let url = format!(
        "{}/v1/text-to-speech/{voice}{}?output_format={output}",
        base.trim_end_matches('/'),
        if timestamps { "/with-timestamps" } else { "" }
    );
    let accept = if timestamps {
        "application/json"
    } else {
        "*/*"
    };
    let response = send(Request {
        method: "POST".into(),
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), accept.into()),
        ],
        body: body(req, piece, model, context)?.to_string().into_bytes(),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(error(&response));
    }
    if let Some(id) = header(&response, "request-id") {
        let cost = header(&response, "character-cost").unwrap_or("?");
        log(
            Level::Debug,
            &format!("elevenlabs request {id}: {cost} characters billed"),
        );
    }
    let (audio, words) = if timestamps {
        alignment::read(&response.body, piece)?
    } else {
        // An error page with a 200 (a proxy's, a gateway's) is not audio.
        if let Some(kind) = header(&response, "content-type")
            .filter(|kind| kind.starts_with("text/") || kind.contains("json"))
        {
            return Err(ProviderError::Other(format!(
                "the provider answered {kind}, not {output} audio"
            )));
        }
        (response.body, Vec::new())
    };
    check_audio(&audio, output)?;
    Ok((audio, words))
}

/// How long one answer lasts, so the next piece's word timings follow it.
fn audio_seconds(audio: &[u8], format: &str) -> Result<f64, ProviderError> {
    match format.split('_').next() {
        Some("mp3") => mp3::seconds(audio),
        Some("wav") => wav::seconds(audio),
        _ => {
            let rate: f64 = format
                .split('_')
                .nth(1)
                .and_then(|rate| rate.parse().ok())
                .unwrap_or(16_000.0);
            Ok(audio.len() as f64 / 2.0 / rate)
        }
    }
}

/// The answers of a text spoken in pieces, as one file of `format`.
fn join(mut spoken: Vec<Vec<u8>>, format: &str) -> Result<Vec<u8>, ProviderError> {
    if spoken.len() == 1 {
        return Ok(spoken.pop().unwrap_or_default());
    }
    match format.split('_').next() {
        Some("mp3") => Ok(mp3::join(&spoken)?.0),
        Some("wav") => {
            let total: usize = spoken.iter().map(Vec::len).sum();
            let mut joiner = wav::Joiner::default();
            for file in &spoken {
                joiner.push(file, total)?;
            }
            joiner.finish()
        }
        _ => Ok(spoken.concat()),
    }
}

/// Fails unless `audio` looks like the format asked for (an error page or an empty
/// body is the provider's fault, not audio).
fn check_audio(audio: &[u8], format: &str) -> Result<(), ProviderError> {
    let ok = match format.split('_').next() {
        Some("mp3") => {
            audio.starts_with(b"ID3") || (audio.len() > 1 && audio[0] == 0xff && audio[1] >= 0xe0)
        }
        Some("wav") => audio.starts_with(b"RIFF") && audio.get(8..12) == Some(b"WAVE"),
        _ => !audio.is_empty() && audio.len().is_multiple_of(2),
    };
    if ok {
        Ok(())
    } else {
        Err(ProviderError::Other(format!(
            "the provider answered {} bytes that are not {format} audio",
            audio.len()
        )))
    }
}

export!(ElevenLabs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_voice_ids_and_languages_are_read_as_elevenlabs_writes_them() {
        assert_eq!(format_mime("mp3_44100_128").ok(), Some("audio/mpeg".into()));
        assert_eq!(format_mime("wav_16000").ok(), Some("audio/wav".into()));
        assert_eq!(
            format_mime("pcm_24000").ok(),
            Some("audio/L16;rate=24000".into())
        );
        assert!(format_mime("ulaw_8000").is_err());
        assert!(format_mime("mp3_x_128").is_err());
        assert!(is_voice_id(DEFAULT_VOICE));
        assert!(!is_voice_id("vi-female"));
        assert_eq!(language_code("vi-VN").as_deref(), Some("vi"));
        assert_eq!(language_code("fil-PH"), None);
    }
}
