//! Customers and their installed base: accounts (a person or a company),
//! sites, contacts and assets; search; the single view that answers a
//! customer's call in one request (`GET /v1/customers/{id}`,
//! `GET /v1/assets/{serial}`); and the registry ids jobs carry, projected
//! into `job_registry` so an asset's visits can be listed; warranty
//! extensions sold on jobs and applied to assets (`warranty.rs`). See
//! docs/customers.md.

pub mod console;
pub mod model;
pub mod routes;
pub mod service;
pub mod store;
pub mod views;
pub mod warranty;

pub use store::{CustomerStore, RegistryProjection, RegistryProjector, VisitsOf};
pub use warranty::{WarrantyProjector, WarrantyStore};
