//! Reading a `GenerateContentResponse`: prompt blocks, every finish reason, the
//! candidate's parts (skipping thoughts) and the usage metadata.

use chute_plugin_sdk::ProviderError;
use chute_plugin_sdk::serde_json::Value;

/// The first candidate's parts, once blocks and bad finish reasons are ruled out.
pub fn parts(answer: &Value) -> Result<Vec<Value>, ProviderError> {
    if let Some(reason) = answer
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Err(ProviderError::ContentBlocked(format!(
            "the prompt was blocked ({reason}); reword it"
        )));
    }
    let candidate = answer.pointer("/candidates/0").ok_or_else(|| {
        ProviderError::Other("the answer has neither candidates nor a block reason".into())
    })?;
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    finish_reason(finish)?;
    Ok(candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|part| part.get("thought").and_then(Value::as_bool) != Some(true))
        .cloned()
        .collect())
}

/// What a finish reason means; `Ok` for a complete answer.
pub fn finish_reason(reason: &str) -> Result<(), ProviderError> {
    match reason {
        "STOP" | "FINISH_REASON_UNSPECIFIED" => Ok(()),
        "MAX_TOKENS" => Err(ProviderError::Other(
            "the answer was cut off at the output token limit (MAX_TOKENS)".into(),
        )),
        "SAFETY"
        | "PROHIBITED_CONTENT"
        | "BLOCKLIST"
        | "SPII"
        | "RECITATION"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => Err(ProviderError::ContentBlocked(format!(
            "the output was blocked ({reason})"
        ))),
        "NO_IMAGE" | "IMAGE_OTHER" => Err(ProviderError::Other(format!(
            "the model answered without an image ({reason})"
        ))),
        "LANGUAGE" => Err(ProviderError::BadRequest(
            "the model does not support the prompt's language (LANGUAGE)".into(),
        )),
        "MALFORMED_FUNCTION_CALL" | "UNEXPECTED_TOOL_CALL" => Err(ProviderError::Other(format!(
            "the model answered with a tool call ({reason})"
        ))),
        other => Err(ProviderError::Other(format!(
            "the answer ended with {other}"
        ))),
    }
}

/// A usage count (`promptTokenCount`, …).
pub fn tokens(answer: &Value, name: &str) -> Option<u32> {
    answer
        .pointer(&format!("/usageMetadata/{name}"))
        .and_then(Value::as_u64)
        .map(|count| count.min(u32::MAX as u64) as u32)
}

/// The model that answered (`modelVersion`), else the one asked.
pub fn model(answer: &Value, asked: &str) -> String {
    answer
        .get("modelVersion")
        .and_then(Value::as_str)
        .unwrap_or(asked)
        .to_string()
}

/// An inline data part's (mime type, base64 data); both spellings.
pub fn inline_data(part: &Value) -> Option<(&str, &str)> {
    let data = part.get("inlineData").or_else(|| part.get("inline_data"))?;
    let mime = data
        .get("mimeType")
        .or_else(|| data.get("mime_type"))?
        .as_str()?;
    Some((mime, data.get("data")?.as_str()?))
}
