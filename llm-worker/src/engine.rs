//! The llama.cpp side of the worker: one model, one context, and completions that are
//! checked before every call into llama.cpp.
//!
//! Rules learned from llama-cpp-2 0.1.160 (each breaks the process, not just the call):
//! never decode more than `n_batch` tokens in one batch, never exceed the context, never
//! put the grammar after other samplers in a chain, and never accept a token twice.

use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Instant;

use chute_llm_protocol::{
    ErrorKind, Generate, Generated, Ready, Repetition, ReplyBody, RequestBody, StopReason,
    WorkerError,
};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

/// How the worker runs the model.
#[derive(Debug, Clone)]
pub struct Settings {
    /// CPU threads.
    pub threads: u16,
    /// Context length in tokens.
    pub context: u32,
    /// Tokens per decode batch.
    pub batch: u32,
    /// Layers offloaded to the GPU.
    pub gpu_layers: u32,
}

/// The loaded model.
pub struct Engine {
    backend: LlamaBackend,
    model: LlamaModel,
    name: String,
    settings: Settings,
    load_seconds: f64,
}

/// A context on the model, reused (KV cache cleared) for every request.
pub struct Session<'a> {
    engine: &'a Engine,
    context: LlamaContext<'a>,
    template: Option<LlamaChatTemplate>,
}

fn error(kind: ErrorKind, message: impl Into<String>) -> WorkerError {
    WorkerError {
        kind,
        message: message.into(),
    }
}

impl Engine {
    /// Loads the model; the file is checked first, since llama.cpp asserts on some bad files.
    pub fn load(path: &Path, settings: &Settings) -> Result<Self, WorkerError> {
        let mut magic = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut magic))
            .map_err(|e| {
                error(
                    ErrorKind::Load,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
        if &magic != b"GGUF" {
            return Err(error(
                ErrorKind::Load,
                format!("{} is not a GGUF model file", path.display()),
            ));
        }
        if settings.context < 64 || settings.batch < 1 {
            return Err(error(ErrorKind::Load, "context must be at least 64 tokens"));
        }
        let started = Instant::now();
        let mut backend = LlamaBackend::init()
            .map_err(|e| error(ErrorKind::Load, format!("llama.cpp did not start: {e}")))?;
        backend.void_logs();
        let params = LlamaModelParams::default().with_n_gpu_layers(settings.gpu_layers);
        let model = LlamaModel::load_from_file(&backend, path, &params).map_err(|e| {
            error(
                ErrorKind::Load,
                format!("llama.cpp could not load {}: {e}", path.display()),
            )
        })?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            backend,
            model,
            name,
            settings: settings.clone(),
            load_seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Creates the context the requests run in.
    pub fn session(&self) -> Result<Session<'_>, WorkerError> {
        let context = self.settings.context.min(self.model.n_ctx_train().max(64));
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(context))
            .with_n_batch(self.settings.batch.min(context))
            .with_n_threads(i32::from(self.settings.threads))
            .with_n_threads_batch(i32::from(self.settings.threads))
            .with_swa_full(false);
        let context = self
            .model
            .new_context(&self.backend, params)
            .map_err(|e| error(ErrorKind::Load, format!("cannot create a context: {e}")))?;
        let template = self.model.chat_template(None).ok();
        Ok(Session {
            engine: self,
            context,
            template,
        })
    }
}

