//! User administration (issue #18, item 3) and sync health (item 4):
//! create, disable and re-enable users, reset passwords, set roles and
//! depots, each user's devices with what they reported at their last sync,
//! and the counts the sync-health page and `/metrics` show.
//!
//! - [`store`]: the rows and the one-transaction cut-off of a user.
//! - [`service`]: the rules (admins only); [`routes`]: `/v1/users`;
//!   [`console`]: the users, user and sync-health pages.

pub mod console;
pub mod routes;
pub mod service;
pub mod store;
pub mod sync_report;

pub use store::UserAdminStore;
