//! Dispatch: the office's JSON API over job documents, and the price book.
//!
//! Office edits are automerge changes the server makes on the dispatcher's
//! behalf (named sync-core actions, with the server process's actor), so
//! they merge with whatever technicians did offline, exactly as a device's
//! changes would.

pub mod archive;
pub mod board;
pub mod page;
mod pricebook;
pub mod pricebook_editor;
pub mod pricebook_history;
pub mod rejections;
mod routes;
pub(crate) mod service;
pub mod store;
pub mod views;

pub(crate) use pricebook::carry_refund_limits;
pub use pricebook_history::PriceBookHistoryStore;
pub use rejections::{NewRejection, RejectionRecord, RejectionStore};
pub(crate) use routes::{
    act, flag_recall, refresh_snapshot, visible_job, visible_job_doc, writers,
};
pub use store::{JobFilter, JobProjection, JobRow, JobStore, ListProjector};

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    routes::router().merge(pricebook::router())
}
