//! The job (work order) document: model, reading, named edits.

pub mod conflicts;
pub mod contact;
pub mod invoice;
pub mod keys;
mod model;
mod ops;
pub mod plain;
pub(crate) mod read;
pub mod recall;
pub mod refund;
pub mod rma;
pub mod schema;

pub use contact::{ContactCategory, ContactChannel, ContactDirection};
pub use invoice::IssuedInvoice;
pub use model::*;
pub use ops::{ChecklistQuestion, DetailsEdit, JobAction, JobDoc, JobSpec};
pub use plain::{FieldRecord, FieldValue};
pub use read::{read_job, read_status};
pub use recall::{RecallAction, RecallNotice, RecallRemedy, Replacement};
pub use refund::{
    Approval, Decision, Refund, RefundDecision, RefundKind, RefundLimits, RefundState,
};
pub use rma::{ReturnCondition, ReturnLine};
pub use schema::{MAX_NOTES, MAX_TEXT, upgrade, upgrade_to};
