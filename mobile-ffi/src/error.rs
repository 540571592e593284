//! The one error type of the library. Each variant is a code the app can
//! branch on (a Kotlin exception subclass, a Swift error case); its fields
//! say why without echoing personal data from documents.

use fieldsync_core::sync::SyncError;
use fieldsync_core::validate::Rejection;
use fieldsync_core::{ActionError, InvalidValue, SchemaError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum FieldsyncError {
    /// No session: log in first (or hand the client a session).
    #[error("not logged in")]
    NotLoggedIn,
    /// Login refused: wrong username or password.
    #[error("wrong username or password")]
    BadCredentials,
    /// The refresh token no longer works: the user must log in again.
    /// Unsynced work stays in the store and is sent after the next login.
    #[error("session expired: {reason}")]
    SessionExpired { reason: String },
    /// This device was revoked by an admin: nothing it sends is accepted.
    #[error("this device was revoked")]
    DeviceRevoked,
    /// A value the app passed does not fit (bad id, zero quantity, missing serials...).
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// The action is not allowed in the job's current state or for this user.
    #[error("not allowed: {reason}")]
    NotAllowed { reason: String },
    /// The job is frozen after a rejection (see `frozenJobs`): recover or
    /// unfreeze it first.
    #[error("job {job_id} is frozen after a rejection")]
    JobFrozen { job_id: String },
    /// A job, line or checklist item that is not in the store.
    #[error("not found: {what}")]
    NotFound { what: String },
    /// The change would be refused by the server's validator, so it was not kept.
    #[error("rejected ({code}): {reason}")]
    Rejected { code: String, reason: String },
    /// Reading or writing the local store failed (disk full, permissions...).
    #[error("storage error: {reason}")]
    Storage { reason: String },
    /// Another client (in this or another process) has the store open.
    #[error("the store is open in another client")]
    StoreBusy,
    /// Stored or received data could not be decoded.
    #[error("corrupt data: {reason}")]
    Corrupt { reason: String },
    /// The server could not be reached or the connection broke. Retry later.
    #[error("network error: {reason}")]
    Network { reason: String },
    /// The server answered with an error (`code` is its JSON error code).
    #[error("server error {status} ({code}): {reason}")]
    Server {
        status: u16,
        code: String,
        reason: String,
    },
    /// A bug, or a panic contained at the boundary. Reopen the client.
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

pub type Result<T, E = FieldsyncError> = std::result::Result<T, E>;

impl FieldsyncError {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            reason: reason.into(),
        }
    }

    pub(crate) fn storage(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Storage {
            reason: format!("{what}: {e}"),
        }
    }

    pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            reason: format!("{what}: {e}"),
        }
    }

    /// Errors worth retrying later without user action (the server's 409
    /// `sync_in_progress` means an earlier sync of this device still runs).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Network { .. })
            || matches!(self, Self::Server { status, .. } if *status >= 500)
            || matches!(self, Self::Server { code, .. } if code == "sync_in_progress")
    }
}

impl From<InvalidValue> for FieldsyncError {
    fn from(e: InvalidValue) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<SchemaError> for FieldsyncError {
    fn from(e: SchemaError) -> Self {
        Self::corrupt("document", e)
    }
}

impl From<Rejection> for FieldsyncError {
    fn from(r: Rejection) -> Self {
        Self::Rejected {
            code: reject_code(&r),
            reason: r.message,
        }
    }
}

impl From<ActionError> for FieldsyncError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::Invalid(v) => v.into(),
            ActionError::Schema(s) => s.into(),
            ActionError::NotAllowed(why) => Self::NotAllowed {
                reason: why.into_owned(),
            },
            ActionError::NotFound(what) => Self::NotFound {
                what: what.into_owned(),
            },
            ActionError::Rejected(r) => r.into(),
            ActionError::Engine(e) => Self::Internal {
                reason: format!("document engine: {e}"),
            },
        }
    }
}

impl From<SyncError> for FieldsyncError {
    fn from(e: SyncError) -> Self {
        Self::corrupt("sync data", e)
    }
}

/// The snake_case name of a rejection code, as on the wire.
pub(crate) fn reject_code(r: &Rejection) -> String {
    serde_json::to_value(r.code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{:?}", r.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, code: &str) -> FieldsyncError {
        FieldsyncError::Server {
            status,
            code: code.into(),
            reason: String::new(),
        }
    }

    #[test]
    fn busy_answers_are_retried_later() {
        assert!(server(503, "overloaded").is_transient());
        assert!(server(409, "sync_in_progress").is_transient());
        assert!(!server(409, "conflict").is_transient());
        assert!(!server(400, "bad_request").is_transient());
    }
}
