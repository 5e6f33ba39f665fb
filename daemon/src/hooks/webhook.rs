//! Webhooks: the job's event POSTed as JSON, signed, retried, and delivered at least
//! once across restarts.
//!
//! - Before the first attempt the event is written to `hooks/pending/<event_id>.json`
//!   in the spool (temp file + fsync + rename) and locked (`flock`) for as long as
//!   this daemon sends it; it is removed once delivered or given up. A daemon that
//!   starts sends every pending event whose lock it can take (one whose sender died
//!   with a kill -9), so an event is sent again after a crash, never lost, and never
//!   by two live daemons at once. Receivers drop repeats by `event_id`.
//! - Signature: `X-Chute-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
//!   body)>` with `X-Chute-Timestamp: <unix seconds>`; the secret comes from
//!   `webhook_secret` (a key reference, read at each delivery, never stored).
//! - Retries (backon): exponential from 1 s to 5 min with jitter, on transport errors,
//!   408, 425, 429 and 5xx, waiting `Retry-After` (up to 5 min) when a 429 or 503 says
//!   so; at most `webhook_attempts` attempts, none started after
//!   `webhook_give_up_after` (though a resend after a restart always gets one). Other
//!   answers (4xx, redirects) give up at once. Redirects are never followed.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use fs2::FileExt;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::provider::exchange::retry_after;
use crate::provider::secret::{reference_label, resolve};

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// An event on its way to a webhook, as kept in `hooks/pending/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The event's id (the file's name).
    pub event_id: Uuid,
    /// The job it tells of.
    pub job_id: Uuid,
    /// The route it belongs to (for logs and metrics).
    pub route: String,
    /// The job's delivered folder, where the outcome is recorded.
    pub result_dir: PathBuf,
    /// Where it is POSTed.
    pub url: String,
    /// The `webhook_secret` reference (`env:NAME`…), never the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// `webhook_attempts`.
    pub attempts: u32,
    /// `hook_timeout`: the limit of one request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// No attempt starts after this (`webhook_give_up_after` from the job's end).
    pub give_up_at: DateTime<Utc>,
    /// The exact body sent, every time.
    pub body: String,
}

/// A pending event this daemon holds the lock of, until [`Held::finish`].
#[derive(Debug)]
pub struct Held {
    path: PathBuf,
    /// The locked file (the lock goes with it).
    _file: File,
    /// The event.
    pub pending: Pending,
}

impl Held {
    /// Removes the pending file: the event was delivered or given up.
    pub fn finish(self) {
        if let Err(error) = std::fs::remove_file(&self.path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(file = %self.path.display(), %error, "Cannot remove a sent webhook event; it may be sent again after a restart.");
        }
    }
}

/// Writes `pending` into `folder` (created if needed), locked, before it is sent.
pub fn write_pending(folder: &Path, pending: Pending, durable: bool) -> io::Result<Held> {
    std::fs::create_dir_all(folder)?;
    let mut temporary = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".json")
        .tempfile_in(folder)?;
    temporary.as_file().lock_exclusive()?;
    let text = serde_json::to_vec_pretty(&pending).map_err(io::Error::other)?;
    temporary.write_all(&text)?;
    if durable {
        temporary.as_file().sync_all()?;
    }
    let path = folder.join(format!("{}.json", pending.event_id));
    let file = temporary.persist(&path).map_err(|error| error.error)?;
    if durable {
        crate::spool::fsutil::sync_dir(folder)?;
    }
    Ok(Held {
        path,
        _file: file,
        pending,
    })
}

/// The pending events in `folder` no live daemon is sending: each returned locked.
/// Unreadable ones are logged and left for the operator.
pub fn take_pending(folder: &Path) -> Vec<Held> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut held = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let Ok(file) = File::options().read(true).write(true).open(&path) else {
            continue;
        };
        if file.try_lock_exclusive().is_err() {
            continue;
        }
        // Its sender may have finished (removed it) between the listing and the lock.
        if file
            .metadata()
            .map_or(true, |metadata| metadata.nlink() == 0)
        {
            continue;
        }
        match serde_json::from_reader::<_, Pending>(&file) {
            Ok(pending) => held.push(Held {
                path,
                _file: file,
                pending,
            }),
            Err(error) => {
                tracing::warn!(file = %path.display(), %error, "A pending webhook event cannot be read; it is left in place.");
            }
        }
    }
    held
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &[u8], timestamp: &str, body: &str) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "sha256={}",
        crate::digest::hex(&mac.finalize().into_bytes())
    )
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The receiver answered 2xx.
    Delivered {
        /// Attempts it took.
        attempts: u32,
        /// The answer's status.
        status: u16,
    },
    /// Given up.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        why: String,
    },
}

