//! Returns (RMA, issue 16 item 1): a technician opens a return on a visit,
//! offline (the job document's `returns`), or the office opens one
//! (`POST /v1/returns`). The server numbers each (`RMA-2026-000042`: its
//! clock's year and a per-year sequence), writes the number back into the
//! job so the device gets it on its next sync, and lists open returns in
//! the shipping queue. A depot's receipt appends a ledger `return`
//! movement into the depot and records the disposition: restock (sellable
//! stock), refurbish or scrap (held off the sellable balance: see
//! docs/returns.md). The serial's trail reads fits, returns and receipts.
//!
//! - [`model`]: rows and values; [`store`]: the [`ReturnStore`] trait, its
//!   SQL (both databases) and the [`ReturnProjector`].
//! - [`service`]: opening, numbering, scope, receiving, the trail;
//!   [`routes`]: the JSON API; [`console`]: the shipping queue and the
//!   packing slip.

pub mod console;
pub mod model;
pub mod routes;
pub mod service;
pub mod store;

pub use store::{ReturnProjector, ReturnStore};
