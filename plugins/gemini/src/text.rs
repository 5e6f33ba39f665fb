//! Text, and JSON matching a schema (`responseMimeType: application/json` with
//! `responseJsonSchema`).

use chute_plugin_sdk::http::{json_ok, post_json};
use chute_plugin_sdk::serde_json::{self, Value, json};
use chute_plugin_sdk::{ProviderError, TextRequest, TextResult};

use crate::answer;

/// Answers a text request.
pub fn generate(req: TextRequest) -> Result<TextResult, ProviderError> {
    let model = crate::setting("model", "gemini-2.5-flash");
    let mut body = json!({"contents": [{"role": "user", "parts": [{"text": req.prompt}]}]});
    if let Some(system) = req.system {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
    }
    let mut generation = json!({});
    if let Some(schema) = req.json_schema {
        let schema: Value = serde_json::from_str(&schema).map_err(|error| {
            ProviderError::BadRequest(format!("the JSON schema does not parse: {error}"))
        })?;
        generation["responseMimeType"] = json!("application/json");
        generation["responseJsonSchema"] = schema;
    }
    if let Some(temperature) = req.temperature {
        generation["temperature"] = json!(temperature);
    }
    if let Some(limit) = req.max_output_tokens {
        generation["maxOutputTokens"] = json!(limit);
    }
    if generation
        .as_object()
        .is_some_and(|fields| !fields.is_empty())
    {
        body["generationConfig"] = generation;
    }
    let reply = json_ok(post_json(&crate::generate_url(&model)?, &body)?)?;
    let parts = answer::parts(&reply)?;
    let text: String = parts
        .iter()
        .filter_map(|part| part.get("text")?.as_str())
        .collect();
    if text.trim().is_empty() {
        return Err(ProviderError::Other("the answer holds no text".into()));
    }
    // Thinking tokens are billed as output.
    let output = match (
        answer::tokens(&reply, "candidatesTokenCount"),
        answer::tokens(&reply, "thoughtsTokenCount"),
    ) {
        (None, None) => None,
        (written, thought) => Some(written.unwrap_or(0).saturating_add(thought.unwrap_or(0))),
    };
    Ok(TextResult {
        text,
        model: answer::model(&reply, &model),
        input_tokens: answer::tokens(&reply, "promptTokenCount"),
        output_tokens: output,
    })
}