impl Session<'_> {
    /// What was loaded, for the `ready` line.
    pub fn ready(&self) -> Ready {
        let engine = self.engine;
        Ready {
            model: engine.name.clone(),
            size_bytes: engine.model.size(),
            parameters: engine.model.n_params(),
            context: self.context.n_ctx(),
            batch: self.context.n_batch(),
            chat_template: self.template.is_some(),
            device: if engine.settings.gpu_layers > 0 && engine.backend.supports_gpu_offload() {
                "gpu".into()
            } else {
                "cpu".into()
            },
            load_seconds: engine.load_seconds,
        }
    }

    /// Answers one request. Rust panics inside (llama-cpp-2 asserts some of its own
    /// assumptions) become errors instead of ending the worker.
    pub fn handle(&mut self, body: RequestBody, progress: &mut dyn FnMut(u32)) -> ReplyBody {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match body {
            RequestBody::Count { text } => Ok(ReplyBody::Counted {
                tokens: self.tokenize(&text).len() as u32,
            }),
            RequestBody::Generate(request) => {
                self.generate(&request, progress).map(ReplyBody::Generated)
            }
        }));
        match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => ReplyBody::Error(error),
            Err(_) => ReplyBody::Error(error(
                ErrorKind::Llama,
                "llama-cpp-2 panicked while handling the request",
            )),
        }
    }

    /// Plain text's tokens: special-token text in it stays text.
    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        self.engine
            .model
            .vocab()
            .tokenize(text.as_bytes(), false, false)
    }

    /// The prompt's tokens. The chat template's own markup is tokenized with special
    /// tokens recognised (`<|im_start|>` is one control token there); the messages'
    /// text never is, so a transcript holding `<|im_end|>` cannot end a turn or open a
    /// new one. The template is rendered with a marker in place of each message, and
    /// the rendered text is tokenized piece by piece.
    fn prompt_tokens(&self, request: &Generate) -> Result<Vec<LlamaToken>, WorkerError> {
        let markers: Vec<String> = (0..request.messages.len())
            .map(|index| format!("\u{1}chute-message-{index}\u{1}"))
            .collect();
        let rendered = self.render(request, &markers)?;
        let vocab = self.engine.model.vocab();
        let mut tokens = Vec::new();
        let mut rest = rendered.as_str();
        for (message, marker) in request.messages.iter().zip(&markers) {
            let (markup, after) = rest.split_once(marker.as_str()).ok_or_else(|| {
                error(
                    ErrorKind::BadRequest,
                    "the model's chat template rewrites message text, so the text cannot be kept apart from its markup",
                )
            })?;
            let first = tokens.is_empty();
            vocab.tokenize_into(markup.as_bytes(), &mut tokens, first, true);
            vocab.tokenize_into(message.content.as_bytes(), &mut tokens, false, false);
            rest = after;
        }
        vocab.tokenize_into(rest.as_bytes(), &mut tokens, false, true);
        Ok(tokens)
    }

    /// The chat template applied to the request's roles with `contents` as the texts.
    fn render(&self, request: &Generate, contents: &[String]) -> Result<String, WorkerError> {
        let messages = request
            .messages
            .iter()
            .zip(contents)
            .map(|(m, content)| LlamaChatMessage::new(m.role.clone(), content.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(ErrorKind::BadRequest, format!("bad message: {e}")))?;
        if messages.is_empty() {
            return Err(error(ErrorKind::BadRequest, "no messages"));
        }
        // GGUFs without a chat template get ChatML, the most common instruct format.
        let fallback;
        let template = match &self.template {
            Some(template) => template,
            None => {
                fallback = LlamaChatTemplate::new("chatml")
                    .map_err(|e| error(ErrorKind::BadRequest, e.to_string()))?;
                &fallback
            }
        };
        self.engine
            .model
            .apply_chat_template(template, &messages, true)
            .map_err(|e| error(ErrorKind::BadRequest, format!("chat template failed: {e}")))
    }

    fn sampler(&self, request: &Generate) -> Result<Sampler, WorkerError> {
        let grammar = match &request.grammar {
            Some(grammar) => Some(
                LlamaSampler::grammar(&self.engine.model, grammar, "root").map_err(|e| {
                    error(ErrorKind::Grammar, format!("the grammar is invalid: {e}"))
                })?,
            ),
            None => None,
        };
        let mut chain = Vec::new();
        // Penalties change the logits, so they come before the samplers that choose.
        let repetition = &request.repetition;
        if repetition.last_n > 0 && repetition.penalty > 1.0 {
            chain.push(LlamaSampler::penalties(
                self.engine.model.n_vocab(),
                repetition.last_n as i32,
                repetition.penalty,
                0.0,
                0.0,
            ));
        }
        if repetition.dry_multiplier > 0.0 {
            chain.push(LlamaSampler::dry(
                &self.engine.model,
                repetition.dry_multiplier,
                DRY_BASE,
                repetition.dry_allowed_length as i32,
                // The whole answer: a sentence repeated far from its first telling counts.
                request.max_tokens as i32,
                DRY_BREAKERS,
            ));
        }
        if request.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(40));
            chain.push(LlamaSampler::top_p(0.95, 1));
            chain.push(LlamaSampler::temp(request.temperature));
            chain.push(LlamaSampler::dist(request.seed));
        }
        Ok(Sampler {
            grammar,
            chain: LlamaSampler::chain_simple(chain),
        })
    }

    fn generate(
        &mut self,
        request: &Generate,
        progress: &mut dyn FnMut(u32),
    ) -> Result<Generated, WorkerError> {
        let tokens = self.prompt_tokens(request)?;
        let context = self.context.n_ctx() as usize;
        let batch_size = self.context.n_batch() as usize;
        if request.max_tokens == 0 {
            return Err(error(
                ErrorKind::BadRequest,
                "max_tokens must be at least 1",
            ));
        }
        if tokens.is_empty() {
            return Err(error(ErrorKind::BadRequest, "the prompt is empty"));
        }
        if tokens.len() + request.max_tokens as usize > context {
            return Err(error(
                ErrorKind::TooLong,
                format!(
                    "the prompt has {} tokens and up to {} may be generated, but the context holds {context}",
                    tokens.len(),
                    request.max_tokens
                ),
            ));
        }
        check_repetition(&request.repetition)?;
        let mut sampler = self.sampler(request)?;
        let vocab = self.engine.model.vocab();
        self.context.clear_kv_cache();

        let started = Instant::now();
        let mut batch = LlamaBatch::new(batch_size, 1);
        let mut position = 0i32;
        for chunk in tokens.chunks(batch_size) {
            batch.clear();
            for (index, token) in chunk.iter().enumerate() {
                let last = position as usize + 1 == tokens.len();
                debug_assert!(index < batch_size);
                batch
                    .add(*token, position, &[0], last)
                    .map_err(|e| error(ErrorKind::Llama, e.to_string()))?;
                position += 1;
            }
            self.context
                .decode(&mut batch)
                .map_err(|e| error(ErrorKind::Llama, format!("prompt evaluation failed: {e}")))?;
        }
        let prompt_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut bytes = Vec::new();
        let mut generated = 0u32;
        let stop = loop {
            let token = sampler.next(&self.context, batch.n_tokens() - 1)?;
            if vocab.is_eog(token) {
                break StopReason::EndOfTurn;
            }
            bytes.extend(vocab.token_to_piece(token, false, None));
            generated += 1;
            if generated.is_multiple_of(16) {
                progress(generated);
            }
            if generated >= request.max_tokens {
                break StopReason::MaxTokens;
            }
            batch.clear();
            batch
                .add(token, position, &[0], true)
                .map_err(|e| error(ErrorKind::Llama, e.to_string()))?;
            position += 1;
            self.context
                .decode(&mut batch)
                .map_err(|e| error(ErrorKind::Llama, format!("generation failed: {e}")))?;
        };
        Ok(Generated {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            prompt_tokens: tokens.len() as u32,
            generated_tokens: generated,
            prompt_seconds,
            generate_seconds: started.elapsed().as_secs_f64(),
            stop,
        })
    }
}

