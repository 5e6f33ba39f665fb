//! The Gemini API (`generativelanguage.googleapis.com`, key in `x-goog-api-key`):
//! text through `generateContent` (JSON mode with a JSON Schema), images through a
//! native `*-image` model, speech through a TTS model (headerless 24 kHz PCM, declared
//! as `audio/L16` so the host wraps it).
//!
//! Settings (`[providers.NAME]`): `model` (text), `image_model`, `tts_model`, `voice`
//! (a prebuilt voice, used when a request names none of them), `image_size`.
//! Model ids change often (see the deprecations page), so none is fixed here beyond a
//! default.

mod answer;
mod image;
mod speech;
mod text;

use chute_plugin_sdk::*;

struct Gemini;

const DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";

/// `{base_url}/v1beta/models/{model}:generateContent`.
fn generate_url(model: &str) -> Result<String, ProviderError> {
    if model.is_empty() || model.contains(['/', '?', '#', ':']) || model.contains("..") {
        return Err(ProviderError::BadRequest(format!(
            "`{model}` is not a model id; set model, image_model or tts_model to a bare id such as gemini-2.5-flash"
        )));
    }
    let base = config("base_url").unwrap_or_else(|| DEFAULT_BASE.into());
    Ok(format!(
        "{}/v1beta/models/{model}:generateContent",
        base.trim_end_matches('/')
    ))
}

/// A setting, or its default.
fn setting(name: &str, default: &str) -> String {
    config(name)
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

impl Provider for Gemini {
    fn describe() -> Info {
        let mut info = Info::new(
            "gemini",
            env!("CARGO_PKG_VERSION"),
            &[Capability::Text, Capability::Image, Capability::Speech],
        );
        info.hosts = vec!["generativelanguage.googleapis.com".into()];
        info.auth = Auth::Header("x-goog-api-key".into());
        // The free tier's text limit; paid tiers set their own in the config.
        info.limits.requests_per_minute = Some(10);
        info
    }

    fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
        text::generate(req)
    }

    fn generate_image(req: ImageRequest) -> Result<Image, ProviderError> {
        image::generate(req)
    }

    fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
        speech::speak(req)
    }
}

export!(Gemini);
