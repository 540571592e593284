//! fieldsync-server: the backend devices sync with and the office works
//! through. axum + tokio + sqlx, on SQLite (embedded default) or PostgreSQL.
//!
//! Modules:
//! - [`config`]: flags and environment ([`config::Settings`]).
//! - [`app`]: [`app::AppState`], [`app::router`] (pure) and [`app::serve`].
//! - [`error`]: [`error::ApiError`], the JSON error body of every failure.
//! - [`freetext`]: which request fields are free text; no card numbers in them.
//! - [`auth`]: passwords, JWTs, refresh tokens, devices, [`auth::AuthUser`].
//! - [`authz`]: who may do what ([`authz::Permission`]) to which jobs,
//!   depots and vans ([`authz::Scope`]).
//! - [`store`]: the [`store::Store`] trait and its SQLite and PostgreSQL backends.
//! - [`documents`]: loading and writing documents through the in-memory cache.
//! - [`sync`]: `POST /v1/sync`, the devices' batch endpoint.
//! - [`jobs`]: the dispatch API (jobs and the price book, as JSON).
//! - [`attachments`]: photos and documents of jobs: uploads, blob store, downloads.
//! - [`customers`]: customers, sites, contacts, the installed base, the single view.
//! - [`inventory`]: depots, vans, parts, the stock ledger, consumption from jobs.
//! - [`web`]: the server-rendered console (sessions, CSRF, layout).
//! - [`ops`]: health, readiness, Prometheus metrics.
//! - [`feedback`]: customer feedback requests, the public form, results.
//! - [`brand`]: the company's name, logo and colours on what customers see.
//! - [`i18n`]: message catalogues and formats in the customer's language.
//! - [`outbox`]: at-least-once delivery of messages (SMTP, SMS webhook).
//! - [`users`]: user administration, devices' last sync, sync health.
//! - [`cli`]: the `fieldsync` commands (serve, admin).
//! - [`client_addr`]: the client's address (trusted proxies' `X-Forwarded-For`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fieldsync_server::{app, config::Settings};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! app::serve(Settings::default(), listener, app::shutdown_signal()).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod app;
pub mod attachments;
pub mod auth;
pub mod authz;
pub mod brand;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod customers;
pub mod demo;
pub mod desk;
pub mod documents;
pub mod error;
pub mod extract;
pub mod feedback;
pub mod freetext;
pub mod generations;
pub mod i18n;
pub mod inventory;
pub mod invoices;
pub mod jobs;
pub mod ops;
pub mod outbox;
pub mod recalls;
pub mod refunds;
pub mod returns;
pub mod shipments;
pub mod store;
mod str_enum;
pub mod sync;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod users;
pub mod web;
