//! Offline speech: espeak-ng speaks a scene's voiceover into a WAV file. It speaks
//! Vietnamese, English, Mandarin and about a hundred other languages.
//!
//! The text comes from the brief (hostile), so it goes to espeak-ng on stdin, never as
//! an argument that could read as an option, and espeak-ng runs confined (see
//! [`crate::confine`]): no API key in its environment, no network, and the only file
//! it may write is the WAV it was asked for.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::confine::{ConfinedChild, Policy};

/// The Debian package that provides espeak-ng.
pub const PACKAGE: &str = "espeak-ng";

/// The largest file espeak-ng may write (RLIMIT_FSIZE): about 100 minutes of its
/// 22.05 kHz speech (a scene's voiceover is at most ten). The limit also bounds memory
/// files, and the PulseAudio library espeak-ng links sizes one to 64 MiB as it starts.
pub const MAX_VOICE_BYTES: u64 = 256 << 20;

/// espeak-ng's address-space limit.
const VOICE_MEMORY: u64 = 1 << 30;

/// Most of espeak-ng's stdout or stderr kept.
const OUTPUT_CAP: usize = 1 << 20;

/// Why espeak-ng could not speak a text.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// espeak-ng is not installed.
    #[error("espeak-ng is not installed (apt-get install {PACKAGE}); it is the offline voice")]
    Missing,
    /// It ran but failed, or wrote no audio.
    #[error("espeak-ng failed for voice {voice:?}: {reason}")]
    Failed {
        /// The espeak-ng voice asked for.
        voice: String,
        /// What went wrong.
        reason: String,
    },
    /// It ran longer than allowed.
    #[error("espeak-ng did not finish within {0:?}")]
    Timeout(Duration),
}

/// The espeak-ng voice for a brief's `language` and `voice`.
///
/// The language picks the voice (`en` → `en-us`, `zh` → `cmn`, others as written,
/// region dropped when espeak-ng has no such region). A brief voice that says
/// `female` (`vi-female-1`) adds espeak-ng's `+f3` variant; other voice names are
/// meant for remote providers and are ignored here.
pub fn espeak_voice(language: &str, voice: Option<&str>) -> String {
    let lower = language.to_ascii_lowercase();
    let base = match lower.as_str() {
        "en" | "en-us" => "en-us".to_owned(),
        "en-gb" => "en-gb".to_owned(),
        "zh" | "zh-cn" | "zh-hans" | "cmn" => "cmn".to_owned(),
        "zh-hk" | "zh-hant" | "yue" => "yue".to_owned(),
        "pt-br" => "pt-br".to_owned(),
        other => other.split('-').next().unwrap_or(other).to_owned(),
    };
    let female = voice.is_some_and(|voice| voice.to_ascii_lowercase().contains("female"));
    if female { format!("{base}+f3") } else { base }
}

/// Where and how espeak-ng runs: the chute binary that confines it, its wall-clock
/// limit, and the cores its CPU time is counted in (`limits.child_cpu_cores`).
#[derive(Debug, Clone, Copy)]
pub struct Speaker<'a> {
    /// The chute binary (`chute confine` starts espeak-ng).
    pub executable: &'a Path,
    /// Wall-clock limit of each espeak-ng run.
    pub timeout: Duration,
    /// See [`crate::confine::cpu_seconds`].
    pub cpu_cores: u32,
}

/// Speaks `text` with espeak-ng `voice` into the WAV file `output`.
pub async fn speak(
    speaker: Speaker<'_>,
    text: &str,
    voice: &str,
    output: &Path,
) -> Result<(), VoiceError> {
    let timeout = speaker.timeout;
    let failed = |reason: String| VoiceError::Failed {
        voice: voice.to_owned(),
        reason,
    };
    // espeak-ng quietly speaks English for a voice it does not have.
    let language = voice.split('+').next().unwrap_or(voice);
    if !has_voice(speaker, language).await? {
        return Err(failed(format!(
            "espeak-ng has no voice for {language:?} (`espeak-ng --voices` lists them); set a speech provider for this language"
        )));
    }
    // The file exists before espeak-ng starts, so it may write exactly that file.
    std::fs::File::create(output)
        .map_err(|error| failed(format!("cannot create {}: {error}", output.display())))?;
    let policy = Policy::new(timeout, speaker.cpu_cores, MAX_VOICE_BYTES)
        .memory(VOICE_MEMORY)
        .writable(output)
        .pass_env("ESPEAK_DATA_PATH");
    let mut command = policy.command(speaker.executable, PACKAGE);
    command
        .arg("-v")
        .arg(voice)
        .arg("--stdin")
        .arg("-w")
        .arg(output)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = ConfinedChild::spawn(&mut command)
        .map_err(|error| failed(format!("cannot start it through chute confine: {error}")))?;
    let mut stdin = child
        .stdin()
        .ok_or_else(|| failed("its stdin is not piped".into()))?;
    // One line: espeak-ng --stdin speaks line by line and a newline inside the
    // voiceover would only add a pause.
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let run = async {
        stdin.write_all(line.as_bytes()).await?;
        stdin.write_all(b"\n").await?;
        drop(stdin);
        child.output(OUTPUT_CAP).await
    };
    let output_status = match tokio::time::timeout(timeout, run).await {
        Ok(result) => result.map_err(|error| failed(error.to_string()))?,
        Err(_) => {
            child.kill_and_wait().await;
            return Err(VoiceError::Timeout(timeout));
        }
    };
    missing_if_not_found(output_status.status)?;
    let diagnostics = String::from_utf8_lossy(&output_status.stderr)
        .trim()
        .to_owned();
    if !output_status.status.success() || !diagnostics.is_empty() {
        return Err(failed(if diagnostics.is_empty() {
            crate::confine::describe_status(output_status.status)
        } else {
            diagnostics
        }));
    }
    let written = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    if written <= 44 {
        return Err(failed("it wrote no audio".into()));
    }
    Ok(())
}

