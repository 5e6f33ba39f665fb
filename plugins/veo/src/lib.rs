//! Veo on the Gemini API: `predictLongRunning` submits a clip (prompt, optional first
//! frame, aspect ratio, duration, resolution, negative prompt, person generation), the
//! operation is polled by name, and the finished video is downloaded by the host from
//! `response.generateVideoResponse.generatedSamples[].video.uri` (the wire name; the
//! SDKs rename it).
//!
//! Settings (`[providers.NAME]`): `model` (default `veo-3.1-fast-generate-preview`),
//! `resolution` (`720p`), `negative_prompt`, `person_generation` (`allow_adult`,
//! `allow_all`, `dont_allow`; unset leaves it to the API), `poll_ms` (10000).

mod operation;

use chute_plugin_sdk::http::{get, json_ok, post_json};
use chute_plugin_sdk::serde_json::{Value, json};
use chute_plugin_sdk::*;

struct Veo;

const DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";

fn base_url() -> String {
    config("base_url")
        .unwrap_or_else(|| DEFAULT_BASE.into())
        .trim_end_matches('/')
        .to_string()
}

fn setting(name: &str) -> Option<String> {
    config(name).filter(|value| !value.trim().is_empty())
}

impl Provider for Veo {
    fn describe() -> Info {
        let mut info = Info::new("veo", env!("CARGO_PKG_VERSION"), &[Capability::Video]);
        info.hosts = vec!["generativelanguage.googleapis.com".into()];
        info.auth = Auth::Header("x-goog-api-key".into());
        info.limits.requests_per_minute = Some(10);
        info.limits.max_concurrent_polls = Some(4);
        info
    }

    fn submit_video(req: VideoRequest) -> Result<Progress, ProviderError> {
        let model = setting("model").unwrap_or_else(|| "veo-3.1-fast-generate-preview".into());
        if model.contains(['/', '?', '#', ':']) || model.contains("..") {
            return Err(ProviderError::BadRequest(format!(
                "`{model}` is not a model id"
            )));
        }
        if req.prompt.trim().is_empty() && req.first_frame.is_none() {
            return Err(ProviderError::BadRequest(
                "a Veo clip needs a prompt or a first frame".into(),
            ));
        }
        let mut instance = json!({"prompt": req.prompt});
        if let Some(frame) = req.first_frame {
            if !matches!(frame.mime_type.as_str(), "image/png" | "image/jpeg") {
                return Err(ProviderError::BadRequest(format!(
                    "Veo takes a PNG or JPEG first frame, not {}",
                    frame.mime_type
                )));
            }
            instance["image"] = json!({"bytesBase64Encoded": base64_encode(&frame.data), "mimeType": frame.mime_type});
        }
        let resolution = setting("resolution").unwrap_or_else(|| "720p".into());
        let mut parameters = json!({
            "sampleCount": 1,
            "durationSeconds": seconds(req.duration_seconds, &model, &resolution),
            "aspectRatio": aspect(req.aspect_ratio.as_deref()),
            "resolution": resolution,
        });
        if let Some(negative) = setting("negative_prompt") {
            parameters["negativePrompt"] = json!(negative);
        }
        if let Some(person) = setting("person_generation") {
            parameters["personGeneration"] = json!(person);
        }
        let url = format!("{}/v1beta/models/{model}:predictLongRunning", base_url());
        let operation = json_ok(post_json(
            &url,
            &json!({"instances": [instance], "parameters": parameters}),
        )?)?;
        operation::progress(&operation)
    }

    fn poll_video(state: String) -> Result<Progress, ProviderError> {
        operation::check_name(&state)?;
        let operation: Value = json_ok(get(&format!("{}/v1beta/{state}", base_url()))?)?;
        operation::progress(&operation)
    }
}

/// Veo 3 makes 4, 6 or 8 seconds (8 at 1080p and 4k; Veo 2 makes 5 to 8): the
/// shortest that covers the request.
fn seconds(asked: Option<u32>, model: &str, resolution: &str) -> u32 {
    let asked = asked.unwrap_or(8);
    if resolution != "720p" {
        return 8;
    }
    if model.starts_with("veo-2") {
        return asked.clamp(5, 8);
    }
    [4, 6, 8].into_iter().find(|s| *s >= asked).unwrap_or(8)
}

/// Veo makes 16:9 or 9:16: the nearer of the two (a square video is cropped from 9:16).
fn aspect(asked: Option<&str>) -> &'static str {
    let ratio = asked
        .and_then(|ratio| ratio.split_once(':'))
        .and_then(|(w, h)| Some(w.trim().parse::<f64>().ok()? / h.trim().parse::<f64>().ok()?));
    match ratio {
        Some(ratio) if ratio > 1.0 => "16:9",
        Some(_) => "9:16",
        None => "16:9",
    }
}

export!(Veo);