impl Sent {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Sent::Delivered { .. } => "delivered",
            Sent::GaveUp { .. } => "gave_up",
        }
    }

    /// One line for the events file and the log.
    pub fn describe(&self) -> String {
        match self {
            Sent::Delivered { attempts, status } => {
                format!("webhook delivered: HTTP {status} (attempt {attempts})")
            }
            Sent::GaveUp { attempts, why } => {
                format!("webhook gave up after {attempts} attempt(s): {why}")
            }
        }
    }
}

/// One failed attempt.
#[derive(Debug)]
struct Failure {
    why: String,
    retry: bool,
    after: Option<Duration>,
}

/// Sends `pending` with its retries.
pub async fn send(client: &reqwest::Client, pending: &Pending) -> Sent {
    let secret = match pending.secret.as_deref().map(resolve).transpose() {
        Ok(secret) => secret,
        Err(error) => {
            return Sent::GaveUp {
                attempts: 0,
                why: format!(
                    "cannot read webhook_secret {}: {error}",
                    reference_label(pending.secret.as_deref().unwrap_or_default())
                ),
            };
        }
    };
    let made = AtomicU32::new(0);
    let attempt = || async {
        made.fetch_add(1, Ordering::Relaxed);
        let timestamp = Utc::now().timestamp().to_string();
        let mut request = client
            .post(&pending.url)
            .timeout(pending.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Chute-Event-Id", pending.event_id.to_string())
            .header("X-Chute-Timestamp", &timestamp)
            .body(pending.body.clone());
        if let Some(secret) = &secret {
            request = request.header(
                "X-Chute-Signature",
                signature(secret.expose().as_bytes(), &timestamp, &pending.body),
            );
        }
        let response = request.send().await.map_err(|error| Failure {
            why: error.without_url().to_string(),
            retry: true,
            after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        let code = status.as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect();
        Err(Failure {
            why: format!("HTTP {code}"),
            retry: matches!(code, 408 | 425 | 429) || status.is_server_error(),
            after: matches!(code, 429 | 503)
                .then(|| retry_after(&headers))
                .flatten()
                .map(|after| after.min(MAX_RETRY_AFTER)),
        })
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(MAX_RETRY_AFTER)
        .with_jitter()
        .with_max_times(pending.attempts.saturating_sub(1) as usize);
    let result = attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|failure| failure.retry && Utc::now() < pending.give_up_at)
        .adjust(|failure, delay| delay.map(|delay| failure.after.unwrap_or(delay)))
        .notify(|failure, delay| {
            tracing::info!(route = %pending.route, event_id = %pending.event_id, "Webhook attempt failed ({}); retrying in {delay:.1?}.", failure.why);
        })
        .await;
    let attempts = made.load(Ordering::Relaxed);
    match result {
        Ok(status) => Sent::Delivered { attempts, status },
        Err(failure) => Sent::GaveUp {
            attempts,
            why: failure.why,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pending() -> Pending {
        Pending {
            event_id: Uuid::now_v7(),
            job_id: Uuid::now_v7(),
            route: "archive".into(),
            result_dir: "/spool/outbox/archive/x--1".into(),
            url: "http://127.0.0.1:9/hook".into(),
            secret: Some("env:HOOK_SECRET".into()),
            attempts: 3,
            timeout: Duration::from_secs(5),
            give_up_at: Utc::now(),
            body: "{}".into(),
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            signature(b"key", "1700000000", "{\"a\":1}"),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }

    #[test]
    fn a_pending_event_is_taken_only_when_no_sender_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("hooks/pending");
        let held = write_pending(&folder, pending(), true).unwrap();
        assert!(
            take_pending(&folder).is_empty(),
            "its sender still holds it"
        );
        let id = held.pending.event_id;
        drop(held);
        let taken = take_pending(&folder);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].pending.event_id, id);
        assert!(take_pending(&folder).is_empty(), "taken twice");
        for held in taken {
            held.finish();
        }
        let names: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
        assert!(names.is_empty(), "{names:?}");
    }
}
