//! Key values and their references: `env:NAME`, `file:PATH` or `credential:NAME`
//! (systemd's `$CREDENTIALS_DIRECTORY`). A value is read here, wrapped in a
//! [`Secret`] whose `Debug` hides it, and known everywhere else by its fingerprint
//! (`key-` + 8 hex digits of its sha256). Errors name the reference, never a value.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A key's value. Its `Debug` never shows it, it cannot be cloned (one copy per key,
/// shared by reference), and its memory is wiped when it is dropped.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// The value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(…)")
    }
}

/// Why a key reference could not be read. Every case has one consequence: the key is
/// left out of its pool (reported by `chute doctor` and `chute plugins check`) and
/// the provider carries on with its other keys; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The config holds something other than a reference.
    #[error(
        "key reference {prefix:?} must start with env:, file: or credential: (keys are never written in the config itself)"
    )]
    NotAReference {
        /// The first characters, enough to find it in the config, never the whole value.
        prefix: String,
    },
    /// `env:NAME` names a variable that is not set.
    #[error("environment variable {0} is not set (set it in the daemon's environment)")]
    VariableNotSet(String),
    /// `credential:NAME` outside a systemd unit with credentials.
    #[error("credential {0}: $CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)")]
    NoCredentialsDirectory(String),
    /// `credential:NAME` with a name that is not a plain file name.
    #[error("credential name {0:?} is not a plain file name")]
    BadCredentialName(String),
    /// The file could not be read.
    #[error("{}: {source} (check the path and its permissions)", path.display())]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// What the filesystem said.
        source: std::io::Error,
    },
    /// The file is too large to be a key.
    #[error("{} is larger than a key can be (16 KiB)", .0.display())]
    TooLarge(PathBuf),
    /// The reference resolved to nothing.
    #[error("{0} is empty")]
    Empty(String),
    /// The value holds characters no key has (a pasted line with a comment?).
    #[error("{0} holds spaces or control characters")]
    BadCharacters(String),
}

/// The stable, non-secret name of a key.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("key-{}", &crate::digest::hex(&digest)[..8])
}

/// Whether a config value is a key reference (`env:`, `file:` or `credential:`)
/// rather than a key written out.
pub fn is_reference(value: &str) -> bool {
    ["env:", "file:", "credential:"]
        .iter()
        .any(|prefix| value.starts_with(prefix))
}

/// Reads a key from its config reference.
pub fn resolve(reference: &str) -> Result<Secret, KeyError> {
    let value = Zeroizing::new(if let Some(name) = reference.strip_prefix("env:") {
        std::env::var(name).map_err(|_| KeyError::VariableNotSet(name.to_owned()))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        read_secret_file(Path::new(path))?
    } else if let Some(name) = reference.strip_prefix("credential:") {
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
            .ok_or_else(|| KeyError::NoCredentialsDirectory(name.to_owned()))?;
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(KeyError::BadCredentialName(name.to_owned()));
        }
        read_secret_file(&Path::new(&dir).join(name))?
    } else {
        return Err(KeyError::NotAReference {
            prefix: reference.chars().take(12).collect(),
        });
    });
    let value = Zeroizing::new(value.trim().to_owned());
    if value.is_empty() {
        return Err(KeyError::Empty(reference.to_owned()));
    }
    if value.chars().any(|c| c.is_control() || c == ' ') {
        return Err(KeyError::BadCharacters(reference.to_owned()));
    }
    Ok(Secret(value))
}

fn read_secret_file(path: &Path) -> Result<String, KeyError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mode = file.metadata().map_err(unreadable)?.permissions().mode();
    if mode & 0o044 != 0 {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", mode & 0o777),
            "A key file is readable by other users; make it private: chmod 600 (or use a systemd credential)."
        );
    }
    // Read through the opened file with a bound, so a file that grows after a size
    // check cannot make this read unbounded.
    let mut value = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut value)
        .map_err(unreadable)?;
    if value.len() as u64 > MAX_KEY_FILE {
        return Err(KeyError::TooLarge(path.to_owned()));
    }
    String::from_utf8(std::mem::take(&mut *value)).map_err(|error| {
        let mut bytes = error.into_bytes();
        zeroize::Zeroize::zeroize(&mut bytes);
        unreadable(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

/// Largest key file read (16 KiB): a longer file is not a key.
const MAX_KEY_FILE: u64 = 16 << 10;

/// A key reference safe to print (`env:NAME`, `file:…/NAME`, `credential:NAME`).
pub fn reference_label(reference: &str) -> String {
    match reference.split_once(':') {
        Some(("file", path)) => format!(
            "file:{}",
            Path::new(path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        Some((kind @ ("env" | "credential"), name)) => format!("{kind}:{name}"),
        _ => "(not a key reference)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_written_out_is_refused_without_echoing_it() {
        let error = resolve("AIzaPlainTextKeyThatIsLong").expect_err("not a reference");
        assert!(matches!(error, KeyError::NotAReference { .. }));
        assert!(!error.to_string().contains("ThatIsLong"), "{error}");
        assert_eq!(
            reference_label("file:/etc/chute/gemini.key"),
            "file:gemini.key"
        );
    }

    /// Log lines written while `work` runs.
    fn logged(work: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || SinkWriter(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, work);
        let bytes = lines.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    struct SinkWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SinkWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut sink) = self.0.lock() {
                sink.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_key_file_others_can_read_is_used_with_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("gemini.key");
        std::fs::write(&path, "AIzaSyFAKE-mode-check-0000\n").expect("key file");
        let reference = format!("file:{}", path.display());
        for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false), (0o400, false)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let mut value = None;
            let log = logged(|| value = resolve(&reference).ok());
            let value = value.expect("the key is read either way");
            assert_eq!(value.expose(), "AIzaSyFAKE-mode-check-0000");
            assert_eq!(log.contains("chmod 600"), warned, "mode {mode:o}: {log}");
            assert!(!log.contains("mode-check"), "the log shows the key: {log}");
        }
        std::fs::write(&path, vec![b'k'; (16 << 10) + 1]).expect("big file");
        assert!(matches!(resolve(&reference), Err(KeyError::TooLarge(_))));
    }
}
