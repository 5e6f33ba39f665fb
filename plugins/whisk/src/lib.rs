//! Google Labs Whisk images (unofficial, reverse-engineered, reported shut down on
//! 2026-04-30; ships disabled). The operator's "key" is the labs.google cookie
//! string, which the host attaches as the `cookie` header. One call:
//!
//! 1. `GET {base_url}/fx/api/auth/session` (cookie) mints a short-lived access token
//!    ([`session`]);
//! 2. `media.createOrUpdateWorkflow` (tRPC, cookie) opens a project ([`trpc`]);
//! 3. each reference image is captioned (`backbone.captionImage`) and uploaded
//!    (`backbone.uploadImage`) as a subject;
//! 4. `{api_base_url}/v1/whisk:generateImage` (text only) or `…:runImageRecipe` (with
//!    references) makes the image, with `Authorization: Bearer <token>` set by the
//!    plugin: the token is not the operator's key, and the host sends no cookie with a
//!    request the plugin authorizes itself ([`generate`]).
//!
//! The token lives for the call only (every call runs in a fresh sandbox). Every
//! failure is a provider error ([`failure`]); a retired service (404, 410, an HTML
//! page, a body that is not the API's) is `unavailable`, so a chain moves on.
//!
//! Settings (`[providers.NAME]`): `base_url` (labs origin, default
//! `https://labs.google`), `api_base_url` (default
//! `https://aisandbox-pa.googleapis.com`; its host must be on the allowlist),
//! `image_model` (text only, default `IMAGEN_3_5`), `recipe_model` (with references,
//! default `GEM_PIX`), `seed` (default 0).

mod failure;
mod generate;
mod session;
mod trpc;

use chute_plugin_sdk::*;

struct Whisk;

const DEFAULT_BASE: &str = "https://labs.google";
const DEFAULT_API: &str = "https://aisandbox-pa.googleapis.com";

/// A setting, when set and not blank.
fn setting(name: &str) -> Option<String> {
    config(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// An origin setting without its trailing slash.
fn origin(name: &str, default: &str) -> String {
    setting(name)
        .unwrap_or_else(|| default.into())
        .trim_end_matches('/')
        .to_string()
}

/// The labs.google origin (tRPC and the session; cookie auth).
fn labs() -> String {
    origin("base_url", DEFAULT_BASE)
}

/// The aisandbox API origin (bearer auth).
fn api() -> String {
    origin("api_base_url", DEFAULT_API)
}

impl Provider for Whisk {
    fn describe() -> Info {
        let mut info = Info::new("whisk", env!("CARGO_PKG_VERSION"), &[Capability::Image]);
        info.hosts = vec!["labs.google".into(), "aisandbox-pa.googleapis.com".into()];
        info.auth = Auth::Header("cookie".into());
        // Unpublished limits; community clients space requests a second apart per
        // account and rest it a minute after a 429.
        info.limits.requests_per_minute = Some(60);
        info
    }

    fn generate_image(req: ImageRequest) -> Result<Image, ProviderError> {
        if req.prompt.trim().is_empty() {
            return Err(ProviderError::BadRequest(
                "Whisk needs a prompt to draw from".into(),
            ));
        }
        let aspect = generate::aspect(req.aspect_ratio.as_deref());
        let references = generate::references(&req.references)?;
        let token = session::token()?;
        let workflow = trpc::workflow()?;
        let mut subjects = Vec::new();
        for reference in &references {
            let caption = trpc::caption(&workflow, reference)?;
            let id = trpc::upload(&workflow, reference, &caption)?;
            subjects.push(generate::Subject { caption, id });
        }
        generate::image(&token, &workflow, &req.prompt, aspect, &subjects)
    }
}

export!(Whisk);
