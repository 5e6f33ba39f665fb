//! Gemini TTS models (`*-tts`, `responseModalities: ["AUDIO"]`): headerless 16-bit
//! mono PCM at 24 kHz in an `audio/L16;codec=pcm;rate=24000` part, one of the 30
//! prebuilt voices or exactly two named speakers. 3.1 models refuse a call with no
//! voice; a block is `PROHIBITED_CONTENT`; the "text instead of audio" fault is a 500.

use base64::Engine as _;
use serde_json::{Value, json};

use super::content::{Asked, json_answer, tokens};
use crate::faults::Fault;
use crate::google::{error, field, invalid, unknown_field};
use crate::media;

/// The prebuilt voices.
pub const VOICES: &[&str] = &[
    "Zephyr",
    "Puck",
    "Charon",
    "Kore",
    "Fenrir",
    "Leda",
    "Orus",
    "Aoede",
    "Callirrhoe",
    "Autonoe",
    "Enceladus",
    "Iapetus",
    "Umbriel",
    "Algieba",
    "Despina",
    "Erinome",
    "Algenib",
    "Rasalgethi",
    "Laomedeia",
    "Achernar",
    "Alnilam",
    "Schedar",
    "Gacrux",
    "Pulcherrima",
    "Achird",
    "Zubenelgenubi",
    "Vindemiatrix",
    "Sadachbia",
    "Sadaltager",
    "Sulafat",
];

/// The PCM rate of every answer.
const RATE: u32 = 24_000;

/// Answers a speech call.
pub(super) fn answer(
    model: &str,
    asked: &Asked,
    fault: Option<&Fault>,
) -> axum::response::Response {
    let speech = field(&asked.config, "speechConfig")
        .cloned()
        .unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(
        &speech,
        &["voiceConfig", "multiSpeakerVoiceConfig", "languageCode"],
        "generation_config.speech_config",
    ) {
        return refusal;
    }
    let single = field(&speech, "voiceConfig");
    let multi = field(&speech, "multiSpeakerVoiceConfig");
    match (single, multi) {
        (Some(_), Some(_)) => {
            return invalid("voice_config and multi_speaker_voice_config are mutually exclusive.");
        }
        (Some(config), None) => {
            if let Err(refusal) = check_voice(config) {
                return refusal;
            }
        }
        (None, Some(config)) => {
            if let Err(refusal) = check_speakers(config, &asked.text) {
                return refusal;
            }
        }
        (None, None) if model.contains("3.1") => {
            return invalid("Request contains an invalid argument.");
        }
        (None, None) => {}
    }
    let prompt_tokens = tokens(&asked.text);
    match fault {
        Some(Fault::Blocked) => {
            return json_answer(
                model,
                json!([]),
                "PROHIBITED_CONTENT",
                json!({"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}),
            );
        }
        Some(Fault::Truncated) => {
            return error(
                500,
                "INTERNAL",
                "An internal error has occurred. The model generated text tokens instead of audio.",
                json!([]),
            );
        }
        _ => {}
    }
    let (samples, _) = media::speech(&asked.text, RATE);
    let seconds = samples.len() as u64 / RATE as u64;
    let audio_tokens = 25 * seconds.max(1);
    let data = base64::engine::general_purpose::STANDARD.encode(media::pcm_bytes(&samples));
    json_answer(
        model,
        json!([{"inlineData": {"mimeType": format!("audio/L16;codec=pcm;rate={RATE}"), "data": data}}]),
        "STOP",
        json!({"promptTokenCount": prompt_tokens, "candidatesTokenCount": audio_tokens,
               "totalTokenCount": prompt_tokens + audio_tokens,
               "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": audio_tokens}]}),
    )
}

/// A `voiceConfig` must name a prebuilt voice.
fn check_voice(config: &Value) -> Result<(), axum::response::Response> {
    let name = field(config, "prebuiltVoiceConfig")
        .and_then(|prebuilt| field(prebuilt, "voiceName"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("* voice_config.prebuilt_voice_config.voice_name is required."))?;
    if VOICES.iter().any(|voice| voice.eq_ignore_ascii_case(name)) {
        Ok(())
    } else {
        Err(invalid(&format!("Voice name {name} is not supported.")))
    }
}

/// Exactly two speakers, each with a prebuilt voice and named in the transcript.
fn check_speakers(config: &Value, text: &str) -> Result<(), axum::response::Response> {
    let speakers = field(config, "speakerVoiceConfigs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if speakers.len() != 2 {
        return Err(invalid(&format!(
            "multi_speaker_voice_config must have exactly 2 speaker_voice_configs, got {}.",
            speakers.len()
        )));
    }
    for speaker in &speakers {
        let name = speaker.get("speaker").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() || !text.contains(&format!("{name}:")) {
            return Err(invalid(&format!(
                "Speaker '{name}' does not appear in the prompt."
            )));
        }
        check_voice(field(speaker, "voiceConfig").unwrap_or(&Value::Null))?;
    }
    Ok(())
}
