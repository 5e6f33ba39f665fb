#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::Config;
use crate::job::{JobDir, JobRecord, JobState};
use crate::pipeline::config::{PipelineKind, RouteConfig};
use crate::pipeline::native::NativeModels;
use crate::pipeline::slot::JobSlot;

/// The Vietnamese sample brief (30 s: 6 scenes at 5 s).
fn sample() -> Brief {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/brief-vi");
    crate::brief::load(&dir, &[]).unwrap().brief
}

/// A stage context on a job folder in `dir` whose `work/brief.json` is `brief`.
fn context(dir: &Path, config: Config, brief: &Brief) -> StageContext {
    let id = uuid::Uuid::now_v7();
    let job = JobDir::new(id, dir.join("jobs").join(id.to_string()));
    std::fs::create_dir_all(job.work_dir()).unwrap();
    fsutil::write_json_atomic(&job.work_dir().join("brief.json"), brief, false).unwrap();
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    let permit = slots.clone().try_acquire_owned().unwrap();
    StageContext {
        spool: crate::spool::Spool::new(dir),
        config: Arc::new(config),
        route: RouteConfig::new("briefs", PipelineKind::SalesVideo),
        job,
        record: JobRecord::default(),
        state: JobState::new(&["script"]),
        stage: "script",
        cancel: CancellationToken::new(),
        stop: CancellationToken::new(),
        natives: Arc::new(NativeModels::default()),
        record_lock: Arc::new(Mutex::new(())),
        providers: Arc::new(crate::provider::Providers::default()),
        remote: Arc::new(Mutex::new(BTreeMap::new())),
        slot: Arc::new(JobSlot::new(slots, permit)),
        space: crate::spool::space::SpaceTable::new(
            &crate::spool::Spool::new(dir),
            crate::spool::config::SpaceReserve::Auto,
        ),
    }
}

fn config() -> Config {
    let mut config = Config::default();
    config.spool.fsync = false;
    config
}

#[tokio::test]
async fn with_no_keys_and_no_model_the_template_writes_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let brief = sample();
    let context = context(dir.path(), config(), &brief);
    let outputs = WriteScript.run(&context).await.unwrap();
    assert_eq!(outputs["writer"], "template");
    assert_eq!(outputs["scenes"], 6);
    assert_eq!(outputs["script_file"], "work/script.json");
    assert_eq!(outputs["fell_through"], json!([]));
    let written = script::load(&context.job.work_dir().join("script.json")).unwrap();
    schema::validate_for_brief(&written, &brief, 5).unwrap();
    let out = context.job.out_dir();
    assert_eq!(script::load(&out.join("script.json")).unwrap(), written);
    let social: crate::video::script::Social =
        serde_json::from_slice(&std::fs::read(out.join("social.json")).unwrap()).unwrap();
    assert_eq!(social, written.social_media);
    let events = std::fs::read_to_string(context.job.events_path()).unwrap();
    assert!(events.contains("writing 6 scenes: template"), "{events}");
}

#[tokio::test]
async fn writers_that_cannot_write_are_skipped_with_their_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut brief = sample();
    brief.providers.insert(
        "script".into(),
        vec![
            "gemini".into(),
            "llama".into(),
            "template".into(),
            "openai".into(),
        ],
    );
    let context = context(dir.path(), config(), &brief);
    let outputs = WriteScript.run(&context).await.unwrap();
    assert_eq!(outputs["writer"], "template");
    assert_eq!(
        outputs["fell_through"],
        json!([
            "gemini: not loaded",
            "llama: sales_video.script_model is not set"
        ])
    );
    assert_eq!(outputs["calls"], json!([]));
}

#[tokio::test]
async fn a_missing_local_model_falls_through_to_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.sales_video.script_model = dir.path().join("absent.gguf");
    let context = context(dir.path(), config, &sample());
    let outputs = WriteScript.run(&context).await.unwrap();
    assert_eq!(outputs["writer"], "template");
    let reasons = outputs["fell_through"].as_array().unwrap();
    assert_eq!(reasons.len(), 1);
    let reason = reasons[0].as_str().unwrap();
    assert!(
        reason.starts_with("llama: the model ") && reason.contains("absent.gguf is missing"),
        "{reason}"
    );
}

#[test]
fn the_chain_comes_from_the_brief_or_the_config_and_ends_with_the_template() {
    let mut config = config();
    let mut brief = sample();
    assert_eq!(chain(&brief, &config), ["template"]);
    config.sales_video.script_model = "gguf/qwen.gguf".into();
    assert_eq!(chain(&brief, &config), ["llama", "template"]);
    config.sales_video.script_providers = vec!["gemini".into()];
    assert_eq!(chain(&brief, &config), ["gemini", "llama", "template"]);
    brief.providers.insert(
        "script".into(),
        vec!["openai".into(), "template".into(), "gemini".into()],
    );
    assert_eq!(chain(&brief, &config), ["openai", "template"]);
    brief
        .providers
        .insert("script".into(), vec!["llama".into(), "openai".into()]);
    assert_eq!(chain(&brief, &config), ["llama", "openai", "template"]);
}

