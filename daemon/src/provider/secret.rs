//! Key values and their references: `env:NAME`, `file:PATH` or `credential:NAME`
//! (systemd's `$CREDENTIALS_DIRECTORY`). A value is read here, wrapped in a
//! [`Secret`] whose `Debug` hides it, and known everywhere else by its fingerprint
//! (`key-` + 8 hex digits of its sha256). Errors name the reference, never a value.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A key's value. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

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
    format!("key-{}", &super::engine::hex(&digest)[..8])
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
    let value = if let Some(name) = reference.strip_prefix("env:") {
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
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        return Err(KeyError::Empty(reference.to_owned()));
    }
    if value.chars().any(|c| c.is_control() || c == ' ') {
        return Err(KeyError::BadCharacters(reference.to_owned()));
    }
    Ok(Secret(value))
}

fn read_secret_file(path: &Path) -> Result<String, KeyError> {
    let unreadable = |source| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if metadata.len() > 16 << 10 {
        return Err(KeyError::TooLarge(path.to_owned()));
    }
    std::fs::read_to_string(path).map_err(unreadable)
}

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
}
