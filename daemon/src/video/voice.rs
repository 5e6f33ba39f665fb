//! Offline speech: espeak-ng speaks a scene's voiceover into a WAV file. It speaks
//! Vietnamese, English, Mandarin and about a hundred other languages.
//!
//! The text comes from the brief (hostile), so it goes to espeak-ng on stdin, never as
//! an argument that could read as an option, and the child starts with an empty
//! environment: no API key ever reaches it.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// The Debian package that provides espeak-ng.
pub const PACKAGE: &str = "espeak-ng";

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

/// Speaks `text` with espeak-ng `voice` into the WAV file `output`.
pub async fn speak(
    text: &str,
    voice: &str,
    output: &Path,
    timeout: Duration,
) -> Result<(), VoiceError> {
    let failed = |reason: String| VoiceError::Failed {
        voice: voice.to_owned(),
        reason,
    };
    // espeak-ng quietly speaks English for a voice it does not have.
    let language = voice.split('+').next().unwrap_or(voice);
    if !has_voice(language, timeout).await? {
        return Err(failed(format!(
            "espeak-ng has no voice for {language:?} (`espeak-ng --voices` lists them); set a speech provider for this language"
        )));
    }
    let mut child = tokio::process::Command::new(PACKAGE)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .arg("-v")
        .arg(voice)
        .arg("--stdin")
        .arg("-w")
        .arg(output)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => VoiceError::Missing,
            _ => failed(format!("cannot start it: {error}")),
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| failed("its stdin is not piped".into()))?;
    // One line: espeak-ng --stdin speaks line by line and a newline inside the
    // voiceover would only add a pause.
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let run = async {
        stdin.write_all(line.as_bytes()).await?;
        stdin.write_all(b"\n").await?;
        drop(stdin);
        child.wait_with_output().await
    };
    let output_status = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| VoiceError::Timeout(timeout))?
        .map_err(|error| failed(error.to_string()))?;
    let diagnostics = String::from_utf8_lossy(&output_status.stderr)
        .trim()
        .to_owned();
    if !output_status.status.success() || !diagnostics.is_empty() {
        return Err(failed(if diagnostics.is_empty() {
            output_status.status.to_string()
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

/// Whether espeak-ng lists a voice for `language`.
async fn has_voice(language: &str, timeout: Duration) -> Result<bool, VoiceError> {
    let listing = tokio::process::Command::new(PACKAGE)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .arg(format!("--voices={language}"))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, listing)
        .await
        .map_err(|_| VoiceError::Timeout(timeout))?
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => VoiceError::Missing,
            _ => VoiceError::Failed {
                voice: language.to_owned(),
                reason: format!("cannot list its voices: {error}"),
            },
        })?;
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

    #[tokio::test]
    async fn speaks_vietnamese_into_a_wav() {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = dir.path().join("scene.wav");
        speak(
            "Serum Sáng Da giúp da sáng đều màu.\n-v en",
            "vi",
            &output,
            Duration::from_secs(20),
        )
        .await
        .expect("espeak-ng speaks");
        let bytes = std::fs::read(&output).expect("wav");
        assert_eq!(&bytes[..4], b"RIFF");
        // More than a second of 22.05 kHz 16-bit audio.
        assert!(bytes.len() > 44_100, "{} bytes", bytes.len());
    }

    #[tokio::test]
    async fn an_unknown_voice_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = speak(
            "hello",
            "no-such-voice",
            &dir.path().join("x.wav"),
            Duration::from_secs(20),
        )
        .await
        .expect_err("unknown voice");
        assert!(error.to_string().contains("no-such-voice"), "{error}");
    }
}
