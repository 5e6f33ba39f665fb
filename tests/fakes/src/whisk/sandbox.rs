//! The aisandbox API origin: `v1/whisk:generateImage` (a prompt) and
//! `v1/whisk:runImageRecipe` (a prompt and uploaded references), bearer auth with the
//! tokens the session minted, Google's error envelope, unknown fields refused, and
//! real PNGs sized to the aspect enum as raw base64.

use std::time::Instant;

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Inner, api_fault, cut_off, labs, next_fault, next_id, object, unauthenticated};
use crate::faults::{Call, Fault};
use crate::google::{error, invalid, unknown_field};
use crate::media;
use crate::server::Exchange;

/// Image models seen on the wire.
pub const MODELS: &[&str] = &[
    "IMAGEN_3_5",
    "IMAGEN_3",
    "IMAGEN_3_1",
    "IMAGEN_4",
    "GEM_PIX",
    "GEM_PIX_2",
    "R2I",
];

/// Aspect enums and the pixel size of each.
const ASPECTS: &[(&str, (u32, u32))] = &[
    ("IMAGE_ASPECT_RATIO_SQUARE", (1024, 1024)),
    ("IMAGE_ASPECT_RATIO_PORTRAIT", (768, 1344)),
    ("IMAGE_ASPECT_RATIO_LANDSCAPE", (1344, 768)),
    ("IMAGE_ASPECT_RATIO_UNSPECIFIED", (1024, 1024)),
    ("IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE", (1184, 864)),
    ("IMAGE_ASPECT_RATIO_PORTRAIT_THREE_FOUR", (864, 1184)),
];

/// What a checked request asks for.
struct Asked {
    workflow: String,
    model: String,
    aspect: String,
    size: (u32, u32),
    prompt: String,
    seed: i64,
}

/// Answers an API request.
pub(super) async fn answer(inner: &Inner, exchange: &Exchange) -> Response {
    match generate(inner, exchange).await {
        Ok(answer) | Err(answer) => answer,
    }
}

async fn generate(inner: &Inner, exchange: &Exchange) -> Result<Response, Response> {
    let recipe = match exchange.path.as_str() {
        "/v1/whisk:generateImage" => false,
        "/v1/whisk:runImageRecipe" => true,
        _ => {
            return Err(error(
                404,
                "NOT_FOUND",
                "Requested entity was not found.",
                json!([]),
            ));
        }
    };
    if exchange.method != "POST" {
        return Err(error(
            405,
            "METHOD_NOT_ALLOWED",
            "Method not allowed.",
            json!([]),
        ));
    }
    let token = exchange.bearer().unwrap_or_default();
    let live = inner
        .state()
        .tokens
        .get(&token)
        .is_some_and(|minted| minted.until > Instant::now() && !minted.cookie.is_empty());
    if !live {
        return Err(unauthenticated());
    }
    let body = object(exchange).ok_or_else(|| invalid("Invalid JSON payload received."))?;
    let asked = if recipe {
        read_recipe(inner, &body)?
    } else {
        read_prompt(inner, &body)?
    };
    let fault = next_fault(inner, Call::Image).await;
    if let Some(answer) = fault.as_ref().and_then(api_fault) {
        return Err(answer);
    }
    let images = match fault {
        Some(Fault::Malformed) => return Err(cut_off()),
        // The generation came back empty (a silent filter).
        Some(Fault::Truncated) => Vec::new(),
        _ => {
            let (width, height) = asked.size;
            let png = media::png(width, height, &asked.prompt);
            inner.state().images += 1;
            vec![json!({
                "encodedImage": base64::engine::general_purpose::STANDARD.encode(png),
                "seed": asked.seed, "mediaGenerationId": next_id(inner, "CAMaJGen"),
                "prompt": asked.prompt, "imageModel": asked.model, "workflowId": asked.workflow,
                "aspectRatio": asked.aspect, "isMaskEditedImage": false,
                "fingerprintLogRecordId": next_id(inner, "")})]
        }
    };
    Ok(axum::Json(json!({
        "imagePanels": [{"prompt": asked.prompt, "generatedImages": images}],
        "workflowId": asked.workflow,
    }))
    .into_response())
}

