//! The image itself, on the aisandbox API with the session's bearer token:
//! `v1/whisk:generateImage` for a prompt alone, `v1/whisk:runImageRecipe` when
//! reference images were uploaded. Both answer `imagePanels[].generatedImages[]`
//! with the picture as raw base64 in `encodedImage` (a `data:` prefix is stripped).

use chute_plugin_sdk::bindings::chute::provider::host::Request;
use chute_plugin_sdk::http::send;
use chute_plugin_sdk::serde_json::{Value, json};
use chute_plugin_sdk::{Image, ProviderError, base64_decode, base64_encode};

use crate::failure;
use crate::trpc::SUBJECT;

/// Reference image types Whisk takes.
const REFERENCE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/webp"];

/// A reference image ready to send: a `data:` URI.
pub struct Reference {
    /// `data:image/png;base64,…`.
    pub data_uri: String,
}

/// An uploaded reference: Whisk's caption and its media id.
pub struct Subject {
    /// The caption Whisk wrote for it.
    pub caption: String,
    /// Its `uploadMediaGenerationId`.
    pub id: String,
}

/// The request's reference images as data URIs; a type Whisk does not take is the
/// request's fault.
pub fn references(images: &[Image]) -> Result<Vec<Reference>, ProviderError> {
    images
        .iter()
        .map(|image| {
            if !REFERENCE_TYPES.contains(&image.mime_type.as_str()) {
                return Err(ProviderError::BadRequest(format!(
                    "a reference image is {}; Whisk takes PNG, JPEG or WebP",
                    image.mime_type
                )));
            }
            Ok(Reference {
                data_uri: format!(
                    "data:{};base64,{}",
                    image.mime_type,
                    base64_encode(&image.data)
                ),
            })
        })
        .collect()
}

/// Whisk's aspect enum nearest to a `W:H` ratio (square when none is asked).
pub fn aspect(ratio: Option<&str>) -> &'static str {
    let value = ratio
        .and_then(|ratio| ratio.split_once(':'))
        .and_then(|(w, h)| Some(w.trim().parse::<f64>().ok()? / h.trim().parse::<f64>().ok()?))
        .filter(|value| value.is_finite() && *value > 0.0);
    match value {
        Some(value) if value > 1.1 => "IMAGE_ASPECT_RATIO_LANDSCAPE",
        Some(value) if value < 0.9 => "IMAGE_ASPECT_RATIO_PORTRAIT",
        _ => "IMAGE_ASPECT_RATIO_SQUARE",
    }
}

/// The request body and its endpoint.
fn request(
    workflow: &str,
    prompt: &str,
    aspect: &str,
    subjects: &[Subject],
) -> (&'static str, Value) {
    let seed: i64 = crate::setting("seed")
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(0);
    if subjects.is_empty() {
        let model = crate::setting("image_model").unwrap_or_else(|| "IMAGEN_3_5".into());
        let body = json!({
            "clientContext": {"workflowId": workflow},
            "imageModelSettings": {"imageModel": model, "aspectRatio": aspect},
            "seed": seed,
            "prompt": prompt,
            "mediaCategory": "MEDIA_CATEGORY_BOARD",
        });
        return ("v1/whisk:generateImage", body);
    }
    let model = crate::setting("recipe_model").unwrap_or_else(|| "GEM_PIX".into());
    let inputs: Vec<Value> = subjects
        .iter()
        .map(|subject| {
            json!({"caption": subject.caption,
                   "mediaInput": {"mediaCategory": SUBJECT, "mediaGenerationId": subject.id}})
        })
        .collect();
    let body = json!({
        "clientContext": {"workflowId": workflow, "tool": "BACKBONE"},
        "seed": seed,
        "imageModelSettings": {"imageModel": model, "aspectRatio": aspect},
        "userInstruction": prompt,
        "recipeMediaInputs": inputs,
    });
    ("v1/whisk:runImageRecipe", body)
}

/// Makes the image and returns the first one generated.
pub fn image(
    token: &str,
    workflow: &str,
    prompt: &str,
    aspect: &str,
    subjects: &[Subject],
) -> Result<Image, ProviderError> {
    let (path, body) = request(workflow, prompt, aspect, subjects);
    let labs = crate::labs();
    let response = send(Request {
        method: "POST".into(),
        url: format!("{}/{path}", crate::api()),
        headers: vec![
            // The session's token, not the operator's key: the host attaches no
            // cookie to a request that carries its own authorization.
            ("authorization".into(), format!("Bearer {token}")),
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
            ("origin".into(), labs.clone()),
            ("referer".into(), format!("{labs}/")),
        ],
        body: body.to_string().into_bytes(),
    })?;
    let what = path.trim_start_matches("v1/");
    let answer = failure::json(&response, what)?;
    first_image(&answer, what)
}

/// The first generated image of an answer, decoded and typed by its bytes.
fn first_image(answer: &Value, what: &str) -> Result<Image, ProviderError> {
    let Some(panels) = answer.get("imagePanels").and_then(Value::as_array) else {
        return Err(failure::malformed(what, "imagePanels"));
    };
    let Some(encoded) = panels
        .iter()
        .filter_map(|panel| panel.get("generatedImages")?.as_array())
        .flatten()
        .find_map(|image| image.get("encodedImage")?.as_str())
    else {
        return Err(ProviderError::Unavailable(format!(
            "{what}: Whisk answered without an image"
        )));
    };
    let encoded = match encoded.split_once(";base64,") {
        Some((prefix, data)) if prefix.starts_with("data:") => data,
        _ => encoded,
    };
    let data =
        base64_decode(encoded).map_err(|_| failure::malformed(what, "decodable encodedImage"))?;
    let Some(mime) = sniff(&data) else {
        return Err(failure::malformed(what, "PNG, JPEG or WebP image"));
    };
    Ok(Image {
        mime_type: mime.into(),
        data,
    })
}

/// The image type by its magic bytes.
fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if data.starts_with(b"RIFF") && data.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_map_to_whisk_enums_and_answers_to_images() {
        assert_eq!(aspect(Some("9:16")), "IMAGE_ASPECT_RATIO_PORTRAIT");
        assert_eq!(aspect(Some("16:9")), "IMAGE_ASPECT_RATIO_LANDSCAPE");
        assert_eq!(aspect(Some("1:1")), "IMAGE_ASPECT_RATIO_SQUARE");
        assert_eq!(aspect(Some("0:0")), "IMAGE_ASPECT_RATIO_SQUARE");
        assert_eq!(aspect(None), "IMAGE_ASPECT_RATIO_SQUARE");
        let png = b"\x89PNG\r\n\x1a\nrest";
        let answer = json!({"imagePanels": [{"generatedImages": [
            {"encodedImage": format!("data:image/png;base64,{}", base64_encode(png))}]}]});
        let image = first_image(&answer, "g").ok().expect("an image");
        assert_eq!(
            (image.mime_type.as_str(), image.data.as_slice()),
            ("image/png", &png[..])
        );
        let empty = json!({"imagePanels": [{"generatedImages": []}]});
        assert!(matches!(
            first_image(&empty, "g"),
            Err(ProviderError::Unavailable(_))
        ));
        let text = json!({"imagePanels": [{"generatedImages": [{"encodedImage": base64_encode(b"hello")}]}]});
        assert!(matches!(
            first_image(&text, "g"),
            Err(ProviderError::Unavailable(_))
        ));
        assert!(matches!(
            first_image(&json!({"x": 1}), "g"),
            Err(ProviderError::Unavailable(_))
        ));
    }
}
