//! Speech from a Gemini TTS model: one prebuilt voice, the language when given, and
//! headerless 16-bit PCM back, declared with its rate so the host wraps it in WAV.

use chute_plugin_sdk::http::{json_ok, post_json};
use chute_plugin_sdk::serde_json::json;
use chute_plugin_sdk::{Image, Media, ProviderError, SpeechRequest, SpeechResult, base64_decode};

use crate::answer;

/// The prebuilt voices.
const VOICES: &[&str] = &[
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

/// Answers a speech request.
pub fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
    let model = crate::setting("tts_model", "gemini-2.5-flash-preview-tts");
    // A brief's voice is often another provider's name ("female", an espeak voice);
    // only a prebuilt Gemini voice is passed on. Newer models refuse a call with none.
    let voice = req
        .voice
        .as_deref()
        .and_then(prebuilt)
        .or_else(|| crate::config("voice").as_deref().and_then(prebuilt))
        .unwrap_or("Kore");
    let mut speech_config = json!({"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}});
    if let Some(language) = req.language.filter(|language| !language.is_empty()) {
        speech_config["languageCode"] = json!(language);
    }
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": req.text}]}],
        "generationConfig": {"responseModalities": ["AUDIO"], "speechConfig": speech_config},
    });
    let reply = json_ok(post_json(&crate::generate_url(&model)?, &body)?)?;
    let parts = answer::parts(&reply)?;
    let (mime, data) = parts
        .iter()
        .filter_map(answer::inline_data)
        .find(|(mime, _)| mime.starts_with("audio/"))
        .ok_or_else(|| ProviderError::Other("the model answered without audio".into()))?;
    let data = base64_decode(data)?;
    if data.is_empty() {
        return Err(ProviderError::Other(
            "the model answered with empty audio".into(),
        ));
    }
    Ok(SpeechResult {
        audio: Media::Bytes(Image {
            mime_type: mime.to_string(),
            data,
        }),
        format: mime.to_string(),
        words: Vec::new(),
    })
}

/// The prebuilt voice a name means (case-insensitive).
fn prebuilt(name: &str) -> Option<&'static str> {
    VOICES
        .iter()
        .find(|voice| voice.eq_ignore_ascii_case(name.trim()))
        .copied()
}