/// `clientContext`, `imageModelSettings` and `seed`, shared by both calls (the
/// prompt is left empty).
fn read_common(inner: &Inner, body: &Value) -> Result<Asked, Response> {
    let context = body.get("clientContext").cloned().unwrap_or(Value::Null);
    if let Some(refusal) = unknown_field(
        &context,
        &["workflowId", "tool", "sessionId"],
        "client_context",
    ) {
        return Err(refusal);
    }
    let workflow = labs::workflow(inner, body)
        .map_err(|_| invalid("Request contains an invalid argument."))?;
    let settings = body.get("imageModelSettings").cloned().unwrap_or(json!({}));
    if let Some(refusal) = unknown_field(
        &settings,
        &["imageModel", "aspectRatio"],
        "image_model_settings",
    ) {
        return Err(refusal);
    }
    let model = settings
        .get("imageModel")
        .and_then(Value::as_str)
        .filter(|model| MODELS.contains(model))
        .ok_or_else(|| invalid("Request contains an invalid argument."))?;
    let aspect = settings
        .get("aspectRatio")
        .and_then(Value::as_str)
        .unwrap_or("IMAGE_ASPECT_RATIO_UNSPECIFIED");
    let Some((_, size)) = ASPECTS.iter().find(|(name, _)| *name == aspect) else {
        return Err(invalid(&format!(
            "Invalid value at 'image_model_settings.aspect_ratio' (type.googleapis.com/google.internal.labs.aisandbox.v1.ImageAspectRatio), \"{aspect}\""
        )));
    };
    let seed = match body.get("seed") {
        None => 0,
        Some(seed) => seed
            .as_i64()
            .ok_or_else(|| invalid("Invalid value at 'seed' (TYPE_INT32)"))?,
    };
    Ok(Asked {
        workflow,
        model: model.to_string(),
        aspect: aspect.to_string(),
        size: *size,
        prompt: String::new(),
        seed,
    })
}

/// `whisk:generateImage`: a prompt on the board.
fn read_prompt(inner: &Inner, body: &Value) -> Result<Asked, Response> {
    let known = [
        "clientContext",
        "imageModelSettings",
        "seed",
        "prompt",
        "mediaCategory",
    ];
    if let Some(refusal) = unknown_field(body, &known, "") {
        return Err(refusal);
    }
    let asked = read_common(inner, body)?;
    if body
        .get("mediaCategory")
        .is_some_and(|category| category != "MEDIA_CATEGORY_BOARD")
    {
        return Err(invalid("Request contains an invalid argument."));
    }
    let prompt = body
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|prompt| !prompt.trim().is_empty())
        .ok_or_else(|| invalid("Request contains an invalid argument."))?;
    Ok(Asked {
        prompt: prompt.to_string(),
        ..asked
    })
}

/// `whisk:runImageRecipe`: an instruction and uploaded references (with or without
/// `mediaCategory`, which one client had to drop).
fn read_recipe(inner: &Inner, body: &Value) -> Result<Asked, Response> {
    let known = [
        "clientContext",
        "seed",
        "imageModelSettings",
        "userInstruction",
        "recipeMediaInputs",
    ];
    if let Some(refusal) = unknown_field(body, &known, "") {
        return Err(refusal);
    }
    let asked = read_common(inner, body)?;
    let workflow = asked.workflow.clone();
    let instruction = body
        .get("userInstruction")
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .ok_or_else(|| invalid("Request contains an invalid argument."))?;
    let inputs = body
        .get("recipeMediaInputs")
        .and_then(Value::as_array)
        .filter(|inputs| !inputs.is_empty())
        .ok_or_else(|| invalid("Request contains an invalid argument."))?;
    let uploads = inner.state().uploads.clone();
    let mut captions = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let at = format!("recipe_media_inputs[{index}]");
        if let Some(refusal) = unknown_field(input, &["caption", "mediaInput"], &at) {
            return Err(refusal);
        }
        let media = input.get("mediaInput").cloned().unwrap_or(Value::Null);
        if let Some(refusal) = unknown_field(
            &media,
            &["mediaCategory", "mediaGenerationId"],
            &format!("{at}.media_input"),
        ) {
            return Err(refusal);
        }
        let id = media
            .get("mediaGenerationId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(upload) = uploads.get(id).filter(|upload| upload.workflow == workflow) else {
            return Err(invalid("Request contains an invalid argument."));
        };
        if media
            .get("mediaCategory")
            .is_some_and(|category| category.as_str() != Some(upload.category.as_str()))
        {
            return Err(invalid("Request contains an invalid argument."));
        }
        captions.push(
            input
                .get("caption")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
    }
    Ok(Asked {
        prompt: format!("{instruction} | {}", captions.join(" | ")),
        ..asked
    })
}
