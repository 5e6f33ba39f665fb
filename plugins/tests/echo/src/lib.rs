//! A well-behaved plugin with no network: answers text by echoing the prompt.
//! Used to show that the host keeps serving after a hostile plugin fails, and by
//! the call-overhead benchmark.

use chute_plugin_sdk::*;

struct Echo;

impl Provider for Echo {
    fn describe() -> Info {
        Info::new("echo", env!("CARGO_PKG_VERSION"), &[Capability::Text])
    }

    fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
        let prefix = config("prefix").unwrap_or_default();
        Ok(TextResult {
            text: format!("{prefix}{}", req.prompt),
            model: "echo".into(),
            input_tokens: Some(req.prompt.split_whitespace().count() as u32),
            output_tokens: None,
        })
    }
}

export!(Echo);
