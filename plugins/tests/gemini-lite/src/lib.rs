//! A test-only Gemini client (text with `generateContent`, video with
//! `predictLongRunning` + operation polling), small enough to read in one go. It
//! exists to drive the host against the fake Gemini server in the real wire format;
//! the full Gemini plugin is its own issue.

use chute_plugin_sdk::http::{get, json_ok, post_json};
use chute_plugin_sdk::serde_json::{Value, json};
use chute_plugin_sdk::*;

struct GeminiLite;

const DEFAULT_BASE: &str = "https://generativelanguage.googleapis.com";

fn base_url() -> String {
    config("base_url")
        .unwrap_or_else(|| DEFAULT_BASE.into())
        .trim_end_matches('/')
        .to_string()
}

impl Provider for GeminiLite {
    fn describe() -> Info {
        let mut info = Info::new(
            "gemini-lite",
            env!("CARGO_PKG_VERSION"),
            &[Capability::Text, Capability::Video],
        );
        info.hosts = vec!["generativelanguage.googleapis.com".into()];
        info.auth = Auth::Header("x-goog-api-key".into());
        info.limits.requests_per_minute = Some(10);
        info.limits.max_concurrent_polls = Some(4);
        info
    }

    fn generate_text(req: TextRequest) -> Result<TextResult, ProviderError> {
        let model = config("model").unwrap_or_else(|| "gemini-2.5-flash".into());
        let mut body = json!({
            "contents": [{"role": "user", "parts": [{"text": req.prompt}]}],
        });
        if let Some(system) = req.system {
            body["systemInstruction"] = json!({"parts": [{"text": system}]});
        }
        if let Some(schema) = req.json_schema {
            let schema: Value = serde_json::from_str(&schema)
                .map_err(|error| ProviderError::BadRequest(format!("bad JSON schema: {error}")))?;
            body["generationConfig"] =
                json!({"responseMimeType": "application/json", "responseJsonSchema": schema});
        }
        let url = format!("{}/v1beta/models/{model}:generateContent", base_url());
        let answer = json_ok(post_json(&url, &body)?)?;
        if let Some(reason) = answer
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            return Err(ProviderError::ContentBlocked(format!(
                "prompt blocked: {reason}"
            )));
        }
        let candidate = answer
            .pointer("/candidates/0")
            .ok_or_else(|| ProviderError::Other("the answer has no candidates".into()))?;
        let finish = candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .unwrap_or("STOP");
        let text: String = candidate
            .pointer("/content/parts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|part| part.get("thought").and_then(Value::as_bool) != Some(true))
            .filter_map(|part| part.get("text")?.as_str())
            .collect();
        match finish {
            "STOP" => {}
            "SAFETY" | "PROHIBITED_CONTENT" | "BLOCKLIST" | "SPII" | "RECITATION" => {
                return Err(ProviderError::ContentBlocked(format!(
                    "output blocked: {finish}"
                )));
            }
            other => return Err(ProviderError::Other(format!("finished with {other}"))),
        }
        let tokens = |name: &str| {
            answer
                .pointer(&format!("/usageMetadata/{name}"))
                .and_then(Value::as_u64)
                .map(|n| n as u32)
        };
        Ok(TextResult {
            text,
            model: answer
                .get("modelVersion")
                .and_then(Value::as_str)
                .unwrap_or(&model)
                .to_string(),
            input_tokens: tokens("promptTokenCount"),
            output_tokens: tokens("candidatesTokenCount"),
        })
    }

    fn submit_video(req: VideoRequest) -> Result<Progress, ProviderError> {
        let model = config("video_model").unwrap_or_else(|| "veo-3.1-generate-preview".into());
        let mut instance = json!({"prompt": req.prompt});
        if let Some(frame) = req.first_frame {
            instance["image"] = json!({"bytesBase64Encoded": base64_encode(&frame.data), "mimeType": frame.mime_type});
        }
        let mut parameters = json!({"sampleCount": 1});
        if let Some(seconds) = req.duration_seconds {
            parameters["durationSeconds"] = json!(seconds);
        }
        if let Some(ratio) = req.aspect_ratio {
            parameters["aspectRatio"] = json!(ratio);
        }
        let url = format!("{}/v1beta/models/{model}:predictLongRunning", base_url());
        let body = json!({"instances": [instance], "parameters": parameters});
        let operation = json_ok(post_json(&url, &body)?)?;
        progress(&operation)
    }

    fn poll_video(state: String) -> Result<Progress, ProviderError> {
        if state.contains("..") || !state.starts_with("models/") {
            return Err(ProviderError::BadRequest(format!(
                "not an operation name: {state}"
            )));
        }
        let operation = json_ok(get(&format!("{}/v1beta/{state}", base_url()))?)?;
        progress(&operation)
    }
}

/// A `google.longrunning.Operation` as progress.
fn progress(operation: &Value) -> Result<Progress, ProviderError> {
    let name = operation
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Other("the operation has no name".into()))?;
    if operation.get("done").and_then(Value::as_bool) != Some(true) {
        let after = config("poll_ms")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(10_000);
        return Ok(Progress::Pending(Pending {
            state: name.to_string(),
            poll_after_ms: after,
        }));
    }
    if let Some(error) = operation.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(match error.get("code").and_then(Value::as_i64) {
            Some(3) => ProviderError::BadRequest(message.into()),
            Some(8) => ProviderError::RateLimited(None),
            _ => ProviderError::Unavailable(message.into()),
        });
    }
    let response = operation.pointer("/response/generateVideoResponse");
    if let Some(uri) = response
        .and_then(|response| response.pointer("/generatedSamples/0/video/uri"))
        .and_then(Value::as_str)
    {
        return Ok(Progress::Done(Media::Download(Download {
            url: uri.to_string(),
            mime_type: "video/mp4".into(),
        })));
    }
    let reasons = response
        .and_then(|response| response.get("raiMediaFilteredReasons"))
        .map(Value::to_string)
        .unwrap_or_else(|| "no video in the answer".into());
    Err(ProviderError::ContentBlocked(reasons))
}

export!(GeminiLite);
