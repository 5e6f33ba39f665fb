//! The submit body: `model`, the `content[]` items (the prompt as a text item, the
//! first frame as an `image_url` item holding a `data:image/<fmt>;base64,` URL with role
//! `first_frame`) and the output parameters as JSON fields (strictly validated by the
//! API; the legacy `--flag value` prompt suffixes are loosely validated and never sent).

use chute_plugin_sdk::serde_json::{Value, json};
use chute_plugin_sdk::{ProviderError, VideoRequest, base64_encode};

use crate::setting;

/// The documented default: Seedance 1.0 pro on BytePlus.
const DEFAULT_MODEL: &str = "seedance-1-0-pro-250528";

/// The ratios the API takes (besides `adaptive`, which follows the first frame).
const RATIOS: &[(&str, f64)] = &[
    ("16:9", 16.0 / 9.0),
    ("4:3", 4.0 / 3.0),
    ("1:1", 1.0),
    ("3:4", 3.0 / 4.0),
    ("9:16", 9.0 / 16.0),
    ("21:9", 21.0 / 9.0),
];

/// Image types the API reads (HEIC/HEIF only on 1.5 and 2.x: not sent here).
const IMAGE_TYPES: &[&str] = &["jpeg", "png", "webp", "bmp", "tiff", "gif"];

/// The JSON body for `req`.
pub fn body(req: &VideoRequest) -> Result<Value, ProviderError> {
    let model = setting("model").unwrap_or_else(|| DEFAULT_MODEL.into());
    if model.is_empty()
        || !model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ProviderError::BadRequest(format!(
            "`{model}` is not a Seedance model or endpoint id"
        )));
    }
    let prompt = req.prompt.trim();
    if prompt.is_empty() && req.first_frame.is_none() {
        return Err(ProviderError::BadRequest(
            "a Seedance clip needs a prompt or a first frame".into(),
        ));
    }
    let mut content = Vec::new();
    if !prompt.is_empty() {
        content.push(json!({"type": "text", "text": prompt}));
    }
    if let Some(frame) = &req.first_frame {
        let kind = frame
            .mime_type
            .trim()
            .to_ascii_lowercase()
            .strip_prefix("image/")
            .map(|kind| {
                if kind == "jpg" {
                    "jpeg".into()
                } else {
                    kind.to_string()
                }
            })
            .filter(|kind| IMAGE_TYPES.contains(&kind.as_str()))
            .ok_or_else(|| {
                ProviderError::BadRequest(format!(
                    "Seedance takes a JPEG, PNG, WebP, BMP, TIFF or GIF first frame, not {}",
                    frame.mime_type
                ))
            })?;
        let url = format!("data:image/{kind};base64,{}", base64_encode(&frame.data));
        content
            .push(json!({"type": "image_url", "image_url": {"url": url}, "role": "first_frame"}));
    }
    let mut body = json!({
        "model": model,
        "content": content,
        "duration": seconds(req.duration_seconds, &model),
        "resolution": setting("resolution").unwrap_or_else(|| "720p".into()),
        "watermark": flag("watermark")?.unwrap_or(false),
    });
    if let Some(ratio) = ratio(req.aspect_ratio.as_deref()) {
        body["ratio"] = json!(ratio);
    }
    if let Some(seed) = setting("seed") {
        let seed: i64 = seed.parse().map_err(|_| {
            ProviderError::BadRequest(format!("seed must be a whole number, not {seed}"))
        })?;
        body["seed"] = json!(seed);
    }
    for name in ["camera_fixed", "generate_audio"] {
        if let Some(value) = flag(name)? {
            body[name] = json!(value);
        }
    }
    Ok(body)
}

/// A `true`/`false` setting.
fn flag(name: &str) -> Result<Option<bool>, ProviderError> {
    setting(name)
        .map(|value| match value.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ProviderError::BadRequest(format!(
                "{name} must be true or false, not {value}"
            ))),
        })
        .transpose()
}

/// The asked length within what the model family makes (1.0: 2–12 s; 1.5: 4–12 s;
/// 2.x: 4–15 s; an endpoint id's model is unknown: 4–12 s fits them all); 5 s when
/// nothing was asked.
fn seconds(asked: Option<u32>, model: &str) -> u32 {
    let (low, high) = if model.contains("seedance-1-0") {
        (2, 12)
    } else if model.contains("seedance-2-") {
        (4, 15)
    } else {
        (4, 12)
    };
    asked.unwrap_or(5).clamp(low, high)
}

/// The asked ratio when the API has it, else the nearest it has; none asked leaves
/// the API's default (16:9 from text, the image's own from a first frame).
fn ratio(asked: Option<&str>) -> Option<&'static str> {
    let asked = asked?.trim();
    if let Some((name, _)) = RATIOS.iter().find(|(name, _)| *name == asked) {
        return Some(name);
    }
    let (w, h) = asked.split_once(':')?;
    let value = w.trim().parse::<f64>().ok()? / h.trim().parse::<f64>().ok()?;
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    RATIOS
        .iter()
        .min_by(|a, b| {
            let distance = |ratio: f64| (ratio.ln() - value.ln()).abs();
            distance(a.1).total_cmp(&distance(b.1))
        })
        .map(|(name, _)| *name)
}
