//! The sales-video pipeline's `script` stage: `work/brief.json` becomes
//! `work/script.json` (delivered as `out/script.json`, with its social posts as
//! `out/social.json`).
//!
//! Who writes it is a chain: the brief's `providers.script`, else
//! `sales_video.script_providers`. Each entry is a text provider (`remote.rs`: asked
//! for JSON under the script's schema; an answer that does not parse or pass the
//! checks is asked again with what was wrong, three answers at most, then the chain
//! moves on), `llama` (`local.rs`: the local model of `sales_video.script_model`,
//! grammar-constrained, in the `chute-llm` worker under the native lease) or
//! `template` (the offline writer, [`crate::video::script::template`]). When the
//! chain did not name it, `llama` is tried after the providers if a model is set; the
//! template always ends the chain, so a script is written with no key and no model.
//!
//! Idempotent: a `work/script.json` that passes the checks for this brief is reused
//! (a provider is never paid twice after a crash); who wrote it is kept beside it in
//! `work/script-writer.json`.

mod local;
mod remote;

use std::future::Future;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Stage, StageContext, StageError, StageFuture, StageOutputs, StageRetry};
use crate::brief::Brief;
use crate::provider::CallRecord;
use crate::spool::fsutil;
use crate::video::script::{self, Script, parse, schema, template};

/// The chain entry of the template writer.
pub const TEMPLATE: &str = "template";
/// The chain entry of the local llama.cpp writer.
pub const LLAMA: &str = "llama";
/// Answers asked of one writer before the chain moves on.
const ANSWERS: u32 = 3;
/// Who wrote `work/script.json`, kept beside it.
const WRITER_FILE: &str = "script-writer.json";

/// Writes the script of the brief.
pub struct WriteScript;

/// Who wrote a script, what was paid on the way, and why earlier writers were
/// skipped (`work/script-writer.json`, and the stage's outputs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct Authorship {
    /// A provider's name, `llama` or `template`.
    writer: String,
    /// Every provider call, served or not.
    calls: Vec<serde_json::Value>,
    /// `NAME: why` for each chain entry that gave no script.
    fell_through: Vec<String>,
}

impl Stage for WriteScript {
    fn name(&self) -> &'static str {
        "script"
    }

    /// Provider calls retry over keys with backoff by themselves, and a failed writer
    /// falls through to the next (the template never fails): the runner must not
    /// multiply paid calls by running the stage again.
    fn retry(&self) -> StageRetry {
        StageRetry::ONCE
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            let work = context.job.work_dir();
            let brief = read_brief(&work)?;
            let seconds_per_scene = context.config.sales_video.seconds_per_scene;
            let scenes = brief.scene_count(seconds_per_scene) as usize;
            let (script, authorship) = match reusable(&work, &brief, scenes) {
                Some(reused) => {
                    context.progress(50, "reusing the script written before");
                    reused
                }
                None => {
                    let (script, authorship) = write(context, &brief, scenes).await?;
                    let durable = context.config.spool.fsync;
                    // Who wrote it first: a script.json is never without its writer.
                    fsutil::write_json_atomic(&work.join(WRITER_FILE), &authorship, durable)?;
                    fsutil::write_json_atomic(&work.join(script::SCRIPT_FILE), &script, durable)?;
                    (script, authorship)
                }
            };
            let out = context.job.out_dir();
            std::fs::create_dir_all(&out)?;
            let durable = context.config.spool.fsync;
            fsutil::write_json_atomic(&out.join(script::SCRIPT_FILE), &script, durable)?;
            fsutil::write_json_atomic(
                &out.join(script::SOCIAL_FILE),
                &script.social_media,
                durable,
            )?;
            context.progress(
                100,
                &format!(
                    "{} scenes written by {}",
                    script.scenes.len(),
                    authorship.writer
                ),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert(
                "script_file".into(),
                json!(format!("work/{}", script::SCRIPT_FILE)),
            );
            outputs.insert("scenes".into(), json!(script.scenes.len()));
            outputs.insert("writer".into(), json!(authorship.writer));
            outputs.insert("calls".into(), json!(authorship.calls));
            outputs.insert("fell_through".into(), json!(authorship.fell_through));
            outputs.insert(
                "files".into(),
                json!([script::SCRIPT_FILE, script::SOCIAL_FILE]),
            );
            Ok(outputs)
        })
    }
}

