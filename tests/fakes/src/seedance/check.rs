//! A submit checked as Ark checks it: JSON output fields strictly (a bad value is 400
//! `InvalidParameter` naming it), the legacy `--flag value` suffixes of the text item
//! loosely (a bad value falls back to the default), per-model value sets, the
//! `content[]` items and image roles (first frame, first+last, or references: never
//! mixed), and images as http(s) URLs or `data:image/<fmt>;base64,` URLs whose bytes
//! are that format, 300–6000 px a side, aspect between 0.4 and 2.5.

use base64::Engine as _;
use std::collections::HashMap;

use serde_json::Value;

use super::ark::{error, invalid};
use axum::response::Response;

/// What a model family accepts.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// Shortest and longest `duration`.
    pub seconds: (i64, i64),
    /// Whether `duration: -1` (the model picks) is allowed.
    pub model_picks: bool,
    /// `resolution` values.
    pub resolutions: &'static [&'static str],
    /// 1.0 only: `frames`, and `camera_fixed` (also 1.5).
    pub v1_0: bool,
    /// 2.x: no `camera_fixed`, no `flex`, references up to 9, video/audio inputs.
    pub v2: bool,
    /// `generate_audio` (1.5 pro and 2.x).
    pub audio: bool,
    /// Lite t2v takes no image; lite i2v needs one.
    pub images: Images,
}

/// Which image inputs a model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    /// None (text to video only).
    None,
    /// Required (image to video only), with up to this many references.
    Required(usize),
    /// Optional first/last frame, with up to this many references (0: none).
    Optional(usize),
}

const R_1: &[&str] = &["480p", "720p", "1080p"];
const R_2: &[&str] = &["480p", "720p", "1080p", "4k"];
const R_2_FAST: &[&str] = &["480p", "720p"];
const RATIOS: &[&str] = &["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"];
const BODY_KEYS: &[&str] = &[
    "model",
    "content",
    "safety_identifier",
    "callback_url",
    "return_last_frame",
    "service_tier",
    "execution_expires_after",
    "priority",
    "generate_audio",
    "draft",
    "camera_fixed",
    "watermark",
    "seed",
    "resolution",
    "ratio",
    "duration",
    "frames",
    "tools",
];

/// The family of a model id the fake knows (BytePlus and Volcengine ids; `ep-…`
/// endpoints count as 1.0 pro).
pub fn family(model: &str) -> Option<Family> {
    let v1 = |images| Family {
        seconds: (2, 12),
        model_picks: false,
        resolutions: R_1,
        v1_0: true,
        v2: false,
        audio: false,
        images,
    };
    let id = model.strip_prefix("doubao-").unwrap_or(model);
    let id = id.strip_prefix("dreamina-").unwrap_or(id);
    Some(match id {
        "seedance-1-0-pro-250528" | "seedance-1-0-pro-fast-251015" => v1(Images::Optional(0)),
        "seedance-1-0-lite-t2v-250428" => v1(Images::None),
        "seedance-1-0-lite-i2v-250428" => v1(Images::Required(4)),
        "seedance-1-5-pro-251215" => Family {
            seconds: (4, 12),
            model_picks: true,
            resolutions: R_1,
            v1_0: false,
            v2: false,
            audio: true,
            images: Images::Optional(0),
        },
        "seedance-2-0-260128" | "seedance-2-5-260628" => Family {
            seconds: (4, 15),
            model_picks: true,
            resolutions: R_2,
            v1_0: false,
            v2: true,
            audio: true,
            images: Images::Optional(9),
        },
        "seedance-2-0-fast-260128" | "seedance-2-0-mini-260615" => Family {
            seconds: (4, 15),
            model_picks: true,
            resolutions: R_2_FAST,
            v1_0: false,
            v2: true,
            audio: true,
            images: Images::Optional(9),
        },
        _ if model.starts_with("ep-") => v1(Images::Optional(0)),
        _ => return None,
    })
}

/// A checked submit: what the clip will be.
#[derive(Debug, Clone)]
pub struct Asked {
    /// `ratio` as the task reports it.
    pub ratio: String,
    /// `resolution`.
    pub resolution: String,
    /// Seconds.
    pub duration: u32,
    /// The seed (`-1` → one picked).
    pub seed: i64,
    /// Whether a `last_frame_url` was asked for.
    pub last_frame: bool,
    /// Width and height of the clip.
    pub size: (u32, u32),
}