/// DRY's exponential base: each token a repeat grows by multiplies its penalty by this.
const DRY_BASE: f32 = 1.75;
/// Where DRY's repeated sequences end (llama.cpp's defaults): list items and JSON
/// strings start afresh after a quote.
const DRY_BREAKERS: [&str; 4] = ["\n", ":", "\"", "*"];

/// Refuses repetition settings llama.cpp would misbehave with (it asserts or divides
/// by them).
fn check_repetition(repetition: &Repetition) -> Result<(), WorkerError> {
    let fine = repetition.penalty.is_finite()
        && (1.0..=2.0).contains(&repetition.penalty)
        && repetition.dry_multiplier.is_finite()
        && (0.0..=5.0).contains(&repetition.dry_multiplier)
        && (1..=64).contains(&repetition.dry_allowed_length)
        && repetition.last_n <= 8192;
    if fine {
        Ok(())
    } else {
        Err(error(
            ErrorKind::BadRequest,
            format!(
                "repetition settings out of range (penalty 1–2, dry_multiplier 0–5, dry_allowed_length 1–64, last_n at most 8192): {repetition:?}"
            ),
        ))
    }
}

/// Token selection: the sampling chain, checked against the grammar.
///
/// Checking the whole vocabulary against the grammar for every token is slow, so the
/// chain samples freely first and the grammar judges only the chosen token; only when it
/// refuses is the grammar applied to every candidate and the chain run again (what
/// llama.cpp's own `common/sampling` does). The grammar is never inside the chain, so
/// its `accept` runs exactly once per token, through the call that reports errors
/// instead of aborting.
struct Sampler {
    grammar: Option<LlamaSampler>,
    chain: LlamaSampler,
}

impl Sampler {
    /// Picks the next token from the logits of batch position `index`.
    fn next(&mut self, context: &LlamaContext<'_>, index: i32) -> Result<LlamaToken, WorkerError> {
        let Some(grammar) = self.grammar.as_mut() else {
            return Ok(self.chain.sample(context, index));
        };
        let mut candidates = context.token_data_array_ith(index);
        candidates.apply_sampler(&mut self.chain);
        let chosen = candidates
            .selected_token()
            .ok_or_else(|| error(ErrorKind::Llama, "the sampler chose no token"))?;
        let mut single =
            LlamaTokenDataArray::new(vec![LlamaTokenData::new(chosen, 1.0, 0.0)], false);
        single.apply_sampler(grammar);
        let allowed = single
            .data
            .first()
            .is_some_and(|data| data.logit().is_finite());
        let token = if allowed {
            chosen
        } else {
            let mut candidates = context.token_data_array_ith(index);
            candidates.apply_sampler(grammar);
            if !candidates.data.iter().any(|data| data.logit().is_finite()) {
                return Err(error(ErrorKind::Llama, "the grammar allows no token here"));
            }
            candidates.apply_sampler(&mut self.chain);
            candidates
                .selected_token()
                .ok_or_else(|| error(ErrorKind::Llama, "the sampler chose no token"))?
        };
        grammar.try_accept(token).map_err(|e| {
            error(
                ErrorKind::Llama,
                format!("the grammar refused a token: {e}"),
            )
        })?;
        self.chain.accept(token);
        Ok(token)
    }
}
