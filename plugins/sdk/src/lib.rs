//! Write a chute provider plugin in a few dozen lines.
//!
//! A plugin implements [`Provider`] (only the operations it supports; the others
//! answer "not supported") and exports it with [`export!`]. The host owns the
//! network: [`http`] sends requests through it, and the host adds the credential.
//!
//! ```ignore
//! use chute_plugin_sdk::*;
//! struct Echo;
//! impl Provider for Echo {
//!     fn describe() -> Info { Info::new("echo", env!("CARGO_PKG_VERSION"), &[Capability::Text]) }
//!     fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
//!         Ok(TextResult { text: req.prompt, model: "echo".into(), input_tokens: None, output_tokens: None })
//!     }
//! }
//! export!(Echo);
//! ```

pub mod errors;
pub mod http;
pub mod mp3;
pub mod text;
pub mod wav;

/// The generated WIT bindings (`chute:provider@0.2.0`).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "chute:provider/plugin",
        pub_export_macro: true,
        export_macro_name: "__export_plugin",
        default_bindings_module: "chute_plugin_sdk::bindings",
    });
}

pub use base64;
pub use bindings::chute::provider::host::{self, Level};
pub use bindings::chute::provider::types::{
    Auth, Capability, Download, Image, ImageRequest, Info, Limits, Media, Pending, Progress,
    ProviderError, SpeechRequest, SpeechResult, TextRequest, TextResult, VideoRequest, WordTime,
};
pub use serde_json;

use bindings::exports::chute::provider::provider::Guest;

/// A provider. Implement `describe` and the operations your capabilities name.
pub trait Provider {
    /// Name, version, capabilities, hosts, auth scheme and default limits.
    fn describe() -> Info;

    /// Generate text (JSON when `req.json_schema` is set).
    fn generate_text(_req: TextRequest) -> Result<TextResult, ProviderError> {
        Err(unsupported("text"))
    }

    /// Generate one image.
    fn generate_image(_req: ImageRequest) -> Result<Image, ProviderError> {
        Err(unsupported("image"))
    }

    /// Speak a text.
    fn speak(_req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
        Err(unsupported("speech"))
    }

    /// Start a video; return `Progress::Pending` with a state you can resume from.
    fn submit_video(_req: VideoRequest) -> Result<Progress, ProviderError> {
        Err(unsupported("video"))
    }

    /// Check on a video from the state `submit_video` returned.
    fn poll_video(_state: String) -> Result<Progress, ProviderError> {
        Err(unsupported("video"))
    }
}

impl<T: Provider> Guest for T {
    fn describe() -> Info {
        T::describe()
    }
    fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
        T::generate_text(req)
    }
    fn generate_image(req: ImageRequest) -> Result<Image, ProviderError> {
        T::generate_image(req)
    }
    fn speak(req: SpeechRequest) -> Result<SpeechResult, ProviderError> {
        T::speak(req)
    }
    fn submit_video(req: VideoRequest) -> Result<Progress, ProviderError> {
        T::submit_video(req)
    }
    fn poll_video(state: String) -> Result<Progress, ProviderError> {
        T::poll_video(state)
    }
}

/// Export a [`Provider`] as the component's `chute:provider/provider` interface.
#[macro_export]
macro_rules! export {
    ($provider:ident) => {
        $crate::bindings::__export_plugin!($provider with_types_in $crate::bindings);
    };
}

/// The error for an operation the plugin does not offer.
pub fn unsupported(capability: &str) -> ProviderError {
    ProviderError::BadRequest(format!("this provider does not offer {capability}"))
}

impl Info {
    /// An `Info` with no hosts, no auth and no default limits; fill in the rest.
    pub fn new(name: &str, version: &str, capabilities: &[Capability]) -> Self {
        Info {
            name: name.to_string(),
            version: version.to_string(),
            capabilities: capabilities.to_vec(),
            hosts: Vec::new(),
            auth: Auth::None,
            limits: Limits {
                requests_per_minute: None,
                requests_per_day: None,
                max_concurrent_polls: None,
            },
        }
    }
}

/// A value from the plugin's `[providers.NAME]` table.
pub fn config(name: &str) -> Option<String> {
    host::config(name)
}

/// Log through the daemon (tagged with the plugin and job).
pub fn log(level: Level, message: &str) {
    host::log(level, message)
}

/// Standard base64 (with padding), as JSON APIs carry binary data.
pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decode standard base64; a bad payload is the provider's fault.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, ProviderError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|error| ProviderError::Other(format!("the provider sent bad base64: {error}")))
}