/// Checks `body` for `model` (already known); the clip, or Ark's 400.
pub fn check(model: &str, family: Family, body: &Value, seq: u64) -> Result<Asked, Response> {
    let object = body
        .as_object()
        .ok_or_else(|| invalid("body", "the request body must be a JSON object", seq))?;
    if let Some(unknown) = object.keys().find(|key| !BODY_KEYS.contains(&key.as_str())) {
        return Err(invalid(unknown, "unknown parameter", seq));
    }
    let items = object
        .get("content")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .ok_or_else(|| {
            error(400, "MissingParameter", "The request failed because it is missing one or multiple required parameters: content.", "content", seq)
        })?;
    let (text, aspect, references) = check_content(model, family, items, seq)?;
    let flags = flags(text.as_deref().unwrap_or(""));
    let text_ratio = flags
        .get("ratio")
        .filter(|r| RATIOS.contains(&r.as_str()))
        .cloned();
    let ratio = match object.get("ratio") {
        Some(Value::String(ratio)) if RATIOS.contains(&ratio.as_str()) => ratio.clone(),
        Some(_) => {
            return Err(invalid(
                "ratio",
                "ratio must be one of 16:9, 4:3, 1:1, 3:4, 9:16, 21:9, adaptive",
                seq,
            ));
        }
        None => {
            text_ratio.unwrap_or_else(|| if aspect.is_some() { "adaptive" } else { "16:9" }.into())
        }
    };
    let default_resolution = if family.v1_0 && model.contains("pro") {
        "1080p"
    } else {
        "720p"
    };
    let resolution = match object.get("resolution") {
        Some(Value::String(r)) if family.resolutions.contains(&r.as_str()) => r.clone(),
        Some(_) => {
            return Err(invalid(
                "resolution",
                &format!(
                    "{model} supports resolution {}",
                    family.resolutions.join(", ")
                ),
                seq,
            ));
        }
        None => flags
            .get("resolution")
            .filter(|r| family.resolutions.contains(&r.as_str()))
            .cloned()
            .unwrap_or_else(|| default_resolution.into()),
    };
    let in_range = |seconds: i64| {
        (family.seconds.0..=family.seconds.1).contains(&seconds)
            || (family.model_picks && seconds == -1)
    };
    let duration = match object.get("duration") {
        Some(value) => match value.as_i64().filter(|s| in_range(*s)) {
            Some(seconds) => seconds,
            None => {
                return Err(invalid(
                    "duration",
                    &format!(
                        "duration must be an integer between {} and {} for {model}",
                        family.seconds.0, family.seconds.1
                    ),
                    seq,
                ));
            }
        },
        None => flags
            .get("duration")
            .and_then(|d| d.parse().ok())
            .filter(|s| in_range(*s))
            .unwrap_or(5),
    };
    let duration = if duration == -1 { 5 } else { duration as u32 };
    let duration = match object.get("frames") {
        None => duration,
        Some(frames) => match frames
            .as_i64()
            .filter(|f| family.v1_0 && (29..=289).contains(f) && (f - 25) % 4 == 0)
        {
            Some(frames) => (frames as u32).div_ceil(24),
            None => {
                return Err(invalid(
                    "frames",
                    "frames must be 25+4n between 29 and 289, on 1.0 models only",
                    seq,
                ));
            }
        },
    };
    let seed = match object.get("seed") {
        None => flags.get("seed").and_then(|s| s.parse().ok()).unwrap_or(-1),
        Some(value) => value
            .as_i64()
            .filter(|s| (-1..=u32::MAX as i64).contains(s))
            .ok_or_else(|| {
                invalid(
                    "seed",
                    "seed must be an integer between -1 and 4294967295",
                    seq,
                )
            })?,
    };
    for name in [
        "watermark",
        "return_last_frame",
        "camera_fixed",
        "generate_audio",
        "draft",
    ] {
        if object.get(name).is_some_and(|value| !value.is_boolean()) {
            return Err(invalid(name, &format!("{name} must be a boolean"), seq));
        }
    }
    let on = |name: &str| object.get(name).and_then(Value::as_bool) == Some(true);
    if object.contains_key("camera_fixed") && (family.v2 || references > 0) {
        return Err(invalid(
            "camera_fixed",
            &format!("camera_fixed is not supported for {model} or with reference images"),
            seq,
        ));
    }
    if object.contains_key("generate_audio") && !family.audio {
        return Err(invalid(
            "generate_audio",
            &format!("generate_audio is not supported for {model}"),
            seq,
        ));
    }
    if on("draft") && (!family.audio || family.v2 || resolution != "480p") {
        return Err(invalid(
            "draft",
            "draft is supported on seedance 1.5 pro at 480p only",
            seq,
        ));
    }
    match object.get("service_tier").map(|tier| tier.as_str()) {
        None | Some(Some("default")) => {}
        Some(Some("flex")) if !family.v2 => {}
        Some(_) => {
            return Err(invalid(
                "service_tier",
                &format!("service_tier must be default or flex (flex not on {model})"),
                seq,
            ));
        }
    }
    if let Some(after) = object.get("execution_expires_after")
        && !after
            .as_i64()
            .is_some_and(|s| (3600..=259_200).contains(&s))
    {
        return Err(invalid(
            "execution_expires_after",
            "execution_expires_after must be between 3600 and 259200",
            seq,
        ));
    }
    let shape_aspect = match ratio.as_str() {
        "adaptive" => aspect.unwrap_or(16.0 / 9.0),
        named => named
            .split_once(':')
            .and_then(|(w, h)| Some(w.parse::<f64>().ok()? / h.parse::<f64>().ok()?))
            .unwrap_or(16.0 / 9.0),
    };
    Ok(Asked {
        size: size(&resolution, shape_aspect),
        ratio,
        resolution,
        duration,
        seed,
        last_frame: on("return_last_frame"),
    })
}

