//! The plugin contract as Rust types: wasmtime's bindings generated from
//! `wit/provider.wit` (`chute:provider@0.2.0`) and the WIT records every other
//! provider module speaks. This module depends on nothing else in `provider/`, so the
//! network (`http.rs`), the key pools (`keys.rs`) and the sandbox (`plugin.rs`) all
//! sit above it.

/// Bindings generated from `wit/provider.wit`.
#[allow(missing_docs)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "chute:provider/plugin",
        imports: { default: async },
        exports: { default: async },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

pub(super) use generated::{Plugin, PluginPre, chute};

pub use generated::chute::provider::host::{HttpError, Level, Request, Response};
pub use generated::chute::provider::types::{
    Auth, Capability, Download, Image, ImageRequest, Info, Limits, Media, Pending, Progress,
    ProviderError, SpeechRequest, SpeechResult, TextRequest, TextResult, VideoRequest, WordTime,
};

/// The WIT package version this host implements; plugins must match major.minor.
pub const WIT_VERSION: &str = "0.2.0";
