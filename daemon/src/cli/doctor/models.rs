//! `chute doctor`'s model checks: the whisper model, the Silero VAD model and the
//! summary's language model.

use std::path::Path;

use crate::config::Config;
use crate::media::whisper::GGML_MAGIC;

/// Whether the configured whisper model loads, or can be converted on first use.
pub(super) fn check_whisper(config: &Config, check: &mut impl FnMut(bool, String, &str)) {
    let models = config.models.dir();
    let whisper = config.models.resolve(&config.transcribe.model);
    let ct2 = models.join("ct2/whisper-tiny.en/model.bin");
    let whisper_ok = has_ggml_magic(&whisper);
    let whisper_loaded = whisper_ok.then(|| {
        crate::media::whisper::WhisperModel::load(&whisper, cfg!(feature = "cuda"))
            .map(|_| ())
            .map_err(|error| error.to_string())
    });
    check(
        whisper_loaded.as_ref().map_or(ct2.exists(), Result::is_ok),
        match &whisper_loaded {
            Some(Ok(())) => format!("whisper model {} (loads)", whisper.display()),
            Some(Err(error)) => {
                format!("whisper model {} does not load: {error}", whisper.display())
            }
            None if ct2.exists() => format!(
                "whisper model {} (converted from {} on first use)",
                whisper.display(),
                ct2.display()
            ),
            None => format!("whisper model {} is missing", whisper.display()),
        },
        "run `chute models pull whisper-tiny.en` or scripts/fetch-test-models.sh, or set transcribe.model to a whisper.cpp ggml file",
    );
}

/// Starts the llama.cpp worker on the configured model: whether it loads, and what.
pub(super) fn check_language_model(config: &Config) -> (bool, String) {
    use crate::summary::worker::{LlamaWorker, WorkerSpec};
    let spec = WorkerSpec::from_config(config);
    let model = &spec.model;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return (false, format!("summary model: {error}")),
    };
    runtime.block_on(async {
        match LlamaWorker::start(&spec, std::time::Duration::from_secs(300)).await {
            Ok(worker) => {
                let ready = worker.ready().clone();
                worker.stop().await;
                (
                    true,
                    format!(
                        "summary model {} (loads in {:.1} s: {:.0}M parameters, context {}, {})",
                        model.display(),
                        ready.load_seconds,
                        ready.parameters as f64 / 1e6,
                        ready.context,
                        ready.device
                    ),
                )
            }
            Err(error) => (false, format!("summary model {}: {error}", model.display())),
        }
    })
}

/// Whether the transcribe stage will run voice activity detection, as
/// `pipeline::vad::choose` decides it (without converting anything): with
/// `transcribe.vad.enabled = "auto"` a missing or broken model only warns, since the
/// recording is then transcribed whole, only slower.
pub(super) fn check_vad(config: &Config, check: &mut impl FnMut(bool, String, &str)) {
    use crate::media::config::VadEnabled;
    use crate::pipeline::vad::{MODEL_REMEDY, ModelState, model_state};
    if config.transcribe.vad.enabled == VadEnabled::Off {
        println!("info  voice activity detection is off (transcribe.vad.enabled = false)");
        return;
    }
    let (usable, what) = match model_state(config) {
        ModelState::Usable(model) => (
            true,
            format!("voice activity detection: Silero model {}", model.display()),
        ),
        ModelState::Later { model, source } => (
            true,
            format!(
                "voice activity detection: Silero model {} (converted from {} on first use)",
                model.display(),
                source.display()
            ),
        ),
        ModelState::Missing(model) => (
            false,
            format!(
                "voice activity detection: the Silero model {} is missing",
                model.display()
            ),
        ),
        ModelState::Broken(error) => (false, format!("voice activity detection: {error}")),
    };
    if usable || config.transcribe.vad.enabled == VadEnabled::On {
        check(usable, what, MODEL_REMEDY);
    } else {
        println!(
            "warn  {what}; recordings are transcribed whole, which is slower\n      -> {MODEL_REMEDY}"
        );
    }
}

fn has_ggml_magic(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok_and(|()| u32::from_le_bytes(magic) == GGML_MAGIC)
}
