//! ByteDance Seedance video through BytePlus ModelArk's "content generation tasks"
//! (Volcengine Ark in China: same paths and body). `POST {base}/contents/generations/tasks`
//! submits a clip (a text item, an optional first frame as a `data:` URL, ratio,
//! duration, resolution, watermark, seed as JSON fields, never as prompt flags); the
//! task is polled by id (`queued` → `running` → `succeeded` | `failed` | `expired` |
//! `cancelled`); the finished video is `content.video_url`, a pre-signed TOS link valid
//! for 24 hours, which the host downloads (without the key: it is not the API origin).
//!
//! Settings (`[providers.NAME]`): `base_url` (an origin, or an origin with `/api/v3`;
//! default BytePlus `https://ark.ap-southeast.bytepluses.com/api/v3`), `model` (default
//! `seedance-1-0-pro-250528`; Volcengine ids start with `doubao-`), `resolution`
//! (`720p`), `watermark` (`false`), `seed`, `camera_fixed`, `generate_audio`,
//! `poll_ms` (10000).

mod errors;
mod request;
mod task;

use chute_plugin_sdk::http::{get, post_json};
use chute_plugin_sdk::serde_json::Value;
use chute_plugin_sdk::*;

struct Seedance;

/// BytePlus ModelArk, the international region that serves Seedance.
const DEFAULT_BASE: &str = "https://ark.ap-southeast.bytepluses.com/api/v3";

/// The API root: the configured `base_url` (with `/api/v3` added to a bare origin).
fn base_url() -> String {
    let base = config("base_url")
        .filter(|base| !base.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_BASE.into());
    let base = base.trim().trim_end_matches('/');
    let path_start = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|after| base[after..].find('/').map(|slash| after + slash));
    match path_start {
        Some(_) => base.to_string(),
        None => format!("{base}/api/v3"),
    }
}

/// A non-empty setting.
fn setting(name: &str) -> Option<String> {
    config(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

impl Provider for Seedance {
    fn describe() -> Info {
        let mut info = Info::new("seedance", env!("CARGO_PKG_VERSION"), &[Capability::Video]);
        info.hosts = vec![
            // The APIs (exact names: only these get the key).
            "ark.ap-southeast.bytepluses.com".into(),
            "ark.cn-beijing.volces.com".into(),
            // TOS buckets serving the pre-signed video and last-frame URLs.
            "*.tos-ap-southeast-1.volces.com".into(),
            "*.tos-ap-southeast-1.bytepluses.com".into(),
            "*.tos-cn-beijing.volces.com".into(),
        ];
        info.auth = Auth::Bearer;
        // Creation is capped per account and model (180 to 600 RPM); running tasks
        // by a concurrency of 3 to 10, the rest wait queued without an error.
        info.limits.requests_per_minute = Some(60);
        info.limits.max_concurrent_polls = Some(3);
        info
    }

    fn submit_video(req: VideoRequest) -> Result<Progress, ProviderError> {
        let body = request::body(&req)?;
        let url = format!("{}/contents/generations/tasks", base_url());
        let created = errors::json_ok(post_json(&url, &body)?)?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::Other("the task was created without an id".into()))?;
        task::check_id(id)?;
        Ok(task::pending(id))
    }

    fn poll_video(state: String) -> Result<Progress, ProviderError> {
        task::check_id(&state)?;
        let url = format!("{}/contents/generations/tasks/{state}", base_url());
        let found = errors::json_ok(get(&url)?)?;
        task::progress(&state, &found)
    }
}

export!(Seedance);