#[tokio::test]
async fn a_script_already_written_for_this_brief_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path(), config(), &sample());
    WriteScript.run(&context).await.unwrap();
    let path = context.job.work_dir().join("script.json");
    let mut written = script::load(&path).unwrap();
    written.social_media.caption = "kept from the first run".to_owned();
    fsutil::write_json_atomic(&path, &written, false).unwrap();
    let outputs = WriteScript.run(&context).await.unwrap();
    assert_eq!(outputs["writer"], "template");
    let social: serde_json::Value =
        serde_json::from_slice(&std::fs::read(context.job.out_dir().join("social.json")).unwrap())
            .unwrap();
    assert_eq!(social["caption"], "kept from the first run");
}

#[tokio::test]
async fn a_script_for_another_scene_count_is_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let brief = sample();
    let first = context(dir.path(), config(), &brief);
    WriteScript.run(&first).await.unwrap();
    let mut longer_scenes = config();
    longer_scenes.sales_video.seconds_per_scene = 10;
    let second = StageContext {
        config: Arc::new(longer_scenes),
        ..first
    };
    let outputs = WriteScript.run(&second).await.unwrap();
    assert_eq!(outputs["scenes"], 3);
    let written = script::load(&second.job.work_dir().join("script.json")).unwrap();
    assert_eq!(written.scenes.len(), 3);
}

#[tokio::test]
async fn a_cancelled_job_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let context = context(dir.path(), config(), &sample());
    context.cancel.cancel();
    let error = WriteScript.run(&context).await.unwrap_err();
    assert!(matches!(error, StageError::Cancelled), "{error:?}");
    assert!(!context.job.work_dir().join("script.json").exists());
}

/// Answers from a list, recording the feedback each answer was asked with.
struct Scripted {
    answers: Vec<Result<String, String>>,
    feedback: Vec<Option<String>>,
}

impl Answerer for Scripted {
    async fn answer(
        &mut self,
        feedback: Option<String>,
        _attempt: u32,
    ) -> Result<Result<String, String>, StageError> {
        self.feedback.push(feedback);
        Ok(self.answers.remove(0))
    }
}

#[tokio::test]
async fn a_refused_answer_is_asked_again_with_what_was_wrong() {
    let brief = sample();
    let good = template::write(&brief, 6);
    let mut short = good.clone();
    short.scenes.truncate(4);
    let mut answerer = Scripted {
        answers: vec![
            Ok(format!(
                "Here you go:\n```json\n{}\n```",
                serde_json::to_string(&short).unwrap()
            )),
            Ok(serde_json::to_string_pretty(&good).unwrap() + "\nHope this helps!"),
        ],
        feedback: Vec::new(),
    };
    let said = Mutex::new(Vec::new());
    let progress = |message: String| said.lock().unwrap().push(message);
    let asked = ask(&mut answerer, &brief, 5, 3, &progress).await.unwrap();
    let Asked::Script(script) = asked else {
        panic!("{asked:?}")
    };
    assert_eq!(*script, good);
    assert_eq!(answerer.feedback[0], None);
    assert_eq!(
        answerer.feedback[1].as_deref(),
        Some("scenes has 4 entries, the brief needs 6")
    );
    assert_eq!(
        said.lock().unwrap().as_slice(),
        ["answer 1 was not usable (scenes has 4 entries, the brief needs 6); asking again"]
    );
}

#[tokio::test]
async fn a_writer_is_asked_at_most_so_many_times_and_a_failure_ends_it_at_once() {
    let brief = sample();
    let mut answerer = Scripted {
        answers: vec![
            Ok("no".into()),
            Ok("{\"scenes\": [".into()),
            Ok("{}".into()),
        ],
        feedback: Vec::new(),
    };
    let asked = ask(&mut answerer, &brief, 5, 3, &|_| {}).await.unwrap();
    assert!(
        matches!(&asked, Asked::Unusable(problem) if problem.starts_with("the answer is not a script: missing field")),
        "{asked:?}"
    );
    assert_eq!(answerer.feedback.len(), 3);
    assert_eq!(
        answerer.feedback[1].as_deref(),
        Some("the answer holds no JSON object")
    );
    let mut failing = Scripted {
        answers: vec![Err("every key of gemini is rate limited".into())],
        feedback: Vec::new(),
    };
    let asked = ask(&mut failing, &brief, 5, 3, &|_| {}).await.unwrap();
    assert!(matches!(asked, Asked::Failed(reason) if reason.contains("rate limited")));
}
