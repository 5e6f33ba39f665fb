//! The text providers of `summarize.providers` as summary writers: each is asked for
//! the whole transcript under the template's JSON Schema (the one the local grammar is
//! generated from), through the provider host (keys, retries, cache, budget); an
//! answer that fails the template's checks is asked again with what was wrong, up to
//! `summarize.attempts` answers, then the next provider is tried. Every call is
//! recorded, served or not, and each provider that gave no summary says why.

use serde::Serialize;
use serde_json::{Value, json};

use crate::pipeline::{StageContext, StageError};
use crate::provider::plugin::{Auth, Capability, TextRequest};
use crate::provider::{Answer, CallRecord, Operation, Provider};
use crate::summary::template::Template;
use crate::summary::{Checker, SYSTEM_PROMPT, transcript_prompt};

/// Who wrote the summary, what was paid on the way, and why providers were skipped.
#[derive(Debug, Default, Serialize)]
pub(super) struct Authorship {
    /// Every provider call, served or not.
    pub calls: Vec<Value>,
    /// `NAME: why` for each provider that gave no summary.
    pub fell_through: Vec<String>,
}

/// A summary from the first provider of `summarize.providers` that gives one passing
/// the checks, with its name; `None` when none did (the reasons are in `authorship`).
pub(super) async fn summarize(
    context: &StageContext,
    template: &Template,
    checker: &Checker,
    segments: &[String],
    authorship: &mut Authorship,
) -> Result<Option<(Value, String)>, StageError> {
    let settings = &context.config.summarize;
    let prompt = transcript_prompt(template, &segments.join("\n"), None);
    let schema = checker.schema().to_string();
    let job = context.job.id.to_string();
    let answers = settings.attempts.max(1);
    for name in &settings.providers {
        context.check_stop()?;
        let Some(provider) = context.providers.get(name) else {
            authorship.fell_through.push(format!("{name}: not loaded"));
            continue;
        };
        if let Err(why) = usable(provider) {
            authorship.fell_through.push(format!("{name}: {why}"));
            continue;
        }
        let mut feedback: Option<String> = None;
        let mut failed = None;
        for attempt in 1..=answers {
            context.progress(
                10,
                &format!("asking {name} for the summary (answer {attempt} of {answers})"),
            );
            let prompt = match &feedback {
                Some(problem) => format!(
                    "{prompt}\n\nYour previous answer was not usable: {problem}. Answer again with the JSON object only."
                ),
                None => prompt.clone(),
            };
            let request = TextRequest {
                system: Some(SYSTEM_PROMPT.to_owned()),
                prompt,
                json_schema: Some(schema.clone()),
                temperature: Some(settings.temperature),
                max_output_tokens: None,
            };
            let chain = [name.clone()];
            // A daemon that lost the job to another never calls on its behalf.
            context.job.confirm_owner()?;
            let call = context
                .providers
                .call_chain(&chain, Operation::Text(request), Some(&job));
            // A cancel or a shutdown ends the wait; the call's cost stays booked.
            let text = match context.signals().run(call).await? {
                Ok(served) => {
                    authorship.calls.push(record_value(&served.record));
                    match served.answer {
                        Answer::Text(text) => text.text,
                        _ => {
                            failed = Some("answered with something other than text".to_owned());
                            break;
                        }
                    }
                }
                Err(error) => {
                    authorship.calls.push(record_value(&error.record));
                    failed = Some(error.error.to_string());
                    break;
                }
            };
            match checker.check(&text) {
                Ok(summary) => return Ok(Some((summary, name.clone()))),
                Err(problem) => {
                    tracing::warn!(provider = %name, attempt, %problem, "A provider's summary was refused.");
                    feedback = Some(problem);
                }
            }
        }
        authorship.fell_through.push(match failed {
            Some(reason) => format!("{name}: {reason}"),
            None => format!(
                "{name}: no usable summary in {answers} answers (last: {})",
                feedback.unwrap_or_default()
            ),
        });
    }
    Ok(None)
}

/// Why `provider` cannot be asked: it writes no text, or it needs a key and has none
/// (a provider whose `base_url` names a server of the operator's own may need none).
fn usable(provider: &Provider) -> Result<(), &'static str> {
    if !provider
        .info
        .capabilities
        .iter()
        .any(|capability| matches!(capability, Capability::Text))
    {
        return Err("does not write text");
    }
    let needs_key = !matches!(provider.info.auth, Auth::None);
    if needs_key && provider.keys.is_empty() && !provider.settings.contains_key("base_url") {
        return Err("no keys configured");
    }
    Ok(())
}

/// A call record as JSON for the outputs.
fn record_value(record: &CallRecord) -> Value {
    serde_json::to_value(record).unwrap_or_else(|_| json!({"provider": record.provider}))
}
