//! Reading a chat completion: an `error` inside a 200 (OpenRouter, once a model has
//! started), the first choice's refusal and finish reason, its content (code fences
//! stripped; reasoning never read as the answer), the usage and the model.

use chute_plugin_sdk::ProviderError;
use chute_plugin_sdk::serde_json::Value;

use crate::failure::{self, Said};

/// A complete answer.
#[derive(Debug, PartialEq)]
pub struct Reply {
    /// `choices[0].message.content`, fences stripped.
    pub content: String,
    /// The model that answered.
    pub model: String,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u32>,
    /// `usage.completion_tokens`.
    pub completion_tokens: Option<u32>,
}

/// The answer in a 2xx body, or the error it holds.
pub fn read(body: &Value, asked: &str) -> Result<Reply, ProviderError> {
    if let Some(error) = body.get("error").filter(|error| !error.is_null()) {
        // OpenRouter: errors after the model started come back as HTTP 200.
        let said = Said::read(body.to_string().as_bytes());
        let status = error
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| (400..600).contains(code))
            .unwrap_or(502);
        return Err(failure::from_parts(status, &said, || None));
    }
    let choice = body
        .pointer("/choices/0")
        .ok_or_else(|| ProviderError::Other("the answer has no choices".into()))?;
    let message = choice
        .get("message")
        .ok_or_else(|| ProviderError::Other("the answer's choice has no message".into()))?;
    if let Some(refusal) = message
        .get("refusal")
        .and_then(Value::as_str)
        .filter(|refusal| !refusal.trim().is_empty())
    {
        return Err(ProviderError::ContentBlocked(format!(
            "the model refused: {refusal}"
        )));
    }
    match choice.get("finish_reason").and_then(Value::as_str) {
        None | Some("stop" | "eos" | "end_turn") => {}
        Some("length") => {
            return Err(ProviderError::Other(
                "the answer was cut off at the token limit (finish_reason: length); raise max_tokens"
                    .into(),
            ));
        }
        Some("content_filter") => {
            return Err(ProviderError::ContentBlocked(
                "the provider's content filter withheld the answer (finish_reason: content_filter)"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(ProviderError::Other(format!(
                "the answer ended with finish_reason {other}"
            )));
        }
    }
    let content = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        // Some servers send content as parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        Some(Value::Null) | None => String::new(),
        Some(_) => {
            return Err(ProviderError::Other(
                "the answer's content is neither text nor parts".into(),
            ));
        }
    };
    let content = strip_fences(&content).to_string();
    if content.trim().is_empty() {
        return Err(ProviderError::Other("the answer holds no text".into()));
    }
    let tokens = |name: &str| {
        body.pointer(&format!("/usage/{name}"))
            .and_then(Value::as_u64)
            .map(|count| count.min(u64::from(u32::MAX)) as u32)
    };
    Ok(Reply {
        content,
        model: body
            .get("model")
            .and_then(Value::as_str)
            .filter(|model| !model.is_empty())
            .unwrap_or(asked)
            .to_string(),
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
    })
}

/// The text inside a ```json … ``` fence, or the text as it is.
pub fn strip_fences(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let rest = rest.split_once('\n').map_or("", |(_, body)| body);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chute_plugin_sdk::serde_json::json;

    #[test]
    fn answers_refusals_cut_offs_and_in_band_errors_are_told_apart() {
        let ok = json!({"model": "gpt-4o-mini-2024-07-18", "choices": [{"finish_reason": "stop",
            "message": {"role": "assistant", "content": "```json\n{\"a\": 1}\n```"}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5}});
        let reply = read(&ok, "gpt-4o-mini").ok();
        assert_eq!(
            reply,
            Some(Reply {
                content: "{\"a\": 1}".into(),
                model: "gpt-4o-mini-2024-07-18".into(),
                prompt_tokens: Some(12),
                completion_tokens: Some(5)
            })
        );
        let refused = json!({"choices": [{"finish_reason": "stop",
            "message": {"content": null, "refusal": "I can't help with that."}}]});
        assert!(matches!(
            read(&refused, "m"),
            Err(ProviderError::ContentBlocked(_))
        ));
        let cut =
            json!({"choices": [{"finish_reason": "length", "message": {"content": "{\"a\""}}]});
        assert!(matches!(read(&cut, "m"), Err(ProviderError::Other(_))));
        let in_band = json!({"error": {"code": 502, "message": "Provider returned error"}});
        assert!(matches!(
            read(&in_band, "m"),
            Err(ProviderError::Unavailable(_))
        ));
        assert_eq!(strip_fences("  {\"x\":2} "), "{\"x\":2}");
    }
}
