//! Every request a fake receives, kept for the test's assertions: when it came, which
//! key it carried (and that key's fingerprint), where it went and what it said.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

/// One request as a fake received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// Which fake answered it (`gemini`, `storage`, `elevenlabs`, …).
    pub origin: &'static str,
    /// The credential it carried (header, query or bearer), as sent.
    pub key: Option<String>,
    /// The key's fingerprint as chute's records show it (`key-` and 8 hex digits).
    pub fingerprint: Option<String>,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The query string (without `?`).
    pub query: String,
    /// All headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The HTTP status the fake answered.
    pub status: u16,
}

impl Seen {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// The shared log of requests.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    /// Every request so far, oldest first.
    pub fn all(&self) -> Vec<Seen> {
        self.lock().clone()
    }

    /// Requests whose path ends with `suffix`.
    pub fn ending(&self, suffix: &str) -> Vec<Seen> {
        self.lock()
            .iter()
            .filter(|seen| seen.path.ends_with(suffix))
            .cloned()
            .collect()
    }

    /// Requests whose path contains `part`.
    pub fn containing(&self, part: &str) -> Vec<Seen> {
        self.lock()
            .iter()
            .filter(|seen| seen.path.contains(part))
            .cloned()
            .collect()
    }

    /// Forgets everything recorded so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Adds a request; returns its index so the status can be filled in later.
    pub(crate) fn push(&self, seen: Seen) -> usize {
        let mut log = self.lock();
        log.push(seen);
        log.len() - 1
    }

    /// Records the status answered to request `index`.
    pub(crate) fn answered(&self, index: usize, status: u16) {
        if let Some(seen) = self.lock().get_mut(index) {
            seen.status = status;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Seen>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A key's fingerprint as chute's records show it: `key-` and the first 8 hex digits of
/// its sha256.
pub fn fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest
        .iter()
        .take(4)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("key-{hex}")
}

/// Headers as (lower-case name, value) pairs.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                value.to_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}
