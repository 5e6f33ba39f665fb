//! The local llama.cpp writer: `sales_video.script_model` in the `chute-llm` worker
//! (the `[summarize]` worker settings: threads, GPU layers, timeout, attempts,
//! temperature), under the native lease, its output held to a grammar generated from
//! the script's JSON Schema. The context is sized to the longest answer the grammar
//! allows plus the prompt, so an answer is never cut off.

use std::time::Instant;

use chute_llm_protocol::{Generate, Message};

use super::{Answerer, Asked, Authorship, LLAMA, ask};
use crate::brief::Brief;
use crate::pipeline::lease::ModelKind;
use crate::pipeline::{StageContext, StageError};
use crate::summary::grammar::{self, Grammar};
use crate::summary::worker::{LlamaWorker, WorkerFailure, WorkerSpec};
use crate::video::script::{Script, prompt, schema};

/// The largest context a script may ask of the worker, in tokens.
const MAX_CONTEXT: u32 = 32_768;
/// Tokens kept for the chat template's markup and for the feedback of a retry.
const PROMPT_MARGIN: u32 = 512;
/// Least time between two token-progress reports.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Writes the script with the local model; `None` (with the reason in
/// `fell_through`) when no model is set, it is missing, or it gave no usable script.
pub(super) async fn write(
    context: &StageContext,
    brief: &Brief,
    scenes: usize,
    authorship: &mut Authorship,
) -> Result<Option<Script>, StageError> {
    let mut skip = |reason: String| {
        authorship.fell_through.push(format!("{LLAMA}: {reason}"));
        Ok(None)
    };
    let config = &context.config;
    let model = &config.sales_video.script_model;
    if model.as_os_str().is_empty() {
        return skip("sales_video.script_model is not set".to_owned());
    }
    let names: Vec<String> = brief.characters.iter().map(|c| c.name.clone()).collect();
    let grammar = match grammar::from_schema(&schema::json_schema(scenes, &names)) {
        Ok(grammar) => grammar,
        Err(reason) => return skip(format!("no grammar for the script: {reason}")),
    };
    let seconds_per_scene = config.sales_video.seconds_per_scene;
    let first_prompt = prompt::user_prompt(brief, scenes, seconds_per_scene, None);
    let mut spec = WorkerSpec::from_config(config);
    spec.model = config.models.resolve(model);
    if !spec.model.is_file() {
        return skip(format!(
            "the model {} is missing (sales_video.script_model)",
            spec.model.display()
        ));
    }
    // Room for the longest answer the grammar allows, next to the prompt (a token is
    // at least one byte of answer, and about two bytes of prompt).
    let prompt_tokens = (prompt::SYSTEM.len() + first_prompt.len()) as u32 / 2;
    let needed = grammar.max_bytes + 1 + prompt_tokens + PROMPT_MARGIN;
    if needed > MAX_CONTEXT {
        return skip(format!(
            "{scenes} scenes need about {needed} tokens of context, more than {MAX_CONTEXT}"
        ));
    }
    spec.context = spec.context.max(needed.next_multiple_of(1024));
    let settings = &config.summarize;
    let lease = context.native_lease(ModelKind::Llama).await?;
    context.progress(10, &format!("loading {}", spec.model.display()));
    let work = async {
        let mut worker = context
            .natives
            .llama(&lease, &spec, settings.timeout)
            .await?;
        let mut local = Local {
            context,
            worker: &mut worker,
            grammar: &grammar,
            brief,
            scenes,
            broken: false,
        };
        let progress = |message: String| context.progress(50, &format!("llama: {message}"));
        let asked = ask(
            &mut local,
            brief,
            seconds_per_scene,
            settings.attempts,
            &progress,
        )
        .await;
        Ok::<_, WorkerFailure>((asked, local.broken))
    };
    let result = context.signals().run(work).await;
    let asked = match result {
        Err(stopped) => {
            // The worker may be mid-answer: start a fresh one next time.
            context.natives.discard_llama().await;
            drop(lease);
            return Err(stopped.into());
        }
        Ok(Err(failure)) => {
            if matches!(failure, WorkerFailure::Died(_) | WorkerFailure::Timeout(_)) {
                context.natives.discard_llama().await;
            }
            return skip(failure.to_string());
        }
        Ok(Ok((asked, broken))) => {
            if broken {
                // It died or hung mid-answer: the next use starts a fresh one.
                context.natives.discard_llama().await;
            }
            asked?
        }
    };
    drop(lease);
    match asked {
        Asked::Script(script) => Ok(Some(*script)),
        Asked::Unusable(problem) => skip(format!(
            "no usable script in {} answers (last: {problem})",
            settings.attempts
        )),
        Asked::Failed(reason) => skip(reason),
    }
}

/// The local model being asked.
struct Local<'a> {
    context: &'a StageContext,
    worker: &'a mut LlamaWorker,
    grammar: &'a Grammar,
    brief: &'a Brief,
    scenes: usize,
    /// The worker died or timed out (it is discarded once it is given back).
    broken: bool,
}

impl Answerer for Local<'_> {
    async fn answer(
        &mut self,
        feedback: Option<String>,
        attempt: u32,
    ) -> Result<Result<String, String>, StageError> {
        let context = self.context;
        let settings = &context.config.summarize;
        let request = Generate {
            messages: vec![
                Message::new("system", prompt::SYSTEM),
                Message::new(
                    "user",
                    prompt::user_prompt(
                        self.brief,
                        self.scenes,
                        context.config.sales_video.seconds_per_scene,
                        feedback.as_deref(),
                    ),
                ),
            ],
            grammar: Some(self.grammar.text.clone()),
            max_tokens: self.grammar.max_bytes + 1,
            // Later answers move away from whatever went wrong.
            temperature: settings.temperature + 0.2 * (attempt - 1) as f32,
            seed: attempt,
            repetition: Default::default(),
        };
        let most = request.max_tokens;
        let events = context.job.events();
        let stage = context.stage;
        let mut last_report: Option<Instant> = None;
        let mut report = move |tokens: u32| {
            if last_report.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
                last_report = Some(Instant::now());
                let _ = events.append(
                    stage,
                    50,
                    &format!("llama: generated {tokens} tokens (at most {most})"),
                );
            }
        };
        match self
            .worker
            .generate(request, settings.timeout, &mut report)
            .await
        {
            Ok(generated) => Ok(Ok(generated.text)),
            Err(failure) => {
                self.broken = matches!(failure, WorkerFailure::Died(_) | WorkerFailure::Timeout(_));
                Ok(Err(failure.to_string()))
            }
        }
    }
}
