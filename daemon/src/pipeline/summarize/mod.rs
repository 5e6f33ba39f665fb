//! The `summarize` stage: `summary.json` from the transcript — by the text providers
//! of `summarize.providers` first (`remote.rs`: the template's schema, the same
//! checks), then with llama.cpp (in the `chute-llm` worker, under the native lease).
//! Optional: when every writer fails, the transcript is delivered anyway and
//! result.json says why. The stage's outputs name the `writer` (a provider, or
//! `llama`), every provider call and why providers were passed over.
//!
//! A recording with nothing to summarize (no speech besides markers such as
//! `[BLANK_AUDIO]`, or fewer than `summarize.min_words` words) gets no summary.json, and
//! result.json a warning saying so. The template's caps are fitted to the transcript's
//! length. A summary kept although its answers failed the checks after generation is
//! delivered with one warning per cause, naming a larger model (`warnings.rs`).

mod remote;
mod warnings;

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::media::transcript::Transcript;
use crate::spool::fsutil;
use crate::summary::template::Template;
use crate::summary::worker::{WorkerFailure, WorkerSpec};
use crate::summary::{
    Checker, Summarizer, SummaryError, SummarySettings, cleanup, repetition, speech,
};

/// llama.cpp summary of `out/transcript.json` into `out/summary.json`.
pub struct Summarize;