/// The clip's size: the resolution's short side, the long side from the aspect.
fn size(resolution: &str, aspect: f64) -> (u32, u32) {
    let short: f64 = match resolution {
        "480p" => 480.0,
        "1080p" => 1080.0,
        "4k" => 2160.0,
        _ => 720.0,
    };
    let even = |pixels: f64| (pixels.round() as u32) & !1;
    if aspect >= 1.0 {
        (even(short * aspect), even(short))
    } else {
        (even(short), even(short / aspect))
    }
}

/// The `--name value` suffixes of a prompt, by long name.
pub fn flags(text: &str) -> HashMap<&'static str, String> {
    let mut found = HashMap::new();
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        let Some(name) = pair[0].strip_prefix("--") else {
            continue;
        };
        let long = match name {
            "resolution" | "rs" => "resolution",
            "ratio" | "rt" => "ratio",
            "duration" | "dur" => "duration",
            "framespersecond" | "fps" => "framespersecond",
            "seed" => "seed",
            "camerafixed" | "cf" => "camerafixed",
            "watermark" | "wm" => "watermark",
            _ => continue,
        };
        found.insert(long, pair[1].to_string());
    }
    found
}

/// The content items: the text (if any), the first image's aspect, the reference count.
fn check_content(
    model: &str,
    family: Family,
    items: &[Value],
    seq: u64,
) -> Result<(Option<String>, Option<f64>, usize), Response> {
    let mut text = None;
    let mut roles = Vec::new();
    let mut aspect = None;
    for (n, item) in items.iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "text" => {
                let Some(value) = item.get("text").and_then(Value::as_str) else {
                    return Err(invalid(
                        &format!("content[{n}].text"),
                        "a text item needs text",
                        seq,
                    ));
                };
                if text.replace(value.to_string()).is_some() {
                    return Err(invalid("content", "at most one text item is allowed", seq));
                }
            }
            "image_url" => {
                let url = item
                    .pointer("/image_url/url")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let shape = check_image(url, family, &format!("content[{n}].image_url"), seq)?;
                aspect = aspect.or(shape);
                let role = item.get("role").and_then(Value::as_str);
                if !matches!(
                    role,
                    None | Some("first_frame" | "last_frame" | "reference_image")
                ) {
                    return Err(invalid(
                        &format!("content[{n}].role"),
                        "role must be first_frame, last_frame or reference_image",
                        seq,
                    ));
                }
                roles.push(role);
            }
            "video_url" | "audio_url" | "draft_task"
                if family.v2 || (kind == "draft_task" && family.audio) => {}
            "video_url" | "audio_url" | "draft_task" => {
                return Err(invalid(
                    &format!("content[{n}].type"),
                    &format!("{kind} is not supported for {model}"),
                    seq,
                ));
            }
            _ => {
                return Err(invalid(
                    &format!("content[{n}].type"),
                    "type must be text, image_url, video_url, audio_url or draft_task",
                    seq,
                ));
            }
        }
    }
    let references = roles
        .iter()
        .filter(|role| **role == Some("reference_image"))
        .count();
    let roles_ok = match (roles.len(), references) {
        (0, _) => true,
        (count, refs) if refs > 0 => refs == count,
        (1, _) => roles[0] != Some("last_frame"),
        (2, _) => roles.contains(&Some("first_frame")) && roles.contains(&Some("last_frame")),
        _ => false,
    };
    if !roles_ok {
        return Err(invalid(
            "content.role",
            "first frame, first and last frame, and reference images are exclusive modes; two images need both first_frame and last_frame roles",
            seq,
        ));
    }
    let most = match family.images {
        Images::None if !roles.is_empty() => {
            return Err(invalid("content", &format!("{model} takes no image"), seq));
        }
        Images::Required(_) if roles.is_empty() => {
            return Err(invalid("content", &format!("{model} needs an image"), seq));
        }
        Images::None => 0,
        Images::Required(most) | Images::Optional(most) => most,
    };
    if references > most {
        return Err(invalid(
            "content",
            &format!("{model} takes at most {most} reference images"),
            seq,
        ));
    }
    if text.as_deref().is_none_or(|t| t.trim().is_empty()) && roles.is_empty() {
        return Err(error(
            400,
            "MissingParameter",
            "The request failed because it is missing one or multiple required parameters: content.text.",
            "content",
            seq,
        ));
    }
    Ok((text, aspect, references))
}

