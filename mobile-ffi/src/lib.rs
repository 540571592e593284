//! fieldsync-ffi: the offline client library the Android and iOS apps embed.
//!
//! One [`FieldsyncClient`] per signed-in app, over a store directory the app
//! gives. It holds the session, the jobs, the price book and the van stock
//! as automerge documents in a crash-safe file store ([`store`]); every
//! technician action is validated by sync-core, exactly as the server will,
//! and is on disk when the call returns. Sync runs either sans-IO
//! (`sync_request` / `apply_sync_response`, the app does the HTTP) or over
//! the built-in blocking HTTP transport (`login`, `sync`).
//!
//! Bindings are generated with uniffi (proc-macros, no UDL): see
//! `mobile-ffi/README.md`.
//!
//! ```no_run
//! use fieldsync_ffi::FieldsyncClient;
//! let client = FieldsyncClient::open("/data/app/fieldsync".into())?;
//! client.login("https://fieldsync.example".into(), "ana".into(), "secret".into(), "Ana's tablet".into())?;
//! client.sync()?;
//! for job in client.jobs()? {
//!     println!("{} {} {}", job.id, job.status, job.customer_name);
//! }
//! # Ok::<(), fieldsync_ffi::FieldsyncError>(())
//! ```

mod blobs;
mod client;
mod device;
mod error;
mod http;
mod journal;
mod local;
pub mod records;
pub mod store;
mod upload;

pub use client::{ClientOptions, FieldsyncClient, MAX_ROUNDS};
pub use error::FieldsyncError;
pub use records::*;

uniffi::setup_scaffolding!();
