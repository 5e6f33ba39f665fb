//! The protocol between the chute daemon and `chute-llm`, the worker process that owns
//! llama.cpp.
//!
//! llama.cpp aborts the whole process on some misuse, and it vendors its own copy of ggml
//! (as does whisper.cpp), so it lives in a separate binary. The daemon starts one worker
//! per loaded model, writes one [`Request`] per line to its stdin, and reads [`Reply`]
//! lines from its stdout until the request's final reply. The worker's first line is
//! [`Reply::Ready`] (or [`Reply::Error`], after which it exits). Closing stdin stops it.

use serde::{Deserialize, Serialize};

/// One request, as one JSON line on the worker's stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Echoed in every reply to this request.
    pub id: u64,
    /// What to do.
    pub body: RequestBody,
}

/// The kinds of request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestBody {
    /// Count the tokens of a text (no special tokens added).
    Count {
        /// The text.
        text: String,
    },
    /// Run a chat completion.
    Generate(Generate),
}

/// A chat completion request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generate {
    /// The conversation, rendered with the model's chat template.
    pub messages: Vec<Message>,
    /// A GBNF grammar the output must match, root rule `root`.
    pub grammar: Option<String>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature; 0 means greedy.
    pub temperature: f32,
    /// Seed of the sampler.
    pub seed: u32,
    /// Penalties against repeating what was already generated (off unless set).
    #[serde(default)]
    pub repetition: Repetition,
}

/// Penalties against repetition, applied to the generated tokens before sampling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Repetition {
    /// Generated tokens the repeat penalty looks back at (0: no repeat penalty).
    pub last_n: u32,
    /// Repeat penalty: a token among the last `last_n` has its logit divided by this
    /// (1.0: off; at most 2.0).
    pub penalty: f32,
    /// DRY ("don't repeat yourself") multiplier: continuing a token sequence that
    /// already occurred in the answer is penalized, more the longer the repeat (0: off;
    /// at most 5.0). Sequences are broken at newlines, `:`, `"` and `*`.
    pub dry_multiplier: f32,
    /// DRY: repeats up to this many tokens long go unpenalized (1–64).
    pub dry_allowed_length: u32,
}

impl Repetition {
    /// No penalty at all.
    pub const OFF: Repetition = Repetition {
        last_n: 0,
        penalty: 1.0,
        dry_multiplier: 0.0,
        dry_allowed_length: 2,
    };
}

impl Default for Repetition {
    fn default() -> Self {
        Repetition::OFF
    }
}

/// One chat message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message with this role and text.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: content.into(),
        }
    }
}

/// One reply line on the worker's stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// The request this answers (0 for [`ReplyBody::Ready`]).
    pub id: u64,
    /// The answer.
    pub body: ReplyBody,
}

/// The kinds of reply. `Progress` may come several times; every other kind ends the
/// request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyBody {
    /// The model is loaded and the worker takes requests.
    Ready(Ready),
    /// Tokens generated so far.
    Progress {
        /// Generated tokens.
        tokens: u32,
    },
    /// The answer to [`RequestBody::Count`].
    Counted {
        /// Number of tokens.
        tokens: u32,
    },
    /// The answer to [`RequestBody::Generate`].
    Generated(Generated),
    /// The request (or the start-up) failed.
    Error(WorkerError),
}

/// What the worker loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ready {
    /// The model file's name.
    pub model: String,
    /// Size of the weights in bytes.
    pub size_bytes: u64,
    /// Parameter count.
    pub parameters: u64,
    /// Context length of this worker, in tokens.
    pub context: u32,
    /// Tokens per decode batch.
    pub batch: u32,
    /// Whether the GGUF has a chat template.
    pub chat_template: bool,
    /// Where the weights live: `cpu` or `gpu`.
    pub device: String,
    /// Load time in seconds.
    pub load_seconds: f64,
}

/// The result of a completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generated {
    /// The generated text (invalid UTF-8 replaced).
    pub text: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub generated_tokens: u32,
    /// Time spent evaluating the prompt.
    pub prompt_seconds: f64,
    /// Time spent generating.
    pub generate_seconds: f64,
    /// Why generation stopped.
    pub stop: StopReason,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (or the grammar allowed nothing more).
    EndOfTurn,
    /// `max_tokens` was reached.
    MaxTokens,
}

/// Why a request failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerError {
    /// The kind, for the caller to decide what to do.
    pub kind: ErrorKind,
    /// What happened, as a sentence.
    pub message: String,
}

/// Kinds of worker failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The model could not be loaded.
    Load,
    /// Prompt plus `max_tokens` do not fit the context: split the input.
    TooLong,
    /// The grammar did not parse.
    Grammar,
    /// The request was malformed.
    BadRequest,
    /// llama.cpp reported an error while evaluating.
    Llama,
}