impl Stage for Summarize {
    fn name(&self) -> &'static str {
        "summarize"
    }

    fn optional(&self) -> bool {
        true
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            context.simulate_work().await?;
            let settings = &context.config.summarize;
            if !settings.enabled {
                let mut outputs = StageOutputs::new();
                outputs.insert("skipped".into(), json!("summarize.enabled is false"));
                return Ok(outputs);
            }
            let out = context.job.out_dir();
            let transcript = read_transcript(&out)?;
            let segments: Vec<String> = transcript
                .segments
                .iter()
                .map(|segment| segment.text.trim().to_owned())
                .filter(|text| !text.is_empty())
                .collect();
            if let Some(reason) = speech::nothing_to_summarize(&segments, settings.min_words) {
                context.progress(100, &reason);
                let mut outputs = StageOutputs::new();
                outputs.insert("skipped".into(), json!(reason));
                outputs.insert(
                    "warnings".into(),
                    json!([warnings::nothing_to_summarize(&reason)]),
                );
                return Ok(outputs);
            }
            let words: usize = segments.iter().map(|text| speech::spoken_words(text)).sum();
            let bytes: usize = segments.iter().map(String::len).sum();
            let template = Template::load(&settings.template)
                .map_err(|reason| {
                    StageError::job(
                        reason,
                        "fix summarize.template (see config/summary-template.toml)",
                    )
                })?
                .fitted(words, bytes);
            let mut authorship = remote::Authorship::default();
            if !settings.providers.is_empty() {
                let started = Instant::now();
                let checker =
                    Checker::new(&template, &transcript.language).map_err(summary_failure)?;
                if let Some((summary, writer)) =
                    remote::summarize(context, &template, &checker, &segments, &mut authorship)
                        .await?
                {
                    let wall = started.elapsed().as_secs_f64();
                    fsutil::write_json_atomic(
                        &out.join("summary.json"),
                        &summary,
                        context.config.spool.fsync,
                    )?;
                    context.progress(100, &format!("summary written by {writer}"));
                    let mut outputs = StageOutputs::new();
                    outputs.insert("writer".into(), json!(writer));
                    outputs.insert("calls".into(), json!(authorship.calls));
                    outputs.insert("fell_through".into(), json!(authorship.fell_through));
                    if settings.cleanup {
                        outputs.insert(
                            "cleanup".into(),
                            json!("skipped: only the local model restores punctuation, and it did not run"),
                        );
                    }
                    outputs.insert("wall_seconds".into(), json!(wall));
                    outputs.insert(
                        "realtime_factor".into(),
                        json!(wall / transcript.duration_seconds.max(1e-9)),
                    );
                    outputs.insert("files".into(), json!(["summary.json"]));
                    return Ok(outputs);
                }
                context.progress(
                    20,
                    &format!(
                        "no provider wrote the summary ({}); the local model will",
                        authorship.fell_through.join("; ")
                    ),
                );
            }
            let spec = WorkerSpec::from_config(&context.config);
            if !spec.model.is_file() {
                return Err(StageError::job(
                    format!("the language model {} is missing", spec.model.display()),
                    "run `chute models pull smollm2-135m-instruct` (or scripts/fetch-test-models.sh), or set summarize.model",
                ));
            }
            let started = Instant::now();
            let lease = context.native_lease(super::lease::ModelKind::Llama).await?;
            let lease_wait = started.elapsed().as_secs_f64();
            let work = async {
                let mut worker = context
                    .natives
                    .llama(&lease, &spec, settings.timeout)
                    .await
                    .map_err(SummaryError::Worker)?;
                let ready = worker.ready().clone();
                context.progress(5, &format!("{} loaded", ready.model));
                let summary_settings = SummarySettings {
                    temperature: settings.temperature,
                    attempts: settings.attempts,
                    timeout: settings.timeout,
                    repetition: settings.repetition(),
                };
                let events = context.job.events();
                let stage = context.stage;
                let mut summarizer = Summarizer::new(
                    &mut worker,
                    &template,
                    &transcript.language,
                    summary_settings,
                    move |message| {
                        let _ = events.append(stage, 50, &message);
                    },
                )?;
                let summary = summarizer.summarize(&segments).await?;
                let stats = summarizer.stats.clone();
                let defects = std::mem::take(&mut summarizer.defects);
                drop(summarizer);
                let cleaned = if settings.cleanup {
                    context.progress(80, "restoring punctuation and casing");
                    Some(cleanup::clean(&mut worker, &segments.join(" "), settings.timeout).await?)
                } else {
                    None
                };
                Ok::<_, SummaryError>((summary, stats, defects, cleaned, ready))
            };
            let result = context
                .signals()
                .run(work)
                .await
                .unwrap_or_else(|stopped| Err(SummaryError::Setup(stopped.to_string())));
            let (summary, stats, defects, cleaned, ready) = match result {
                Ok(done) => done,
                Err(error) => {
                    if context.cancel.is_cancelled() || context.stop.is_cancelled() {
                        // The worker may be mid-request: start a fresh one next time.
                        context.natives.discard_llama().await;
                        drop(lease);
                        context.check_stop()?;
                    }
                    if matches!(
                        error,
                        SummaryError::Worker(WorkerFailure::Died(_) | WorkerFailure::Timeout(_))
                    ) {
                        context.natives.discard_llama().await;
                    }
                    return Err(summary_failure(error));
                }
            };
            drop(lease);
            let wall = started.elapsed().as_secs_f64() - lease_wait;
            let durable = context.config.spool.fsync;
            fsutil::write_json_atomic(&out.join("summary.json"), &summary, durable)?;
            let mut files = vec!["summary.json"];
            if let Some((text, _)) = &cleaned {
                fsutil::write_atomic(
                    &out.join("transcript.clean.txt"),
                    format!("{text}\n").as_bytes(),
                    durable,
                )?;
                files.push("transcript.clean.txt");
            }
            context.progress(
                100,
                &format!(
                    "{} tokens at {:.1} tokens/s",
                    stats.generated_tokens,
                    stats.tokens_per_second()
                ),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert("writer".into(), json!("llama"));
            if !settings.providers.is_empty() {
                outputs.insert("calls".into(), json!(authorship.calls));
                outputs.insert("fell_through".into(), json!(authorship.fell_through));
            }
            outputs.insert("model".into(), json!(ready.model));
            outputs.insert("device".into(), json!(ready.device));
            outputs.insert("threads".into(), json!(settings.threads));
            outputs.insert("context".into(), json!(ready.context));
            outputs.insert(
                "template".into(),
                json!(if settings.template.as_os_str().is_empty() {
                    "built-in".to_owned()
                } else {
                    settings.template.display().to_string()
                }),
            );
            outputs.insert("parts".into(), json!(stats.parts));
            outputs.insert("generations".into(), json!(stats.generations));
            outputs.insert("retries".into(), json!(stats.retries));
            outputs.insert("dropped_repeats".into(), json!(stats.dropped_repeats));
            outputs.insert(
                "repeated_share".into(),
                json!(repetition::repeated_share(&summary)),
            );
            if !defects.is_empty() {
                outputs.insert(
                    "warnings".into(),
                    json!(warnings::quality_warnings(
                        &defects,
                        &context.config.models.dir(),
                        &settings.model
                    )),
                );
            }
            outputs.insert("prompt_tokens".into(), json!(stats.prompt_tokens));
            outputs.insert("generated_tokens".into(), json!(stats.generated_tokens));
            outputs.insert("tokens_per_second".into(), json!(stats.tokens_per_second()));
            outputs.insert(
                "prompt_tokens_per_second".into(),
                json!(stats.prompt_tokens_per_second()),
            );
            if let Some((_, tokens)) = &cleaned {
                outputs.insert("cleanup_tokens".into(), json!(tokens));
            }
            outputs.insert("lease_wait_seconds".into(), json!(lease_wait));
            outputs.insert("wall_seconds".into(), json!(wall));
            outputs.insert(
                "realtime_factor".into(),
                json!(wall / transcript.duration_seconds.max(1e-9)),
            );
            outputs.insert("files".into(), json!(files));
            Ok(outputs)
        })
    }
}

fn read_transcript(out: &Path) -> Result<Transcript, StageError> {
    let path = out.join("transcript.json");
    let bytes = std::fs::read(&path).map_err(|error| {
        StageError::job(
            format!("the transcript is missing ({error})"),
            "run `chute retry ID --from transcribe`",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        StageError::job(
            format!("transcript.json is unreadable: {error}"),
            "run `chute retry ID --from transcribe`",
        )
    })
}

fn summary_failure(error: SummaryError) -> StageError {
    match error {
        SummaryError::Worker(WorkerFailure::Died(_) | WorkerFailure::Timeout(_)) => {
            StageError::Transient(error.to_string())
        }
        SummaryError::Worker(WorkerFailure::Start(reason)) => StageError::job(
            reason,
            "check summarize.model and summarize.worker (`chute doctor` shows what is missing)",
        ),
        SummaryError::Worker(WorkerFailure::Refused(_)) | SummaryError::Setup(_) => {
            StageError::job(
                error.to_string(),
                "check the [summarize] settings (a larger context, or a template with smaller caps)",
            )
        }
        SummaryError::Unusable { .. } => StageError::job(
            error.to_string(),
            "try a larger model (`chute models pull qwen2.5-1.5b-instruct`) or a lower summarize.temperature",
        ),
    }
}
