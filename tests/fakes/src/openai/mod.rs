//! A fake of OpenAI's API and of the servers that copy it (providers.md §6, §5.3 and
//! §11), one [`Flavor`] at a time: `POST /v1/chat/completions`, `POST
//! /v1/audio/speech` (OpenAI only) and `GET /v1/models` (OpenRouter under
//! `/api/v1/`). Each flavor checks auth, models and `response_format` the way that
//! server does and answers errors in its own body shape:
//!
//! | flavor | auth | `response_format` | errors |
//! |---|---|---|---|
//! | OpenAI | Bearer required | `text`, `json_object` (needs "json" in the messages), `json_schema` (strict rules enforced) | `{"error":{message,type,param,code}}` |
//! | vLLM | only when started with a key; `{"error":"Unauthorized"}` | `json_schema`, `json_object`, `structured_outputs`; `guided_json` silently ignored | `{"error":{…,"type":"BadRequestError","code":400}}` |
//! | Ollama | ignored | `json_schema` (name/strict ignored), `json_object` | `type` `not_found_error`/`api_error`; 503 "server busy" |
//! | llama.cpp | only when started with a key | nested `json_schema.schema` only (flat `schema` → unconstrained), `json_object` | `{"error":{code,message,type}}`; 503 "Loading model" |
//! | LM Studio | none | `json_schema` and `text`; `json_object` → 400 | `{"error":"…"}` |
//! | OpenRouter | Bearer required | honoured only with `provider.require_parameters` | `{"error":{code,message}}`; 402 credits; errors after the start as HTTP 200 |
//!
//! Answers are JSON built from the schema ([`crate::schema_answer`]) or scripted text,
//! with usage; speech is real WAV, PCM or MP3 ([`crate::media`]).

mod chat;
mod errors;
mod speech;
mod strict;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::json;

use crate::record::Recorder;
use crate::server::{self, Exchange, Fake, KeyCheck, KeyMode, Keys};

/// Which server the fake plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `api.openai.com`.
    OpenAi,
    /// vLLM's OpenAI-compatible server (≥ 0.12).
    Vllm,
    /// Ollama's `/v1`.
    Ollama,
    /// llama.cpp's `llama-server`.
    LlamaCpp,
    /// LM Studio's server.
    LmStudio,
    /// OpenRouter (`/api/v1`).
    OpenRouter,
}

impl Flavor {
    /// The path prefix its API lives under.
    pub fn prefix(self) -> &'static str {
        match self {
            Flavor::OpenRouter => "/api/v1/",
            _ => "/v1/",
        }
    }

    /// The models it serves by default.
    fn models(self) -> &'static [&'static str] {
        match self {
            Flavor::OpenAi => &[
                "gpt-4o-mini",
                "gpt-4o",
                "gpt-4.1-mini",
                "gpt-5-mini",
                "tts-1",
                "tts-1-hd",
                "gpt-4o-mini-tts",
                "gpt-4o-mini-tts-2025-12-15",
            ],
            Flavor::Vllm => &["Qwen/Qwen2.5-7B-Instruct"],
            Flavor::Ollama => &["llama3.2:latest", "qwen2.5:7b"],
            Flavor::LlamaCpp => &["/models/qwen2.5-1.5b-instruct-q4_k_m.gguf"],
            Flavor::LmStudio => &["qwen2.5-7b-instruct"],
            Flavor::OpenRouter => &[
                "openai/gpt-4o-mini",
                "meta-llama/llama-3.3-70b-instruct:free",
            ],
        }
    }

    /// `owned_by` in its model list.
    fn owner(self) -> &'static str {
        match self {
            Flavor::OpenAi => "openai",
            Flavor::Vllm => "vllm",
            Flavor::Ollama => "library",
            Flavor::LlamaCpp => "llamacpp",
            Flavor::LmStudio => "organization_owner",
            Flavor::OpenRouter => "openrouter",
        }
    }
}

/// What the fake remembers between requests (opaque to tests: they use the knobs).
pub struct State {
    flavor: Flavor,
    /// Whether a key is required (vLLM / llama.cpp started with `--api-key`).
    auth: bool,
    models: Vec<String>,
    retired: HashSet<String>,
    text_answers: VecDeque<String>,
    requests: u64,
}

type Inner = server::Core<State>;

