//! Images from a native image model: the prompt and the reference images as inline
//! parts, `responseModalities: ["IMAGE"]` and the aspect ratio.

use chute_plugin_sdk::http::{json_ok, post_json};
use chute_plugin_sdk::serde_json::json;
use chute_plugin_sdk::{Image, ImageRequest, ProviderError, base64_decode, base64_encode};

use crate::answer;

/// Ratios the image models take.
const RATIOS: &[&str] = &[
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9",
];

/// Reference image types the API takes inline.
const REFERENCE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

/// Answers an image request.
pub fn generate(req: ImageRequest) -> Result<Image, ProviderError> {
    let model = crate::setting("image_model", "gemini-2.5-flash-image");
    let mut parts = vec![json!({"text": req.prompt})];
    for reference in &req.references {
        if !REFERENCE_TYPES.contains(&reference.mime_type.as_str()) {
            return Err(ProviderError::BadRequest(format!(
                "a reference image is {}; the Gemini API takes PNG, JPEG or WebP",
                reference.mime_type
            )));
        }
        parts.push(json!({"inlineData": {"mimeType": reference.mime_type, "data": base64_encode(&reference.data)}}));
    }
    let mut image_config = json!({});
    if let Some(ratio) = req.aspect_ratio.as_deref() {
        if !RATIOS.contains(&ratio) {
            return Err(ProviderError::BadRequest(format!(
                "aspect ratio {ratio} is not one the image models offer ({})",
                RATIOS.join(", ")
            )));
        }
        image_config["aspectRatio"] = json!(ratio);
    }
    if let Some(size) = crate::config("image_size").filter(|size| !size.is_empty()) {
        image_config["imageSize"] = json!(size);
    }
    let body = json!({
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": image_config},
    });
    let reply = json_ok(post_json(&crate::generate_url(&model)?, &body)?)?;
    let parts = answer::parts(&reply)?;
    if let Some((mime, data)) = parts
        .iter()
        .filter_map(answer::inline_data)
        .find(|(mime, _)| mime.starts_with("image/"))
    {
        return Ok(Image {
            mime_type: mime.to_string(),
            data: base64_decode(data)?,
        });
    }
    // Some gateways put the picture in the text as a data URI.
    let text: String = parts
        .iter()
        .filter_map(|part| part.get("text")?.as_str())
        .collect();
    if let Some((mime, data)) = data_uri(&text) {
        return Ok(Image {
            mime_type: mime,
            data: base64_decode(&data)?,
        });
    }
    Err(ProviderError::Other(format!(
        "the model answered without an image{}",
        if text.is_empty() {
            String::new()
        } else {
            format!(": {}", text.chars().take(120).collect::<String>())
        }
    )))
}

/// `data:image/png;base64,…` inside a text.
fn data_uri(text: &str) -> Option<(String, String)> {
    let start = text.find("data:image/")?;
    let rest = &text[start + 5..];
    let (mime, rest) = rest.split_once(";base64,")?;
    let data: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    Some((mime.to_string(), data))
}
