//! The service desk (issue 17 items 1-3): every customer contact recorded
//! (logged by the office, by a technician on site through the job document,
//! or by the server for a low feedback score), routed by configurable rules
//! to a team's queue (engineering, finance, shipping, sales), answered
//! within the team's scope, escalated to its supervisor, and an SLA breach
//! alerted to the supervisor through the outbox once. See
//! docs/service-desk.md.
//!
//! - [`contracts`]: service contract terms and their renewal item.
//! - [`model`]: teams, states, priorities, routing rules and the routing
//!   decision.
//! - [`store`]: the [`DeskStore`] trait and its SQL, [`store::record_contact`]
//!   and the [`ContactProjector`].
//! - [`service`]: scope and the operations; [`routes`]: the JSON API;
//!   [`console`]: the pages; [`views`]: the JSON bodies; [`messages`]: the
//!   SLA alert.

pub mod console;
pub mod contracts;
pub mod messages;
pub mod model;
pub mod routes;
pub mod service;
pub mod store;
pub mod views;

pub use store::{ContactProjector, DeskStore};