/// A running fake OpenAI-compatible server; the handle tests drive it with.
#[derive(Clone)]
pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT` plus the flavor's API root when it is not `/v1`
    /// (OpenRouter: `…/api/v1`): a provider's `base_url`.
    pub url: String,
    handle: server::Handle<State>,
}

impl std::ops::Deref for FakeOpenAi {
    type Target = server::Handle<State>;

    fn deref(&self) -> &Self::Target {
        &self.handle
    }
}

/// The API as a [`Fake`].
struct Api(Arc<Inner>);

impl FakeOpenAi {
    /// Starts on a loopback port as `flavor`, knowing `keys`. OpenAI and OpenRouter
    /// always require a key; vLLM and llama.cpp only when `keys` is not empty (as
    /// when started with `--api-key`); Ollama and LM Studio never.
    pub async fn start(flavor: Flavor, keys: &[(&str, KeyMode)]) -> FakeOpenAi {
        FakeOpenAi::start_with(flavor, Keys::new(keys), !keys.is_empty()).await
    }

    /// Starts with a key registry of the caller's; `auth` says whether a flavor whose
    /// key is optional requires one.
    pub async fn start_with(flavor: Flavor, keys: Keys, auth: bool) -> FakeOpenAi {
        let mut fake = FakeOpenAi::detached(flavor, keys, auth);
        let origin = server::start(fake.api(), fake.recorder.clone()).await;
        fake.url = match flavor {
            Flavor::OpenRouter => format!("{origin}/api/v1"),
            _ => origin,
        };
        fake
    }

    /// A fake not yet serving: the caller puts [`FakeOpenAi::api`] on a listener.
    pub fn detached(flavor: Flavor, keys: Keys, auth: bool) -> FakeOpenAi {
        let auth = match flavor {
            Flavor::OpenAi | Flavor::OpenRouter => true,
            Flavor::Vllm | Flavor::LlamaCpp => auth,
            Flavor::Ollama | Flavor::LmStudio => false,
        };
        FakeOpenAi {
            url: String::new(),
            handle: server::Handle {
                recorder: Recorder::default(),
                inner: Arc::new(server::Core::new(
                    keys,
                    State {
                        flavor,
                        auth,
                        models: flavor.models().iter().map(|m| m.to_string()).collect(),
                        retired: HashSet::new(),
                        text_answers: VecDeque::new(),
                        requests: 0,
                    },
                )),
            },
        }
    }

    /// The handler.
    pub fn api(&self) -> Arc<dyn Fake> {
        Arc::new(Api(self.inner.clone()))
    }

    /// The flavor it plays.
    pub fn flavor(&self) -> Flavor {
        self.inner.state().flavor
    }

    /// The models it serves (replacing the flavor's defaults).
    pub fn serve_models(&self, models: &[&str]) {
        self.inner.state().models = models.iter().map(|m| m.to_string()).collect();
    }

    /// The models it serves.
    pub fn models(&self) -> Vec<String> {
        self.inner.state().models.clone()
    }

    /// A model that no longer exists: 404 from now on.
    pub fn retire_model(&self, model: &str) {
        self.inner.state().retired.insert(model.to_string());
    }

    /// Texts the next chat completions answer, in order (instead of schema JSON).
    pub fn answer_text(&self, texts: impl IntoIterator<Item = String>) {
        self.inner.state().text_answers.extend(texts);
    }
}

impl Fake for Api {
    fn origin(&self) -> &'static str {
        "openai"
    }

    fn claims(&self, path: &str) -> bool {
        let prefix = self.0.state().flavor.prefix();
        path.strip_prefix(prefix)
            .is_some_and(|rest| matches!(rest, "chat/completions" | "audio/speech" | "models"))
    }

    fn key(&self, exchange: &Exchange) -> Option<String> {
        exchange.bearer()
    }

    fn answer(self: Arc<Self>, exchange: Exchange) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            match answer(&self.0, &exchange).await {
                Ok(answer) | Err(answer) => answer,
            }
        })
    }
}

/// Auth, then the endpoint.
async fn answer(inner: &Arc<Inner>, exchange: &Exchange) -> Result<Response, Response> {
    let (flavor, auth) = {
        let state = inner.state();
        (state.flavor, state.auth)
    };
    if auth {
        match inner.keys.check(exchange.bearer().as_deref()) {
            KeyCheck::Known(KeyMode::Valid) => {}
            KeyCheck::Missing => return Err(errors::no_key(flavor)),
            _ => return Err(errors::bad_key(flavor)),
        }
    }
    let rest = exchange.path.strip_prefix(flavor.prefix()).unwrap_or("");
    match (exchange.method.as_str(), rest) {
        ("GET", "models") => Ok(models(inner)),
        ("POST", "chat/completions") => chat::complete(inner, exchange).await,
        ("POST", "audio/speech") if flavor == Flavor::OpenAi => {
            speech::speak(inner, exchange).await
        }
        _ => Err(errors::not_found(flavor, &exchange.path)),
    }
}

/// `GET /v1/models` in the flavor's shape (llama.cpp lists its one model).
fn models(inner: &Inner) -> Response {
    let state = inner.state();
    let data: Vec<serde_json::Value> = state
        .models
        .iter()
        .filter(|model| !state.retired.contains(*model))
        .take(if state.flavor == Flavor::LlamaCpp {
            1
        } else {
            usize::MAX
        })
        .map(|id| {
            let mut model = json!({"id": id, "object": "model", "created": 1_735_689_600,
                                   "owned_by": state.flavor.owner()});
            if state.flavor == Flavor::Vllm {
                model["root"] = json!(id);
                model["max_model_len"] = json!(32_768);
            }
            model
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// The next request's number (ids and request ids are made from it).
fn next_request(inner: &Inner) -> u64 {
    let mut state = inner.state();
    state.requests += 1;
    state.requests
}

#[cfg(test)]
mod tests;