/// An image URL: http(s) (not fetched: aspect unknown), `asset://` on 2.x, or a
/// `data:` URL checked down to its pixels. The aspect when known.
fn check_image(url: &str, family: Family, param: &str, seq: u64) -> Result<Option<f64>, Response> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(None);
    }
    if url.starts_with("asset://") && family.v2 {
        return Ok(None);
    }
    let bad = |why: &str| invalid(param, why, seq);
    let (head, data) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .ok_or_else(|| bad("the image must be a URL or a data:image/<format>;base64, URL"))?;
    let format = head
        .strip_prefix("image/")
        .and_then(|f| f.strip_suffix(";base64"))
        .ok_or_else(|| bad("the data URL must be data:image/<format>;base64,"))?;
    let mut formats = vec!["jpeg", "png", "webp", "bmp", "tiff", "gif"];
    if family.audio {
        formats.extend(["heic", "heif"]);
    }
    if !formats.contains(&format) {
        return Err(bad(&format!(
            "image format {format} is not supported (lowercase jpeg, png, webp, bmp, tiff, gif)"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|_| bad("the image data is not valid base64"))?;
    if bytes.len() >= 30 << 20 {
        return Err(bad("the image must be smaller than 30 MB"));
    }
    let expected = match format {
        "jpeg" => image::ImageFormat::Jpeg,
        "png" => image::ImageFormat::Png,
        "webp" => image::ImageFormat::WebP,
        _ => return Ok(None), // formats the fake has no decoder for: taken on trust
    };
    let reader = image::ImageReader::with_format(std::io::Cursor::new(&bytes), expected);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|_| bad(&format!("the image data is not a {format} image")))?;
    if !(300..=6000).contains(&width) || !(300..=6000).contains(&height) {
        return Err(bad(&format!(
            "image sides must be 300 to 6000 pixels, not {width}x{height}"
        )));
    }
    let aspect = width as f64 / height as f64;
    if !(aspect > 0.4 && aspect < 2.5) {
        return Err(bad(&format!(
            "image aspect ratio must be between 0.4 and 2.5, not {aspect:.2}"
        )));
    }
    Ok(Some(aspect))
}
