//! Product recalls (issue 15 item 4): the office creates a campaign
//! (product, affected serials as a list and/or ranges, reason, remedy,
//! compensation offer); the server finds the affected installed assets,
//! quarantines the affected units in depot and van stock (a `quarantine`
//! movement of the ledger), and opens a job per affected asset or flags its
//! open one (the job document's `recall`). Devices refuse to fit a
//! quarantined serial (their van document lists them) and the sync
//! validator refuses it too; the technician records the remedy on the job
//! (`recall_remedy`), which a projector copies into `recall_assets` for the
//! campaign page. See docs/recalls.md.
//!
//! - [`model`]: campaigns, serial ranges, derived ids.
//! - [`store`]: the [`RecallStore`] trait and its SQL, and the
//!   [`RemedyProjector`].
//! - [`service`]: creating and viewing campaigns; [`routes`]: the JSON API;
//!   [`console`]: the campaign page; [`views`]: the JSON bodies.

pub mod console;
pub mod model;
pub mod routes;
pub mod service;
pub mod store;
pub mod views;

pub use store::{RecallStore, RemedyProjector};
