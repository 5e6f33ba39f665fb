//! What the configured pipelines need on this machine — the whisper model, a language
//! whisper knows, the summary model, its template and the `chute-llm` worker — checked
//! without loading a model (`chute config check`, like `nginx -t`). Only what a
//! configured route runs is checked: no transcribe route, no models needed.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::config::PipelineKind;
use super::vad::ModelState;
use crate::config::Config;
use crate::media::config::{TranscribeConfig, VadEnabled};
use crate::media::{language, whisper};
use crate::models::catalog;
use crate::summary::template::Template;
use crate::summary::worker::WorkerSpec;

/// One thing a configured stage needs, and how it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The config key that names it (`transcribe.model`).
    pub key: &'static str,
    /// The key's value as configured.
    pub value: String,
    /// Whether it is there.
    pub status: Status,
}

/// How a [`Need`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Present; what was found.
    Ok(String),
    /// Not there yet, but made on first use (said so, not a problem).
    Later(String),
    /// Missing or unusable: what is wrong and what to do.
    Problem {
        /// What is wrong.
        what: String,
        /// What to do about it.
        remedy: String,
    },
}

impl Need {
    fn new(key: &'static str, value: impl Into<String>, status: Status) -> Self {
        Self {
            key,
            value: value.into(),
            status,
        }
    }

    /// Whether this need keeps jobs from running.
    pub fn is_problem(&self) -> bool {
        matches!(self.status, Status::Problem { .. })
    }
}

/// One line: `transcribe.model = "ggml/x.bin": /m/ggml/x.bin is missing; run …`.
impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {:?}: ", self.key, self.value)?;
        match &self.status {
            Status::Ok(found) | Status::Later(found) => f.write_str(found),
            Status::Problem { what, remedy } => write!(f, "{what}; {remedy}"),
        }
    }
}

