//! fieldsync-core: the domain both the server and the phones run.
//!
//! placeholder docs
#![forbid(unsafe_code)]

pub mod billing;
pub mod doc_id;
pub mod error;
mod hydrated;
pub mod ids;
pub mod job;
pub mod pricebook;
pub mod role;
pub mod status;
pub mod sync;
pub mod validate;
pub mod vanstock;
mod write;

pub use automerge;
pub use doc_id::DocId;
pub use error::{ActionError, InvalidValue, SchemaError};
pub use ids::*;
pub use job::{Job, JobAction, JobDoc, JobSpec};
pub use role::{Principal, Role};
pub use status::Status;
pub use validate::{RejectCode, Rejection, validate_changes};
