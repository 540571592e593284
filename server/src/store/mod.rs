//! Storage: one [`Store`] trait, a SQLite and a PostgreSQL backend beside it,
//! chosen by URL scheme in [`open`].
//!
//! The trait is used as `Arc<dyn Store>` (through `async_trait`): handlers,
//! `AppState` and the router stay non-generic, and the boxed future per call is
//! noise next to a database round trip. Both backends pass the same
//! conformance suite (`server/tests/store.rs`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), fieldsync_server::store::StoreError> {
//! use fieldsync_server::store;
//! let store = store::open("sqlite://data/fieldsync.db").await?; // or postgres://...
//! store.ping().await?;
//! # Ok(()) }
//! ```

mod cache;
mod model;
mod postgres;
mod sqlite;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fieldsync_core::{DocId, JobId, LocationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

pub use cache::{CachedDoc, DocCache};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

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

/// Everything the server keeps in SQL. All times are UTC from the server clock.
#[async_trait]
pub trait Store:
    Send
    + Sync
    + 'static
    + crate::web::WebSessionStore
    + crate::inventory::InventoryStore
    + crate::feedback::FeedbackStore
{
    fn backend(&self) -> Backend;

    /// One trivial query: the database answers.
    async fn ping(&self) -> Result<()>;

    // ----- users -----

    /// [`StoreError::Conflict`]`(UsernameTaken)` if the name exists.
    async fn create_user(&self, credentials: &UserCredentials) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<User>;
    async fn user_credentials(&self, username: &Username) -> Result<UserCredentials>;

    // ----- devices -----

    /// Registers a device, or returns the existing row if this user already
    /// registered the same actor id (revoked or not: the caller decides).
    /// [`StoreError::Conflict`]`(ActorIdTaken)` if another user's device has it.
    async fn register_device(&self, device: &Device) -> Result<Device>;
    async fn device(&self, id: DeviceId) -> Result<Device>;
    /// The device registered with this actor id ([`StoreError::NotFound`] if none).
    async fn device_by_actor(&self, actor: &DeviceActor) -> Result<Device>;
    /// Marks the device revoked (keeping the first revocation time) and
    /// revokes its refresh tokens, in one transaction.
    async fn revoke_device(&self, id: DeviceId, now: OffsetDateTime) -> Result<Device>;
    /// The device and its user's current role, in one primary-key query.
    async fn device_principal(&self, id: DeviceId) -> Result<DevicePrincipal>;

    // ----- refresh tokens -----

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<()>;
    /// Uses `presented` and stores `next_hash` in its family, in one
    /// transaction; a second use of a token revokes its family instead.
    ///
    /// Except within `reuse_grace` of its use, for the family's most recently
    /// used token: a device whose refresh answer was lost presents it again.
    /// Then the token that answer carried is revoked (never delivered, or
    /// superseded) and `next_hash` is stored in the same family. Any older
    /// token, or a later reuse, still revokes the family.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next_hash: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
        reuse_grace: time::Duration,
    ) -> Result<RefreshOutcome>;
    async fn revoke_token_family(&self, family_id: Uuid, now: OffsetDateTime) -> Result<()>;

    // ----- signing keys -----

    /// Keys that are active or were retired after `retired_after`, newest first.
    async fn signing_keys(&self, retired_after: OffsetDateTime) -> Result<Vec<SigningKey>>;
    /// Stores `candidate` if no active key exists (first start). Returns
    /// whether it was stored.
    async fn ensure_signing_key(&self, candidate: &SigningKey) -> Result<bool>;
    /// Retires every active key and stores `new`, in one transaction.
    async fn rotate_signing_key(&self, new: &SigningKey) -> Result<()>;

    // ----- documents -----

    /// `None` if the document has never been written.
    async fn load_document(&self, doc_id: &DocId) -> Result<Option<StoredDoc>>;
    /// Changes with `seq` above `seq`, in order (empty if none or no document).
    async fn load_changes_since(&self, doc_id: &DocId, seq: i64) -> Result<Vec<StoredChange>>;
    /// The one write path for documents. In one transaction: takes the
    /// document's write lock, checks `base_version`, inserts new change rows
    /// (idempotent by hash), bumps the version, stores the snapshot and
    /// upserts the projection.
    async fn commit(&self, commit: &DocCommit) -> Result<CommitOutcome>;
    /// Stores a snapshot covering change rows up to `covers_seq`, unless a
    /// newer one is stored. Loads then start from it.
    async fn write_snapshot(&self, doc_id: &DocId, covers_seq: i64, bytes: &[u8]) -> Result<()>;

    // ----- projections -----

    async fn job(&self, id: JobId) -> Result<JobRow>;
    /// The jobs a sync caller holds: those assigned to `technician` (every
    /// technician's for `None`, the office), open ones and closed ones
    /// updated at or after `closed_since`. Read scope, so never from
    /// document content.
    async fn job_scope(
        &self,
        technician: Option<UserId>,
        closed_since: OffsetDateTime,
    ) -> Result<Vec<JobId>>;

    // ----- locations -----

    /// The van assigned to a technician, if any.
    async fn technician_van(&self, technician: UserId) -> Result<Option<LocationId>>;
    /// Ordered by window start, then job id.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRow>>;
}

/// Opens (creating and migrating) the database a URL names:
/// `postgres://` or `postgresql://` for PostgreSQL, `sqlite:` for SQLite.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::other(
            "unsupported database URL: expected postgres://... or sqlite:...",
        ))
    }
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
pub(crate) async fn retrying<T, F, Fut>(retryable: fn(&StoreError) -> bool, mut op: F) -> Result<T>
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

/// The projection must describe the document it is committed with.
pub(crate) fn check_projection(commit: &DocCommit) -> Result<()> {
    match (&commit.projection, commit.doc_id) {
        (None, _) => Ok(()),
        (Some(p), DocId::Job(id)) if p.job_id == id => Ok(()),
        (Some(p), doc) => Err(StoreError::other(format!(
            "projection for job {} committed with document {doc}",
            p.job_id
        ))),
    }
}

/// Caps a list request.
pub(crate) fn list_limit(filter: &JobFilter) -> i64 {
    i64::from(filter.limit.unwrap_or(100).clamp(1, 1000))
}

/// `%needle%` for LIKE, with the pattern characters escaped (`\` is the escape).
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
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

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("A_b%"), "%a\\_b\\%%");
    }
}