/// `work/brief.json`, as the `brief` stage wrote it.
fn read_brief(work: &Path) -> Result<Brief, StageError> {
    let bytes = std::fs::read(work.join("brief.json")).map_err(|error| {
        StageError::job(
            format!("work/brief.json is missing ({error})"),
            "run `chute retry ID --from brief`",
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        StageError::job(
            format!("work/brief.json is unreadable: {error}"),
            "run `chute retry ID --from brief`",
        )
    })
}

/// The script already in `work/` when it still fits this brief (a crash after it was
/// written, a `chute retry`), with who wrote it.
fn reusable(work: &Path, brief: &Brief, scenes: usize) -> Option<(Script, Authorship)> {
    let script = script::load(&work.join(script::SCRIPT_FILE)).ok()?;
    schema::validate(&script, scenes).ok()?;
    if brief
        .characters
        .iter()
        .any(|character| script.character(&character.name).is_none())
    {
        return None;
    }
    let authorship = std::fs::read(work.join(WRITER_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Authorship>(&bytes).ok())
        .unwrap_or_else(|| Authorship {
            writer: "unknown".to_owned(),
            ..Authorship::default()
        });
    Some((script, authorship))
}

/// The writers to try, in order: the brief's `providers.script`, else the configured
/// chain; `llama` after the providers when a model is set and the chain names neither
/// it nor the template; `template` last.
fn chain(brief: &Brief, config: &crate::config::Config) -> Vec<String> {
    let settings = &config.sales_video;
    let mut chain = brief
        .providers
        .get("script")
        .cloned()
        .unwrap_or_else(|| settings.script_providers.clone());
    // A chain that names the template ends there, as it says.
    if let Some(template) = chain.iter().position(|entry| entry == TEMPLATE) {
        chain.truncate(template);
    } else if !chain.iter().any(|entry| entry == LLAMA)
        && !settings.script_model.as_os_str().is_empty()
    {
        chain.push(LLAMA.to_owned());
    }
    chain.push(TEMPLATE.to_owned());
    chain
}

/// Runs the chain until a writer gives a script that passes the checks.
async fn write(
    context: &StageContext,
    brief: &Brief,
    scenes: usize,
) -> Result<(Script, Authorship), StageError> {
    let chain = chain(brief, &context.config);
    context.progress(
        5,
        &format!("writing {scenes} scenes: {}", chain.join(" → ")),
    );
    let mut authorship = Authorship::default();
    for entry in &chain {
        context.check_stop()?;
        let written = match entry.as_str() {
            TEMPLATE => Some(template::write(brief, scenes)),
            LLAMA => local::write(context, brief, scenes, &mut authorship).await?,
            name => remote::write(context, name, brief, scenes, &mut authorship).await?,
        };
        if let Some(script) = written {
            authorship.writer = entry.clone();
            return Ok((script, authorship));
        }
    }
    // Unreachable: the chain ends with the template, which always writes.
    Ok((template::write(brief, scenes), authorship))
}

/// One writer that can be asked for a script again with what was wrong.
trait Answerer {
    /// The answer to the request (with `feedback` about the previous answer), or why
    /// this writer cannot answer at all (`Ok(Err(reason))`); `Err` only to stop the
    /// stage (cancel, shutdown).
    fn answer(
        &mut self,
        feedback: Option<String>,
        attempt: u32,
    ) -> impl Future<Output = Result<Result<String, String>, StageError>> + Send;
}

/// What asking one writer gave.
#[derive(Debug)]
enum Asked {
    /// A script that passes the checks.
    Script(Box<Script>),
    /// Every answer was refused; the last problem.
    Unusable(String),
    /// The writer could not answer.
    Failed(String),
}

/// Asks `answerer` up to `answers` times, each time with what was wrong with the
/// previous answer, until one parses and passes the checks for `brief`.
async fn ask(
    answerer: &mut impl Answerer,
    brief: &Brief,
    seconds_per_scene: u32,
    answers: u32,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Asked, StageError> {
    let mut feedback: Option<String> = None;
    for attempt in 1..=answers.max(1) {
        let text = match answerer.answer(feedback.clone(), attempt).await? {
            Ok(text) => text,
            Err(reason) => return Ok(Asked::Failed(reason)),
        };
        match check(&text, brief, seconds_per_scene) {
            Ok(script) => return Ok(Asked::Script(Box::new(script))),
            Err(problem) => {
                tracing::warn!(attempt, %problem, "A script answer was refused.");
                if attempt < answers {
                    progress(format!(
                        "answer {attempt} was not usable ({problem}); asking again"
                    ));
                }
                feedback = Some(problem);
            }
        }
    }
    Ok(Asked::Unusable(feedback.unwrap_or_default()))
}

/// A model's answer as a script for `brief`, or what is wrong with it (in words fit
/// to send back to the model).
fn check(answer: &str, brief: &Brief, seconds_per_scene: u32) -> Result<Script, String> {
    let script = parse::parse(answer).map_err(|error| error.to_string())?;
    schema::validate_for_brief(&script, brief, seconds_per_scene)
        .map_err(|invalid| invalid.to_string())?;
    Ok(script)
}

/// A call record as JSON for the outputs (as `generate` records them).
fn record_value(record: &CallRecord) -> serde_json::Value {
    serde_json::to_value(record).unwrap_or_else(|_| json!({"provider": record.provider}))
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
