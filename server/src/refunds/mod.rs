//! Refunds and credit notes within limits (issue 16 item 2).
//!
//! A refund line lives in the job document (sync-core's `job::refund`): the
//! technician gives one offline on their device, the office through
//! `POST /v1/jobs/{id}/refunds`. Each role gives up to its limit (server
//! settings `--refund-limit-technician` / `--refund-limit-dispatcher`,
//! written into the price book so devices know them offline); above it the
//! line is `pending` until a supervisor approves or declines it, which the
//! server writes into the job in the supervisor's name (the approvals
//! queue: `GET /v1/refunds/pending` and `/console/refunds`). The sync
//! validator enforces the limits with the server's settings. Every gift and
//! decision is audited in `refund_events` by a projector of the job's
//! commit (server clock). See docs/refunds.md.
//!
//! - [`store`]: the [`RefundStore`] trait, its SQL and the [`RefundProjector`].
//! - [`service`]: giving, deciding, the queue and the audit; [`routes`]:
//!   the JSON API; [`console`]: the approvals queue page.

pub mod console;
pub mod routes;
pub mod service;
pub mod store;

pub use store::{RefundProjector, RefundStore};
