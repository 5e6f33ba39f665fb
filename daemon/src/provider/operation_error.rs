//! Why a remote operation (`operation.rs`) did not produce its file, grouped by
//! consequence: stopped (cancel or shutdown), worth another attempt later, or the
//! job fails, each with a remedy for the operator.

use std::time::Duration;

use super::call::CallError;
use super::handle::HandleStoreError;
use super::http::DownloadError;
use super::media_type::MediaKind;
use super::plugin::Answer;
use crate::stop::Stopped;

/// What a failure means for the work that asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consequence {
    /// The job was cancelled or the daemon is stopping.
    Stopped(Stopped),
    /// Try the same work again later; nothing was lost (a saved handle is resumed).
    RetryLater,
    /// The work cannot succeed this way: fail the job with the remedy.
    FailJob,
}

/// Why a remote operation did not produce its file.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// Cancelled, or the daemon is shutting down.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// A call failed after retries and fallbacks (by its own classification).
    #[error("{0}")]
    Call(Box<CallError>),
    /// A submit failed in a way that may have reached the provider and been
    /// accepted (a timeout, a 5xx): it is never sent again on such a doubt.
    #[error("submitting failed, and the provider may have accepted it: {0}")]
    MaybeAccepted(Box<CallError>),
    /// The operation ran past its deadline.
    #[error("the operation did not finish within {0:?}")]
    DeadlineExceeded(Duration),
    /// The provider holding a saved operation is not loaded (a plugin being replaced?).
    #[error("provider {0} (which holds this operation) is not loaded")]
    ProviderGone(String),
    /// A saved handle cannot be resumed.
    #[error("the saved handle {handle_key:?} cannot be resumed: {reason}")]
    BadHandle {
        /// Its key in the store.
        handle_key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The handle could not be read or saved.
    #[error(transparent)]
    HandleStore(#[from] HandleStoreError),
    /// The plugin answered an operation with another answer type (a plugin bug).
    #[error("the plugin answered {operation} with {answer}")]
    UnexpectedAnswer {
        /// The operation asked.
        operation: &'static str,
        /// What came back, briefly.
        answer: String,
    },
    /// The result is not the kind of media asked for, or not what it claims to be.
    #[error("the provider's result is not {expected}: {found}")]
    WrongType {
        /// What was asked for.
        expected: MediaKind,
        /// What it is.
        found: String,
    },
    /// The result's download failed (by its own classification).
    #[error("downloading the result failed: {0}")]
    Download(DownloadError),
    /// The result's download took too long.
    #[error("downloading the result took longer than {0:?}")]
    DownloadTimeout(Duration),
    /// Writing the result file failed.
    #[error("file operation failed: {0}")]
    Io(#[from] std::io::Error),
}

impl OperationError {
    /// An answer of the wrong type for `operation`.
    pub(super) fn unexpected(operation: &'static str, answer: &Answer) -> OperationError {
        let answer = match answer {
            Answer::Info(_) => "plugin info",
            Answer::Text(_) => "text",
            Answer::Image(_) => "an image",
            Answer::Speech(_) => "speech",
            Answer::Progress(_) => "operation progress",
        };
        OperationError::UnexpectedAnswer {
            operation,
            answer: answer.to_owned(),
        }
    }

    /// What this failure means for the work that asked.
    pub fn consequence(&self) -> Consequence {
        match self {
            OperationError::Stopped(stopped) => Consequence::Stopped(*stopped),
            OperationError::Call(failed) if failed.error.is_worth_retrying_later() => {
                Consequence::RetryLater
            }
            OperationError::Download(error) if error.is_transient() => Consequence::RetryLater,
            OperationError::ProviderGone(_)
            | OperationError::HandleStore(_)
            | OperationError::DownloadTimeout(_)
            | OperationError::Io(_) => Consequence::RetryLater,
            OperationError::Call(_)
            | OperationError::Download(_)
            | OperationError::MaybeAccepted(_)
            | OperationError::DeadlineExceeded(_)
            | OperationError::BadHandle { .. }
            | OperationError::UnexpectedAnswer { .. }
            | OperationError::WrongType { .. } => Consequence::FailJob,
        }
    }

    /// What the operator can do about it.
    pub fn remedy(&self) -> &'static str {
        match self {
            OperationError::Stopped(Stopped::Cancelled) => Stopped::CANCEL_HINT,
            OperationError::Stopped(Stopped::Interrupted) => "it runs again after the restart",
            OperationError::Call(failed) => failed.error.remedy(),
            OperationError::MaybeAccepted(_) => {
                "check the provider's console for the operation before `chute retry ID` (a retry submits again)"
            }
            OperationError::DeadlineExceeded(_) => {
                "the provider may be overloaded; `chute retry ID` submits a new operation"
            }
            OperationError::ProviderGone(_) => {
                "put the plugin back (`chute plugins check`); the job resumes the saved operation"
            }
            OperationError::BadHandle { .. } => {
                "`chute retry ID` submits a new operation (check the provider's console first)"
            }
            OperationError::HandleStore(_) | OperationError::Io(_) => {
                "check free space and permissions in the spool"
            }
            OperationError::UnexpectedAnswer { .. } => "report a plugin bug",
            OperationError::WrongType { .. } => {
                "check the provider's status page; `chute retry ID` submits again"
            }
            OperationError::Download(error) => error.remedy(),
            OperationError::DownloadTimeout(_) => {
                "the provider's file server is slow; the job tries again by itself"
            }
        }
    }
}
