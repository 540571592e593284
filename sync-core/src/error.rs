//! Errors of sync-core. Each names what went wrong without echoing document content.

use std::borrow::Cow;

/// A value that does not fit its type (a bad SKU, a zero quantity, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {reason}")]
pub struct InvalidValue {
    pub what: Cow<'static, str>,
    pub reason: Cow<'static, str>,
}

impl InvalidValue {
    pub fn new(what: impl Into<Cow<'static, str>>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

/// A document whose content does not match its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema error at {path}: {problem}")]
pub struct SchemaError {
    pub path: String,
    pub problem: Cow<'static, str>,
}

impl SchemaError {
    pub fn new(path: impl Into<String>, problem: impl Into<Cow<'static, str>>) -> Self {
        Self {
            path: path.into(),
            problem: problem.into(),
        }
    }
}

/// Why an action on a document could not be performed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The action is not allowed in the job's current state or for this role.
    #[error("not allowed: {0}")]
    NotAllowed(Cow<'static, str>),
    /// The action names a line, entry or checklist item that does not exist.
    #[error("not found: {0}")]
    NotFound(Cow<'static, str>),
    /// The resulting change failed validation (see [`crate::validate`]).
    #[error("rejected: {0}")]
    Rejected(#[from] crate::validate::Rejection),
    #[error("document engine error: {0}")]
    Engine(String),
}

impl From<automerge::AutomergeError> for ActionError {
    fn from(e: automerge::AutomergeError) -> Self {
        ActionError::Engine(e.to_string())
    }
}
