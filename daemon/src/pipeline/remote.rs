//! The pipeline's side of remote operations: a stage's handles live in its
//! state.json `remote` map (through [`StageContext::save_remote`], fsynced before the
//! first status check), and the driver's errors become stage errors by consequence.

use super::{StageContext, StageError};
use crate::provider::{
    Consequence, HandleStore, HandleStoreError, OperationError, RemoteHandle, RemoteOperations,
};

impl HandleStore for StageContext {
    fn load(&self, handle_key: &str) -> Result<Option<RemoteHandle>, HandleStoreError> {
        let Some(value) = self.remote_handle(handle_key) else {
            return Ok(None);
        };
        serde_json::from_value(value)
            .map(Some)
            .map_err(|error| HandleStoreError {
                handle_key: handle_key.to_owned(),
                action: "read",
                reason: error.to_string(),
            })
    }

    fn save(&self, handle_key: &str, handle: &RemoteHandle) -> Result<(), HandleStoreError> {
        let failed = |reason: String| HandleStoreError {
            handle_key: handle_key.to_owned(),
            action: "saved",
            reason,
        };
        let value = serde_json::to_value(handle).map_err(|error| failed(error.to_string()))?;
        self.save_remote(handle_key, value)
            .map_err(|error| failed(error.to_string()))
    }

    fn confirm_owner(&self, handle_key: &str) -> Result<(), HandleStoreError> {
        self.job.confirm_owner().map_err(|error| HandleStoreError {
            handle_key: handle_key.to_owned(),
            action: "confirmed",
            reason: error.to_string(),
        })
    }
}

impl StageContext {
    /// The remote operation driver for this stage: handles in state.json, waits that
    /// end on this job's cancel and the daemon's stop, calls booked to this job.
    pub fn remote_operations(&self) -> RemoteOperations<'_> {
        let job = self.job.id.to_string();
        self.providers.operations(self, self.signals(), Some(&job))
    }
}

impl From<OperationError> for StageError {
    fn from(error: OperationError) -> Self {
        // I/O keeps its own rule: a failed fsync fails the job loudly.
        if let OperationError::Io(io) = error {
            return io.into();
        }
        match error.consequence() {
            Consequence::Stopped(stopped) => stopped.into(),
            Consequence::RetryLater => StageError::Transient(error.to_string()),
            Consequence::FailJob => StageError::job(error.to_string(), error.remedy()),
        }
    }
}
