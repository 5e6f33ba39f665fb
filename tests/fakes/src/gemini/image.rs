//! Native image models (`*-image`): one PNG part sized to `imageConfig.aspectRatio`
//! (a text part first when TEXT is among the modalities), 1290 output tokens an
//! image and 258 input tokens a reference. A block is `IMAGE_SAFETY` with no parts;
//! a truncated answer is `NO_IMAGE` (the model wrote text instead).

use serde_json::{Value, json};

use super::Inner;
use super::content::{Asked, json_answer, tokens};
use crate::faults::Fault;
use crate::google::{field, invalid, unknown_field};
use crate::media;

/// Answers an image call.
pub(super) fn answer(
    inner: &Inner,
    model: &str,
    asked: &Asked,
    fault: Option<&Fault>,
) -> axum::response::Response {
    let image_config = field(&asked.config, "imageConfig")
        .cloned()
        .unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(
        &image_config,
        &["aspectRatio", "imageSize", "personGeneration"],
        "generation_config.image_config",
    ) {
        return refusal;
    }
    let aspect = field(&image_config, "aspectRatio")
        .and_then(Value::as_str)
        .unwrap_or("1:1");
    let Some((width, height)) = media::image_size(aspect) else {
        return invalid(&format!(
            "* GenerateContentRequest.generation_config.image_config.aspect_ratio: unsupported aspect ratio {aspect}"
        ));
    };
    let scale = match field(&image_config, "imageSize").and_then(Value::as_str) {
        None | Some("1K") => 1,
        Some("2K") => 2,
        Some("4K") => 4,
        Some(other) => {
            return invalid(&format!(
                "* GenerateContentRequest.generation_config.image_config.image_size: unsupported image size {other}"
            ));
        }
    };
    let prompt_tokens = tokens(&asked.text) + 258 * asked.images.len() as u64;
    let usage = |output: u64| {
        json!({"promptTokenCount": prompt_tokens, "candidatesTokenCount": output,
               "totalTokenCount": prompt_tokens + output,
               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens(&asked.text)},
                                       {"modality": "IMAGE", "tokenCount": 258 * asked.images.len()}],
               "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": output}]})
    };
    match fault {
        Some(Fault::Blocked) => return json_answer(model, json!([]), "IMAGE_SAFETY", usage(0)),
        Some(Fault::Truncated) => {
            let words = "I can describe this scene, but I cannot draw it.";
            return json_answer(
                model,
                json!([{"text": words}]),
                "NO_IMAGE",
                usage(tokens(words)),
            );
        }
        _ => {}
    }
    let modalities: Vec<&str> = field(&asked.config, "responseModalities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut parts = Vec::new();
    if modalities.is_empty() || modalities.contains(&"TEXT") {
        parts.push(json!({"text": "Here is the image you asked for."}));
    }
    if inner.state().thought_decoys {
        let decoy = media::png(64, 64, "thought");
        parts.push(
            json!({"thought": true, "inlineData": {"mimeType": "image/png", "data": b64(&decoy)}}),
        );
    }
    let png = media::png(width * scale, height * scale, &asked.text);
    parts.push(json!({"inlineData": {"mimeType": "image/png", "data": b64(&png)}}));
    json_answer(model, Value::Array(parts), "STOP", usage(1290))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