/// Checks what the configured routes' stages need, in pipeline order.
pub fn check(config: &Config) -> Vec<Need> {
    let transcribes = config
        .effective_routes()
        .iter()
        .any(|route| route.pipeline == PipelineKind::Transcribe);
    if !transcribes {
        return Vec::new();
    }
    let mut needs = vec![whisper_model(config), whisper_language(&config.transcribe)];
    if config.transcribe.vad.enabled != VadEnabled::Off {
        needs.push(vad_model(config));
    }
    if config.summarize.enabled {
        needs.push(summary_model(config));
        if !config.summarize.template.as_os_str().is_empty() {
            needs.push(summary_template(&config.summarize.template));
        }
        needs.push(worker(config));
    }
    needs
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// How to get a model the config names: its catalog entry's remedy, else a hint.
fn model_remedy(config: &Config, model: &Path, key: &str, kind: &str) -> String {
    match catalog::at_path(&config.models.dir(), model) {
        Some(known) => known.remedy(),
        None => format!(
            "put a {kind} file there, or set {key} to one of `chute models list` and fetch it with `chute models pull NAME`"
        ),
    }
}

/// The first four bytes of a file, when it has them.
fn magic(path: &Path) -> Option<[u8; 4]> {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .ok()
        .map(|()| magic)
}

fn whisper_model(config: &Config) -> Need {
    let settings = &config.transcribe;
    let value = shown(&settings.model);
    let (path, ct2) = settings.model_file(&config.models);
    let remedy = model_remedy(
        config,
        &settings.model,
        "transcribe.model",
        "whisper.cpp ggml",
    );
    if path.is_file() {
        let status = if magic(&path).map(u32::from_le_bytes) == Some(whisper::GGML_MAGIC) {
            Status::Ok(format!("{} is there", path.display()))
        } else {
            Status::Problem {
                what: format!("{} is not a whisper.cpp ggml model", path.display()),
                remedy,
            }
        };
        return Need::new("transcribe.model", value, status);
    }
    // As the transcribe stage does: only the default model is made from the bundled
    // faster-whisper one; a configured model that is missing is never replaced.
    let status = if let Some(ct2) = ct2 {
        Status::Later(format!(
            "{} is made on first use from {} ({} weights)",
            path.display(),
            ct2.display(),
            settings.weights.name()
        ))
    } else {
        Status::Problem {
            what: format!("{} is missing", path.display()),
            remedy,
        }
    };
    Need::new("transcribe.model", value, status)
}

/// The Silero model for voice activity detection: with `enabled = "auto"` a missing or
/// broken one only turns VAD off (said so); with `true` it is a problem.
fn vad_model(config: &Config) -> Need {
    let vad = &config.transcribe.vad;
    let value = shown(&vad.model);
    let remedy = super::vad::MODEL_REMEDY;
    let unusable = |what: String| {
        if vad.enabled == VadEnabled::On {
            Status::Problem {
                what,
                remedy: remedy.to_owned(),
            }
        } else {
            Status::Ok(format!(
                "{what}: recordings are transcribed without voice activity detection ({remedy})"
            ))
        }
    };
    let status = match super::vad::model_state(config) {
        ModelState::Usable(path) => Status::Ok(format!("{} is there", path.display())),
        ModelState::Later { model, source } => Status::Later(format!(
            "{} is made on first use from {}",
            model.display(),
            source.display()
        )),
        ModelState::Missing(path) => unusable(format!("{} is missing", path.display())),
        ModelState::Broken(error) => unusable(error),
    };
    Need::new("transcribe.vad.model", value, status)
}

fn whisper_language(settings: &TranscribeConfig) -> Need {
    let code = &settings.language;
    let status = if language::is_known(code) {
        Status::Ok(if code == "auto" {
            "detected per recording".to_owned()
        } else {
            "a language whisper knows".to_owned()
        })
    } else {
        let meant = language::suggest(code)
            .map(|code| format!("did you mean \"{code}\"? "))
            .unwrap_or_default();
        Status::Problem {
            what: "not a language whisper knows".to_owned(),
            remedy: format!(
                "{meant}write \"auto\" or a code like \"en\", \"de\", \"fr\", \"es\" or \"ja\""
            ),
        }
    };
    Need::new("transcribe.language", code.clone(), status)
}

fn summary_model(config: &Config) -> Need {
    let settings = &config.summarize;
    let value = shown(&settings.model);
    let path = config.models.resolve(&settings.model);
    let remedy = model_remedy(config, &settings.model, "summarize.model", "GGUF")
        + ", or set summarize.enabled = false";
    let status = if !path.is_file() {
        Status::Problem {
            what: format!("{} is missing", path.display()),
            remedy,
        }
    } else if magic(&path) != Some(*b"GGUF") {
        Status::Problem {
            what: format!("{} is not a GGUF model", path.display()),
            remedy,
        }
    } else {
        Status::Ok(format!("{} is there", path.display()))
    };
    Need::new("summarize.model", value, status)
}

fn summary_template(template: &Path) -> Need {
    let status = match Template::load(template) {
        Ok(_) => Status::Ok("loads".to_owned()),
        Err(why) => Status::Problem {
            what: why,
            remedy: "fix it (config/summary-template.toml shows the format) or set summarize.template = \"\" for the built-in one".to_owned(),
        },
    };
    Need::new("summarize.template", shown(template), status)
}

fn worker(config: &Config) -> Need {
    let program = WorkerSpec::from_config(config).program;
    let configured = shown(&config.summarize.worker);
    let found = find_program(&program);
    let status = match found {
        Some(path) if is_executable(&path) => Status::Ok(format!("{} is there", path.display())),
        Some(path) => Status::Problem {
            what: format!("{} is not executable", path.display()),
            remedy: format!("chmod +x {}", path.display()),
        },
        None => Status::Problem {
            what: format!("{} is missing", program.display()),
            remedy: "install chute-llm next to chute (it is built with it: `cargo build --release --bins`), or set summarize.worker to its path".to_owned(),
        },
    };
    Need::new("summarize.worker", configured, status)
}

/// Where `program` is: itself when it names a path, else the first match on `PATH` (as
/// starting a process finds it).
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return program.is_file().then(|| program.to_owned());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::media::config::DEFAULT_VAD_MODEL;

    fn config(text: &str, models: &Path) -> Config {
        let text = format!("[models]\ndir = {:?}\n{text}", models.display().to_string());
        Config::parse(&text, Path::new("c.toml")).unwrap()
    }

    fn problems(needs: &[Need]) -> Vec<&'static str> {
        needs
            .iter()
            .filter(|need| need.is_problem())
            .map(|need| need.key)
            .collect()
    }

    #[test]
    fn nothing_is_needed_without_a_transcribe_route() {
        let models = tempfile::tempdir().unwrap();
        let config = config(
            "[[routes]]\nname = \"audio\"\npipeline = \"passthrough\"\n",
            models.path(),
        );
        assert_eq!(check(&config), []);
    }

    #[test]
    fn missing_models_name_the_key_the_value_and_the_pull() {
        let models = tempfile::tempdir().unwrap();
        let mut settings = config(
            "[transcribe]\nmodel = \"ggml/whisper-small.bin\"\n[summarize]\nworker = \"/nonexistent/chute-llm\"\n",
            models.path(),
        );
        // A file with this language does not parse; a config built in code still is
        // checked.
        settings.transcribe.language = "German".into();
        let needs = check(&settings);
        assert_eq!(
            problems(&needs),
            [
                "transcribe.model",
                "transcribe.language",
                "summarize.model",
                "summarize.worker"
            ]
        );
        let lines: Vec<String> = needs.iter().map(ToString::to_string).collect();
        let dir = models.path().display();
        assert_eq!(
            lines[0],
            format!(
                "transcribe.model = \"ggml/whisper-small.bin\": {dir}/ggml/whisper-small.bin is missing; run `chute models pull whisper-small`"
            )
        );
        assert_eq!(
            lines[1],
            "transcribe.language = \"German\": not a language whisper knows; did you mean \"de\"? write \"auto\" or a code like \"en\", \"de\", \"fr\", \"es\" or \"ja\""
        );
        // With "auto", a missing VAD model is no problem: VAD is off, said so.
        assert!(
            lines[2].starts_with("transcribe.vad.model = ")
                && lines[2].contains("without voice activity detection"),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("run scripts/fetch-test-models.sh"),
            "{}",
            lines[3]
        );
        assert!(
            lines[4].starts_with(
                "summarize.worker = \"/nonexistent/chute-llm\": /nonexistent/chute-llm is missing; "
            ),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn a_vad_model_that_is_required_must_be_there_and_sound() {
        let models = tempfile::tempdir().unwrap();
        let required = "[transcribe.vad]\nenabled = true\n[summarize]\nenabled = false\n";
        assert_eq!(
            problems(&check(&config(required, models.path()))),
            ["transcribe.model", "transcribe.vad.model"]
        );
        let model = models.path().join(DEFAULT_VAD_MODEL);
        std::fs::create_dir_all(model.parent().unwrap()).unwrap();
        std::fs::write(&model, b"lmggjunk").unwrap();
        let needs = check(&config(required, models.path()));
        let line = needs[2].to_string();
        assert!(line.contains("not a Silero VAD model"), "{line}");
        let off = "[transcribe.vad]\nenabled = false\n[summarize]\nenabled = false\n";
        assert!(
            check(&config(off, models.path()))
                .iter()
                .all(|need| need.key != "transcribe.vad.model")
        );
    }

    #[test]
    fn the_default_whisper_model_is_made_from_the_bundled_one() {
        let models = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(models.path().join("ct2/whisper-tiny.en")).unwrap();
        std::fs::write(models.path().join("ct2/whisper-tiny.en/model.bin"), b"ct2").unwrap();
        let needs = check(&config("[summarize]\nenabled = false\n", models.path()));
        assert_eq!(problems(&needs), Vec::<&str>::new());
        assert!(
            matches!(&needs[0].status, Status::Later(said) if said.contains("made on first use"))
        );
        // A configured model is never replaced by the bundled one.
        let needs = check(&config(
            "[transcribe]\nmodel = \"ggml/whisper-base.bin\"\n[summarize]\nenabled = false\n",
            models.path(),
        ));
        assert_eq!(problems(&needs), ["transcribe.model"]);
    }

    #[test]
    fn files_of_the_wrong_kind_are_problems() {
        let models = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(models.path().join("ggml")).unwrap();
        std::fs::create_dir_all(models.path().join("gguf")).unwrap();
        std::fs::write(models.path().join("ggml/whisper-tiny.en.bin"), b"lmgg....").unwrap();
        std::fs::write(
            models.path().join("gguf/SmolLM2-135M-Instruct.Q4_1.gguf"),
            b"<html>",
        )
        .unwrap();
        let template = models.path().join("template.toml");
        std::fs::write(&template, "not = [a template").unwrap();
        let needs = check(&config(
            &format!(
                "[summarize]\ntemplate = {:?}\n",
                template.display().to_string()
            ),
            models.path(),
        ));
        assert_eq!(
            needs[0].status,
            Status::Ok(format!(
                "{}/ggml/whisper-tiny.en.bin is there",
                models.path().display()
            ))
        );
        assert_eq!(
            problems(&needs)[..2],
            ["summarize.model", "summarize.template"]
        );
    }
}