/// `chute confine` says (exit code 127) when espeak-ng is not installed.
fn missing_if_not_found(status: ExitStatus) -> Result<(), VoiceError> {
    if status.code() == Some(i32::from(crate::confine::EXIT_NOT_FOUND)) {
        Err(VoiceError::Missing)
    } else {
        Ok(())
    }
}

/// Whether espeak-ng lists a voice for `language`.
async fn has_voice(speaker: Speaker<'_>, language: &str) -> Result<bool, VoiceError> {
    let timeout = speaker.timeout;
    let cannot_list = |reason: String| VoiceError::Failed {
        voice: language.to_owned(),
        reason: format!("cannot list its voices: {reason}"),
    };
    let policy = Policy::new(timeout, speaker.cpu_cores, MAX_VOICE_BYTES)
        .memory(VOICE_MEMORY)
        .pass_env("ESPEAK_DATA_PATH");
    let mut command = policy.command(speaker.executable, PACKAGE);
    command
        .arg(format!("--voices={language}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = ConfinedChild::spawn(&mut command)
        .map_err(|error| cannot_list(format!("cannot start chute confine: {error}")))?;
    let output = match tokio::time::timeout(timeout, child.output(OUTPUT_CAP)).await {
        Ok(result) => result.map_err(|error| cannot_list(error.to_string()))?,
        Err(_) => {
            child.kill_and_wait().await;
            return Err(VoiceError::Timeout(timeout));
        }
    };
    missing_if_not_found(output.status)?;
    Ok(lists_language(
        &String::from_utf8_lossy(&output.stdout),
        language,
    ))
}

/// Whether an `espeak-ng --voices=…` listing has a voice for exactly `language` (the
/// listing also shows voices whose code merely starts with it: `no` for `no-such`).
fn lists_language(listing: &str, language: &str) -> bool {
    listing.lines().skip(1).any(|line| {
        let mut tokens = line.split_whitespace().skip(1);
        let own = tokens.next();
        let others = tokens.filter_map(|token| token.strip_prefix('('));
        own.into_iter()
            .chain(others)
            .any(|code| code.eq_ignore_ascii_case(language))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_map_to_espeak_voices() {
        assert_eq!(espeak_voice("vi", None), "vi");
        assert_eq!(espeak_voice("en", None), "en-us");
        assert_eq!(espeak_voice("zh", None), "cmn");
        assert_eq!(espeak_voice("pt-BR", None), "pt-br");
        assert_eq!(espeak_voice("de-AT", None), "de");
        assert_eq!(espeak_voice("vi", Some("vi-female-1")), "vi+f3");
        assert_eq!(espeak_voice("en", Some("Kore")), "en-us");
    }

    #[test]
    fn a_listing_matches_whole_language_codes() {
        let listing = "Pty Language       Age/Gender VoiceName          File                 Other Languages\n 5  nb              --/M      Norwegian_Bokmål  gmq/nb               (no 5)\n 5  cmn             --/M      Chinese_(Mandarin) sit/cmn              (zh-cmn 5)(zh 5)\n";
        assert!(lists_language(listing, "nb"));
        assert!(lists_language(listing, "no"));
        assert!(lists_language(listing, "cmn"));
        assert!(lists_language(listing, "zh-cmn"));
        assert!(!lists_language(listing, "no-such-voice"));
        assert!(!lists_language(listing, "c"));
    }
}
