//! Invoices (issue 17 item 4): frozen at completion, numbered without
//! gaps, sent to the customer, settled by payments and refunds, chased.
//!
//! - When a job's completion commits (a device's sync or any other
//!   write), the [`InvoiceProjector`] freezes the invoice the commit billed
//!   (lines and totals with the price book then current) and numbers it
//!   from the configured series (`--invoice-series`, a counter per year) in
//!   the same transaction: a counter row bumped under its row lock, so a
//!   transaction that rolls back burns no number, and a job is numbered
//!   once (its later commits find the invoice stored). The number is taken
//!   last (`Projection::write_last`), so completions in other processes
//!   wait on that row for the commit's last statements, not all of it. The invoice email
//!   is queued in the outbox in that transaction too.
//! - The number and the frozen invoice then go into the job document
//!   (schema 5, sync-core's `job::invoice`) after the commit, and the
//!   housekeeping retries what is still pending: the device gets them on
//!   its next sync and from then on bills the job from them, like the
//!   server does, whatever the price book says later.
//! - Every later commit of the job updates what it settles: payments
//!   collected on site, approved refunds and approved credit notes.
//!   Corrections after completion are credit notes (or refunds), never a
//!   re-priced or re-numbered invoice.
//! - The housekeeping queues reminders for open invoices at the configured
//!   ages (`--invoice-reminder-days`), each once.
//!
//! [`store`] holds the SQL and the projector, [`service`] the write-back,
//! reminders and reads, [`routes`] the JSON API, [`pages`] the console
//! page, the printable invoice (office and customer link) and the email.

pub mod pages;
pub mod routes;
pub mod service;
pub mod settings;
pub mod store;

pub use settings::InvoiceSettings;
pub use store::{InvoiceProjector, InvoiceRecord, InvoiceStore};
