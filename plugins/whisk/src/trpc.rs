//! The labs.google tRPC calls (cookie auth, attached by the host): a project
//! (`media.createOrUpdateWorkflow`), and for each reference image its caption
//! (`backbone.captionImage`) and upload (`backbone.uploadImage`). Requests are
//! `{"json": {…}}`; answers are `{"result": {"data": {"json": {"result": …}}}}`,
//! unwrapped as the public clients do (falling back to `data.json`, then the body).

use chute_plugin_sdk::ProviderError;
use chute_plugin_sdk::bindings::chute::provider::host::Request;
use chute_plugin_sdk::http::send;
use chute_plugin_sdk::serde_json::{Value, json};

use crate::failure;
use crate::generate::Reference;

/// The category references are uploaded as: the product is the subject.
pub const SUBJECT: &str = "MEDIA_CATEGORY_SUBJECT";

/// Calls one tRPC procedure; its unwrapped result.
fn call(procedure: &str, input: Value) -> Result<Value, ProviderError> {
    let labs = crate::labs();
    let response = send(Request {
        method: "POST".into(),
        url: format!("{labs}/fx/api/trpc/{procedure}"),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
            ("origin".into(), labs.clone()),
            ("referer".into(), format!("{labs}/")),
        ],
        body: json!({"json": input}).to_string().into_bytes(),
    })?;
    let body = failure::json(&response, procedure)?;
    Ok(unwrap(body))
}

/// `result.data.json.result`, else `result.data.json`, else the body itself.
fn unwrap(body: Value) -> Value {
    for path in ["/result/data/json/result", "/result/data/json"] {
        if let Some(inner) = body.pointer(path).filter(|inner| !inner.is_null()) {
            return inner.clone();
        }
    }
    body
}

/// A string field of an unwrapped result, or the malformed-answer error.
fn text(result: &Value, path: &str, procedure: &str) -> Result<String, ProviderError> {
    result
        .pointer(path)
        .and_then(Value::as_str)
        .filter(|text| !text.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| failure::malformed(procedure, path))
}

/// A new project for this call's uploads and image.
pub fn workflow() -> Result<String, ProviderError> {
    const PROCEDURE: &str = "media.createOrUpdateWorkflow";
    let result = call(
        PROCEDURE,
        json!({"workflowMetadata": {"workflowName": "chute"}}),
    )?;
    text(&result, "/workflowId", PROCEDURE)
}

/// Whisk's own caption of a reference (`output`, or `caption` in some answers).
pub fn caption(workflow: &str, reference: &Reference) -> Result<String, ProviderError> {
    const PROCEDURE: &str = "backbone.captionImage";
    let result = call(
        PROCEDURE,
        json!({"clientContext": {"workflowId": workflow},
               "captionInput": {"candidatesCount": 1,
                                "mediaInput": {"mediaCategory": SUBJECT,
                                               "rawBytes": reference.data_uri}}}),
    )?;
    text(&result, "/candidates/0/output", PROCEDURE)
        .or_else(|_| text(&result, "/candidates/0/caption", PROCEDURE))
}

/// Uploads a reference with its caption; its `uploadMediaGenerationId`.
pub fn upload(
    workflow: &str,
    reference: &Reference,
    caption: &str,
) -> Result<String, ProviderError> {
    const PROCEDURE: &str = "backbone.uploadImage";
    let result = call(
        PROCEDURE,
        json!({"clientContext": {"workflowId": workflow},
               "uploadMediaInput": {"mediaCategory": SUBJECT,
                                    "rawBytes": reference.data_uri,
                                    "caption": caption}}),
    )?;
    text(&result, "/uploadMediaGenerationId", PROCEDURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trpc_answers_are_unwrapped_as_the_clients_do() {
        let wrapped = json!({"result": {"data": {"json": {"result": {"workflowId": "w1"}}}}});
        assert_eq!(unwrap(wrapped)["workflowId"], "w1");
        let shallow = json!({"result": {"data": {"json": {"workflowId": "w2"}}}});
        assert_eq!(unwrap(shallow)["workflowId"], "w2");
        assert_eq!(unwrap(json!({"workflowId": "w3"}))["workflowId"], "w3");
        let caption = json!({"candidates": [{"caption": "a cup"}]});
        assert!(text(&caption, "/candidates/0/output", "c").is_err());
        assert_eq!(
            text(&caption, "/candidates/0/caption", "c").ok().as_deref(),
            Some("a cup")
        );
    }
}
