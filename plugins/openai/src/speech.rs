//! Speech through `POST /v1/audio/speech`: the model, a voice, the text, the
//! `response_format` (WAV by default, or 24 kHz 16-bit PCM declared as
//! `audio/L16;rate=24000`, or MP3) and the speed when set. The audio bytes come back
//! whole and are checked to be what was asked for.

use chute_plugin_sdk::bindings::chute::provider::host::Request;
use chute_plugin_sdk::http::{header, send};
use chute_plugin_sdk::serde_json::json;
use chute_plugin_sdk::{Image, Media, ProviderError, SpeechRequest, SpeechResult};

use crate::{failure, number, setting};

/// OpenAI's built-in voices.
const VOICES: &[&str] = &[
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    "marin", "cedar",
];

/// The longest `input` the endpoint takes, in characters.
const MAX_INPUT: usize = 4096;

/// The format asked for and the MIME type it is declared as.
fn format() -> Result<(&'static str, &'static str), ProviderError> {
    match setting("speech_format").as_deref() {
        None | Some("wav") => Ok(("wav", "audio/wav")),
        // OpenAI's pcm is 24 kHz, 16-bit signed little-endian, mono, no header.
        Some("pcm") => Ok(("pcm", "audio/L16;rate=24000")),
        Some("mp3") => Ok(("mp3", "audio/mpeg")),
        Some(other) => Err(ProviderError::BadRequest(format!(
            "speech_format = `{other}` is not one of wav, pcm, mp3"
        ))),
    }
}

/// Answers a speech request.
pub fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
    if req.text.trim().is_empty() {
        return Err(ProviderError::BadRequest(
            "there is no text to speak".into(),
        ));
    }
    let characters = req.text.chars().count();
    if characters > MAX_INPUT {
        return Err(ProviderError::BadRequest(format!(
            "the text has {characters} characters; /v1/audio/speech takes at most {MAX_INPUT}"
        )));
    }
    let (kind, mime) = format()?;
    let model = setting("tts_model").unwrap_or_else(|| "gpt-4o-mini-tts".into());
    // A brief's voice is often another provider's name: only OpenAI's own voices (or
    // a custom voice id) are passed on; otherwise the configured voice.
    let voice = req
        .voice
        .as_deref()
        .map(str::trim)
        .and_then(|voice| {
            VOICES
                .iter()
                .find(|known| known.eq_ignore_ascii_case(voice))
                .map(|known| json!(known))
                .or_else(|| voice.starts_with("voice_").then(|| json!({"id": voice})))
        })
        .or_else(|| setting("voice").map(|voice| json!(voice)))
        .unwrap_or_else(|| json!("alloy"));
    let mut body =
        json!({"model": model, "voice": voice, "input": req.text, "response_format": kind});
    if let Some(speed) = number("speed")? {
        if !(0.25..=4.0).contains(&speed) {
            return Err(ProviderError::BadRequest(format!(
                "speed = {speed} is outside 0.25–4.0"
            )));
        }
        body["speed"] = json!(speed);
    }
    if let Some(instructions) = setting("instructions") {
        body["instructions"] = json!(instructions);
    }
    let response = send(Request {
        method: "POST".into(),
        url: crate::endpoint("audio/speech"),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "*/*".into()),
        ],
        body: body.to_string().into_bytes(),
    })?;
    if !(200..300).contains(&response.status) {
        return Err(failure::from_response(&response));
    }
    // An error page with a 200 (a proxy's) is not audio.
    if let Some(content_type) = header(&response, "content-type")
        .filter(|content_type| content_type.starts_with("text/") || content_type.contains("json"))
    {
        return Err(ProviderError::Other(format!(
            "the server answered {content_type}, not {kind} audio"
        )));
    }
    if !looks_like(&response.body, kind) {
        return Err(ProviderError::Other(format!(
            "the server answered {} bytes that are not {kind} audio",
            response.body.len()
        )));
    }
    Ok(SpeechResult {
        audio: Media::Bytes(Image {
            mime_type: mime.into(),
            data: response.body,
        }),
        format: mime.into(),
        words: Vec::new(),
    })
}

/// True when `audio` starts like `kind` (PCM: any even, non-empty length).
fn looks_like(audio: &[u8], kind: &str) -> bool {
    match kind {
        "wav" => audio.starts_with(b"RIFF") && audio.get(8..12) == Some(b"WAVE"),
        "mp3" => {
            audio.starts_with(b"ID3") || (audio.len() > 1 && audio[0] == 0xff && audio[1] >= 0xe0)
        }
        _ => !audio.is_empty() && audio.len().is_multiple_of(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_recognised_by_its_first_bytes() {
        assert!(looks_like(b"RIFF\x24\0\0\0WAVEfmt ", "wav"));
        assert!(!looks_like(b"<html>", "wav"));
        assert!(looks_like(b"ID3\x04", "mp3"));
        assert!(looks_like(&[0, 1, 2, 3], "pcm"));
        assert!(!looks_like(&[0, 1, 2], "pcm"));
    }
}
