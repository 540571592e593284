//! Storage: a layer below the features that imports none of them.
//!
//! - [`sql`]: values, queries, rows and transactions that read the same on
//!   every backend. Workflows and feature stores are written once on them.
//! - [`engine`]: the per-backend layer ([`engine::Engine`]): pools, how a
//!   write transaction begins, which errors are retried; [`engine::Db`] is
//!   the handle stores write through. Backends: [`sqlite`] (embedded
//!   default) and [`postgres`], chosen by URL scheme in [`open`].
//! - [`Store`]: what the core keeps ([`AccountStore`]: users, devices,
//!   refresh tokens, signing keys; [`DocumentStore`]: documents and the
//!   commit), implemented once by [`SqlStore`].
//! - [`Projection`]: feature rows a document commit writes in its
//!   transaction. Features own their store traits and SQL (`jobs/store.rs`,
//!   `inventory/store.rs`, `feedback/store.rs`, `outbox/store.rs`,
//!   `web/store.rs`), each implemented for [`SqlStore`].
//!
//! Stores are used as trait objects (through `async_trait`): handlers and
//! the router stay non-generic, and the boxed future per call is noise next
//! to a database round trip. Every store trait has one conformance suite
//! run on both backends (`server/tests/store/`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), fieldsync_server::store::StoreError> {
//! use fieldsync_server::store::{self, Store};
//! let store = store::open("sqlite://data/fieldsync.db").await?; // or postgres://...
//! store.ping().await?;
//! # Ok(()) }
//! ```

mod accounts;
mod cache;
mod docs;
pub mod engine;
mod model;
mod postgres;
mod projection;
pub mod sql;
mod sqlite;
mod turns;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

pub use accounts::AccountStore;
pub use cache::{CachedDoc, DocCache, Weigh};
pub use docs::DocumentStore;
pub use engine::Db;
pub use model::*;
pub use postgres::PgEngine;
pub use projection::Projection;
pub use sqlite::SqliteEngine;
pub use turns::{Turn, Turns};

/// Change rows above the latest snapshot after which a writer should include
/// a snapshot in its next [`DocCommit`] (see [`DocCommit::snapshot`]).
pub const SNAPSHOT_AFTER_CHANGES: i64 = 64;

/// A unique constraint a write ran into, by its name in the migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `users_username_key`
    UsernameTaken,
    /// `devices_actor_id_key`: the actor id belongs to another device.
    ActorIdTaken,
    /// Any other constraint (a bug, or a race the caller should report).
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0:?}")]
    Conflict(Constraint),
    /// No connection came free within the pool's acquire timeout: the
    /// database is overloaded, not broken, so callers answer "retry later".
    #[error("the database is busy: no connection within the pool's acquire timeout")]
    Busy,
    #[error("database error: {0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Other(e.into())
    }

    /// A value in the database that the code cannot read back (schema drift, manual edits).
    pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> Self {
        StoreError::Other(format!("unreadable {what} in database: {detail}").into())
    }

    fn sqlx(&self) -> Option<&sqlx::Error> {
        match self {
            StoreError::Other(e) => e.downcast_ref::<sqlx::Error>(),
            _ => None,
        }
    }

    /// The SQLSTATE (PostgreSQL) or extended result code (SQLite) of a database error.
    pub(crate) fn db_code(&self) -> Option<String> {
        match self.sqlx()? {
            sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut => StoreError::Busy,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // PostgreSQL names the constraint; SQLite names the columns
                // ("UNIQUE constraint failed: users.username").
                let name = db.constraint().map(str::to_owned).unwrap_or_else(|| {
                    match db.message().rsplit_once(": ").map(|(_, cols)| cols) {
                        Some("users.username") => "users_username_key".to_owned(),
                        Some("devices.actor_id") => "devices_actor_id_key".to_owned(),
                        Some(other) => other.to_owned(),
                        None => db.message().to_owned(),
                    }
                });
                StoreError::Conflict(match name.as_str() {
                    "users_username_key" => Constraint::UsernameTaken,
                    "devices_actor_id_key" => Constraint::ActorIdTaken,
                    _ => Constraint::Other(name),
                })
            }
            _ => StoreError::Other(Box::new(e)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(Box::new(e))
    }
}

/// Which backend a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What the core keeps in SQL. All times are UTC from the server clock.
/// Features add their own traits, implemented for [`SqlStore`] too.
#[async_trait]
pub trait Store: AccountStore + DocumentStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// One trivial query: the database answers.
    async fn ping(&self) -> Result<()>;
}

/// Every store trait's one implementation: SQL over an [`Engine`](engine::Engine).
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database, for the feature stores implemented on this type.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.db.backend()
    }

    async fn ping(&self) -> Result<()> {
        self.db.fetch_all(sql::Query::new("SELECT 1")).await?;
        Ok(())
    }
}

/// The backends, by the URL schemes they open. A new backend is its own
/// file (an [`engine::Engine`] with an `open`) and one line here.
const ENGINES: &[(&[&str], engine::Open)] = &[
    (&["postgres://", "postgresql://"], postgres::open),
    (&["sqlite:"], sqlite::open),
];

/// Opens (creating and migrating) the database a URL names:
/// `postgres://` or `postgresql://` for PostgreSQL, `sqlite:` for SQLite.
pub async fn open(url: &str) -> Result<Arc<SqlStore>> {
    let Some((_, open)) = ENGINES
        .iter()
        .find(|(schemes, _)| schemes.iter().any(|s| url.starts_with(s)))
    else {
        return Err(StoreError::other(
            "unsupported database URL: expected postgres://... or sqlite:...",
        ));
    };
    Ok(Arc::new(SqlStore::new(open(url).await?)))
}

/// Database URLs can carry a password: this shows everything but it.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Runs a transaction again when the database says a retry will succeed
/// (PostgreSQL serialization failure or deadlock, SQLite busy), so those
/// never reach a client. Bounded: after the last attempt the error stands.
pub(crate) async fn retrying<T, F, Fut>(
    retryable: impl Fn(&StoreError) -> bool,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    const MAX_ATTEMPTS: u32 = 8;
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                tracing::debug!(attempt, error = %e, "retrying transaction");
                let jitter = u64::from(rand::random::<u8>() % 20);
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// The server clock (UTC), truncated to whole milliseconds: the precision
/// both backends store, so a value written and read back compares equal.
pub fn now_utc() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/fs"),
            "postgres://app:***@db:5432/fs"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
