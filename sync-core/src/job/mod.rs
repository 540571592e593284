//! The job (work order) document: model, reading, named edits.

pub mod keys;
mod model;
mod ops;
pub(crate) mod read;

pub use model::*;
pub use ops::{ChecklistQuestion, DetailsEdit, JobAction, JobDoc, JobSpec, MAX_TEXT};
pub use read::{read_job, read_status};
