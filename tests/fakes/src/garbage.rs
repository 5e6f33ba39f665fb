//! A server that answers every request with the same broken body, for checking that
//! plugins survive answers no real API sends (the compliance suite): empty bodies, cut
//! JSON, wrong types under the keys the real APIs use, nesting past any parser's
//! depth, invalid UTF-8, HTML error pages, and non-JSON error statuses.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;

use crate::record::{Recorder, Seen};
use crate::server::{self, Exchange, Fake};

/// One broken answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Garbage {
    /// What the case is, for failure messages.
    pub name: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Garbage {
    fn json(name: &'static str, body: impl Into<Vec<u8>>) -> Garbage {
        Garbage {
            name,
            status: 200,
            content_type: "application/json",
            body: body.into(),
        }
    }

    /// Every case, in a fixed order.
    pub fn all() -> Vec<Garbage> {
        // The keys the providers' answers use, each holding the wrong type.
        let wrong_types = r#"{"candidates": "none", "promptFeedback": 7, "usageMetadata": [],
            "name": 12, "done": "yes", "response": [1], "error": "x", "audioContent": 3,
            "audio_base64": {}, "alignment": "x", "choices": {"0": 1}, "id": [], "status": {},
            "content": 5, "data": "not a list", "access_token": 9, "result": null}"#;
        let inline = r#"{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "!!not base64!!"}}]}, "finishReason": "STOP"}],
            "audioContent": "!!not base64!!", "audio_base64": "%%%", "data": [{"b64_json": "@@@"}]}"#;
        vec![
            Garbage::json("an empty body", Vec::new()),
            Garbage::json(
                "cut-off JSON",
                &b"{\"candidates\": [{\"content\": {\"parts\": [{\"te"[..],
            ),
            Garbage::json("null", &b"null"[..]),
            Garbage::json("an empty list", &b"[]"[..]),
            Garbage::json("an empty object", &b"{}"[..]),
            Garbage::json("wrong types everywhere", wrong_types),
            Garbage::json("data that is not base64", inline),
            Garbage::json("nesting 100,000 deep", "[".repeat(100_000)),
            Garbage::json("a number past f64", &b"{\"done\": 1e999999}"[..]),
            Garbage::json("invalid UTF-8", &b"{\"text\": \"\xff\xfe\xfd\"}"[..]),
            Garbage {
                name: "an HTML page",
                status: 200,
                content_type: "text/html",
                body: b"<html><body>Service temporarily unavailable</body></html>".to_vec(),
            },
            Garbage {
                name: "a 500 that is not JSON",
                status: 500,
                content_type: "text/plain",
                body: b"upstream connect error or disconnect/reset before headers".to_vec(),
            },
            Garbage {
                name: "a 429 that is not JSON",
                status: 429,
                content_type: "text/html",
                body: b"<h1>Too Many Requests</h1>".to_vec(),
            },
            Garbage {
                name: "a 400 with an error of the wrong shape",
                status: 400,
                content_type: "application/json",
                body: br#"{"error": ["not", "an", "object"], "detail": 5}"#.to_vec(),
            },
        ]
    }
}

struct Api {
    current: Mutex<Garbage>,
}

impl Fake for Api {
    fn origin(&self) -> &'static str {
        "garbage"
    }

    fn claims(&self, _path: &str) -> bool {
        true
    }

    fn key(&self, _exchange: &Exchange) -> Option<String> {
        None
    }

    fn answer(self: Arc<Self>, _exchange: Exchange) -> BoxFuture<'static, Response> {
        let garbage = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Box::pin(async move {
            let status =
                StatusCode::from_u16(garbage.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                [("content-type", garbage.content_type)],
                garbage.body,
            )
                .into_response()
        })
    }
}

/// A server answering every path with the current [`Garbage`].
pub struct FakeGarbage {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    api: Arc<Api>,
    recorder: Recorder,
}

impl FakeGarbage {
    /// Starts on a free loopback port, answering the first case of [`Garbage::all`].
    pub async fn start() -> FakeGarbage {
        let first = Garbage::all().remove(0);
        let api = Arc::new(Api {
            current: Mutex::new(first),
        });
        let recorder = Recorder::default();
        let url = server::start(api.clone(), recorder.clone()).await;
        FakeGarbage { url, api, recorder }
    }

    /// Answers `garbage` from now on.
    pub fn answer(&self, garbage: Garbage) {
        *self
            .api
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = garbage;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.recorder.all()
    }
}
