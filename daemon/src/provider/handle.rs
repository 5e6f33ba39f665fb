//! The handle of a remote operation (a video render at the provider): the typed,
//! versioned record saved before the first status check, and the [`HandleStore`]
//! it is saved in. A stage gives its store to the remote operation driver
//! (`operation.rs`); the pipeline's store keeps handles in the job's state.json, so a
//! restarted daemon resumes the operation instead of paying for it twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The record format written now. Version 0 is the shape written before the field
/// existed (`provider`, `state`, `key`, `submitted_at`): it loads as it is.
pub const HANDLE_VERSION: u32 = 1;

/// One saved operation. Daemon-written state: every field has a default, so older
/// and newer records load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteHandle {
    /// The record format ([`HANDLE_VERSION`]; 0 for records from before versions).
    pub version: u32,
    /// The provider that accepted the operation; it alone can be asked about it.
    pub provider: String,
    /// The plugin's poll state (`pending.state`), handed back on every status check.
    pub state: String,
    /// The fingerprint of the key that submitted it: status checks and the download
    /// use that key, because the operation belongs to its project.
    pub key: Option<String>,
    /// When it was submitted, for the operation's deadline across restarts.
    pub submitted_at: Option<DateTime<Utc>>,
}

impl RemoteHandle {
    /// A handle for an operation submitted just now.
    pub fn submitted(provider: &str, state: String, key: Option<String>) -> RemoteHandle {
        RemoteHandle {
            version: HANDLE_VERSION,
            provider: provider.to_owned(),
            state,
            key,
            submitted_at: Some(Utc::now()),
        }
    }

    /// Why this handle cannot be resumed, if it cannot (a record damaged by hand).
    pub fn unusable(&self) -> Option<&'static str> {
        if self.provider.is_empty() {
            Some("it names no provider")
        } else if self.state.is_empty() {
            Some("it holds no poll state")
        } else {
            None
        }
    }
}

/// A saved handle could not be read or written. Consequence: the stage is tried again
/// later (nothing was lost: an unsaved handle was never polled); the remedy is the
/// disk (free space, permissions).
#[derive(Debug, thiserror::Error)]
#[error(
    "the remote handle {handle_key:?} could not be {action}: {reason} (check the spool's disk)"
)]
pub struct HandleStoreError {
    /// The handle's key within its store.
    pub handle_key: String,
    /// `read` or `saved`.
    pub action: &'static str,
    /// What went wrong.
    pub reason: String,
}

/// Where a stage keeps the handles of its remote operations, by handle key (e.g.
/// `video`, or `clip-3` for one of many). `save` must be durable before it returns:
/// the driver polls only after the handle is saved.
pub trait HandleStore: Send + Sync {
    /// The handle saved under `handle_key`, if any.
    fn load(&self, handle_key: &str) -> Result<Option<RemoteHandle>, HandleStoreError>;
    /// Saves (or replaces) the handle under `handle_key`, durably.
    fn save(&self, handle_key: &str, handle: &RemoteHandle) -> Result<(), HandleStoreError>;
    /// Whether the caller may still spend on the store's behalf: a job's store refuses
    /// once another daemon adopted the job (see `job/fence.rs`), so a stale owner never
    /// submits again. Checked before every call that reaches a provider.
    fn confirm_owner(&self, handle_key: &str) -> Result<(), HandleStoreError> {
        let _ = handle_key;
        Ok(())
    }
}

/// Handles kept in memory (tests, and tools that do not resume).
#[derive(Debug, Default)]
pub struct MemoryHandles(std::sync::Mutex<std::collections::BTreeMap<String, RemoteHandle>>);

impl HandleStore for MemoryHandles {
    fn load(&self, handle_key: &str) -> Result<Option<RemoteHandle>, HandleStoreError> {
        let handles = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(handles.get(handle_key).cloned())
    }

    fn save(&self, handle_key: &str, handle: &RemoteHandle) -> Result<(), HandleStoreError> {
        let mut handles = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        handles.insert(handle_key.to_owned(), handle.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_saved_before_versions_still_loads() {
        let old: RemoteHandle =
            serde_json::from_str(include_str!("../../tests/fixtures/remote-handle-v0.json"))
                .expect("the old shape loads");
        assert_eq!(old.version, 0);
        assert_eq!(old.provider, "gemini-lite");
        assert_eq!(old.state, "models/veo-test/operations/op000001");
        assert_eq!(old.key.as_deref(), Some("key-1a2b3c4d"));
        assert!(old.submitted_at.is_some());
        assert_eq!(old.unusable(), None);
        // A key of null (a provider without keys) and unknown fields load too.
        let keyless: RemoteHandle = serde_json::from_str(
            r#"{"provider":"p","state":"s","key":null,"submitted_at":null,"later":1}"#,
        )
        .expect("lenient");
        assert_eq!(keyless.key, None);
        let written =
            serde_json::to_value(RemoteHandle::submitted("p", "s".into(), None)).expect("json");
        assert_eq!(written["version"], HANDLE_VERSION);
        assert_eq!(
            serde_json::from_str::<RemoteHandle>("{}")
                .map(|handle| handle.unusable().is_some())
                .ok(),
            Some(true)
        );
    }
}
