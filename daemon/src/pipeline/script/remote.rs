//! A text provider as a script writer: one `generate-text` call per answer, with the
//! script's JSON Schema, through the provider host (cache, budget, retries over keys).
//! Every call is recorded, served or not; a provider that is not loaded, cannot write
//! text or fails is skipped with its reason.

use super::{ANSWERS, Answerer, Asked, Authorship, ask, record_value};
use crate::brief::Brief;
use crate::pipeline::{StageContext, StageError};
use crate::provider::plugin::{Capability, TextRequest};
use crate::provider::{Answer, CallRecord, Operation};
use crate::video::script::{Script, prompt, schema};

/// Asks provider `name` for the script; `None` (with the reason in `fell_through`)
/// when it gave none that passes the checks.
pub(super) async fn write(
    context: &StageContext,
    name: &str,
    brief: &Brief,
    scenes: usize,
    authorship: &mut Authorship,
) -> Result<Option<Script>, StageError> {
    let Some(provider) = context.providers.get(name) else {
        authorship.fell_through.push(format!("{name}: not loaded"));
        return Ok(None);
    };
    if !provider
        .info
        .capabilities
        .iter()
        .any(|capability| matches!(capability, Capability::Text))
    {
        authorship
            .fell_through
            .push(format!("{name}: does not write text"));
        return Ok(None);
    }
    let names: Vec<String> = brief.characters.iter().map(|c| c.name.clone()).collect();
    let mut provider = Provider {
        context,
        name,
        brief,
        scenes,
        schema: schema::json_schema(scenes, &names).to_string(),
        calls: Vec::new(),
    };
    let progress = |message: String| context.progress(40, &format!("{name}: {message}"));
    let seconds_per_scene = context.config.sales_video.seconds_per_scene;
    let asked = ask(&mut provider, brief, seconds_per_scene, ANSWERS, &progress).await;
    authorship
        .calls
        .extend(provider.calls.iter().map(record_value));
    Ok(match asked? {
        Asked::Script(script) => Some(*script),
        Asked::Unusable(problem) => {
            authorship.fell_through.push(format!(
                "{name}: no usable script in {ANSWERS} answers (last: {problem})"
            ));
            None
        }
        Asked::Failed(reason) => {
            authorship.fell_through.push(format!("{name}: {reason}"));
            None
        }
    })
}

/// One provider being asked.
struct Provider<'a> {
    context: &'a StageContext,
    name: &'a str,
    brief: &'a Brief,
    scenes: usize,
    /// The script's JSON Schema as JSON text.
    schema: String,
    /// Every call made, for result.json.
    calls: Vec<CallRecord>,
}

impl Answerer for Provider<'_> {
    async fn answer(
        &mut self,
        feedback: Option<String>,
        attempt: u32,
    ) -> Result<Result<String, String>, StageError> {
        let context = self.context;
        context.progress(
            10,
            &format!("asking {} (answer {attempt} of {ANSWERS})", self.name),
        );
        let seconds_per_scene = context.config.sales_video.seconds_per_scene;
        let request = TextRequest {
            system: Some(prompt::SYSTEM.to_owned()),
            prompt: prompt::user_prompt(
                self.brief,
                self.scenes,
                seconds_per_scene,
                feedback.as_deref(),
            ),
            json_schema: Some(self.schema.clone()),
            temperature: None,
            max_output_tokens: None,
        };
        let job = context.job.id.to_string();
        let chain = [self.name.to_owned()];
        let call = context
            .providers
            .call_chain(&chain, Operation::Text(request), Some(&job));
        // A cancel or a shutdown ends the wait; the call's cost stays booked.
        let result = context.signals().run(call).await?;
        Ok(match result {
            Ok(served) => {
                self.calls.push(served.record);
                match served.answer {
                    Answer::Text(text) => Ok(text.text),
                    _ => Err("answered with something other than text".to_owned()),
                }
            }
            Err(failed) => {
                let reason = failed.error.to_string();
                self.calls.push(failed.record);
                Err(reason)
            }
        })
    }
}
