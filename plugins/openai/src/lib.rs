//! OpenAI (`api.openai.com`) and the servers that speak its API — vLLM, Ollama's
//! `/v1`, llama.cpp's `llama-server`, LM Studio, OpenRouter — through one `base_url`:
//! text through `POST /v1/chat/completions` (JSON under a strict `json_schema`
//! `response_format` when the request carries a schema), speech through
//! `POST /v1/audio/speech` (WAV, 24 kHz PCM or MP3, declared as such).
//!
//! The key travels as `Authorization: Bearer`, attached by the host; a provider table
//! without `keys` (a local server) sends no Authorization header at all.
//!
//! Settings (`[providers.NAME]`):
//! - `base_url`: the server's origin, with or without its `/v1` (`https://api.openai.com`,
//!   `http://127.0.0.1:11434/v1`, `https://openrouter.ai/api/v1`); `/v1` is added
//!   unless the path already ends with it.
//! - `model` (default `gpt-4o-mini`), `temperature` and `max_output` (sent as
//!   `max_tokens`), each sent when set or when the request says. (chute refuses
//!   setting names with "token" in them: they look like credentials.)
//! - `structured_output`: `json_schema` (default: the nested OpenAI form, the one all
//!   five servers read), `json_object`, `structured_outputs` (vLLM ≥ 0.12's extra
//!   body field) or `prompt` (no response_format; the schema is stated in the system
//!   prompt only).
//! - `strict` (default `true`): the schema is rewritten as strict mode requires
//!   (`additionalProperties: false`, every property required, optional ones nullable,
//!   keywords strict mode refuses removed).
//! - `schema_in_prompt`: also state the schema in the system prompt (default `true`
//!   for every mode but `json_schema`).
//! - `require_parameters`: OpenRouter's `provider.require_parameters` (default `true`
//!   when the base URL is on openrouter.ai), so no provider that ignores the schema
//!   is picked; `http_referer` and `app_title` become OpenRouter's `HTTP-Referer` and
//!   `X-OpenRouter-Title` headers.
//! - `tts_model` (default `gpt-4o-mini-tts`), `voice` (default `alloy`; any name a
//!   compatible server knows), `speech_format` (`wav` default, `pcm`, `mp3`),
//!   `speed` (0.25–4), `instructions` (how to speak; not for `tts-1`).

mod answer;
mod failure;
mod speech;
mod strict;
mod text;

use chute_plugin_sdk::*;

struct OpenAi;

const DEFAULT_BASE: &str = "https://api.openai.com";

/// A setting, when set and not blank.
fn setting(name: &str) -> Option<String> {
    config(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// A yes/no setting; `default` when unset; anything but true/false is refused.
fn flag(name: &str, default: bool) -> Result<bool, ProviderError> {
    match setting(name).as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ProviderError::BadRequest(format!(
            "setting {name} = `{other}` is neither true nor false"
        ))),
    }
}

/// A numeric setting, when set; a value that is not a number is the operator's error,
/// reported before any request.
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

/// The configured base URL, without a trailing slash.
fn base() -> String {
    setting("base_url")
        .unwrap_or_else(|| DEFAULT_BASE.into())
        .trim_end_matches('/')
        .to_string()
}

/// `{base_url}/v1/{path}`, or `{base_url}/{path}` when the base already ends in `/v1`
/// (Ollama's and OpenRouter's documented base URLs do).
fn endpoint(path: &str) -> String {
    endpoint_of(&base(), path)
}

fn endpoint_of(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") {
        format!("{base}/{path}")
    } else {
        format!("{base}/v1/{path}")
    }
}

/// True when the base URL is OpenRouter's.
fn is_openrouter() -> bool {
    let base = base();
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    host == "openrouter.ai" || host.ends_with(".openrouter.ai")
}

impl Provider for OpenAi {
    fn describe() -> Info {
        let mut info = Info::new(
            "openai",
            env!("CARGO_PKG_VERSION"),
            &[Capability::Text, Capability::Speech],
        );
        // Compatible servers are reached through the operator's base_url, which the
        // host adds to the allowlist; only OpenAI's own origin is declared.
        info.hosts = vec!["api.openai.com".into()];
        info.auth = Auth::Bearer;
        info
    }

    fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
        text::generate(req)
    }

    fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
        speech::speak(req)
    }
}

export!(OpenAi);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_is_added_unless_the_base_url_ends_with_it() {
        assert_eq!(
            endpoint_of("https://api.openai.com", "chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:11434/v1/", "models"),
            "http://127.0.0.1:11434/v1/models"
        );
        assert_eq!(
            endpoint_of("https://openrouter.ai/api/v1", "chat/completions"),
            "https://openrouter.ai/api/v1/chat/completions"
        );
    }
}
