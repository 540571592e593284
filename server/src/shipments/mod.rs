//! Spare parts shipped from a depot to a customer's site (issue #16, item
//! 3): the office orders, the shipping team picks, dispatches with a
//! tracking reference and marks delivered, or cancels. Each stock step is
//! a ledger movement: depot -> the depot's transit holding -> the
//! customer's site (or back to the depot). See docs/inventory.md.
//!
//! - [`model`]: the values and the step rules ([`model::plan`]).
//! - [`store`]: the `shipments` table and the one-transaction step.
//! - [`service`]: access and input rules; [`routes`]: `/v1/shipments`;
//!   [`console`]: the "parts to send" section of the shipping queue.

pub mod console;
pub mod model;
pub mod routes;
pub mod service;
pub mod store;
pub mod views;

pub use store::ShipmentStore;
