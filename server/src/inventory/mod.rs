//! Inventory: depots and vans, the parts catalog, the stock ledger, serial
//! numbers, consumption from synced jobs, discrepancies and replenishment,
//! the `/v1/inventory/...` API and the console pages. See docs/inventory.md.
//!
//! - [`model`]: the values ([`NewMovement`], [`Balance`], ...).
//! - [`ledger`]: which movements are valid, how they change balances.
//! - [`consumption`]: job part lines -> movements ([`consumption::from_job`]).
//! - [`discrepancies`], [`replenishment`]: what needs attention, what to send.
//! - [`vanstock`]: keeping each van's stock document up to date.
//! - [`service`]: what the API and the console both do, over the caller's
//!   scope ([`crate::authz`]: which locations a user may see and manage);
//!   [`routes`]: the JSON API; [`console`]: the web pages; [`count`]: the
//!   cycle-count sheet; [`stockforms`]: the receipt and adjustment forms.
//! - [`store`]: the [`InventoryStore`] trait and its SQL, and the projection
//!   that applies a job's part lines inside the job's commit.

pub mod console;
pub mod consumption;
pub mod count;
pub mod discrepancies;
pub mod ledger;
pub mod model;
pub mod replenishment;
pub mod routes;
pub mod service;
pub mod stockforms;
pub mod store;
pub mod vanstock;

pub use model::*;
pub use store::{ConsumptionProjector, InventoryStore};
