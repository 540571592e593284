//! The embedded backend: one SQLite file in WAL mode.
//!
//! Durability: `synchronous=FULL`, so an acknowledged commit survives power
//! loss. Concurrency: every write goes through a pool of exactly one
//! connection and starts with `BEGIN IMMEDIATE`, so writers queue inside this
//! process and take the file's write lock up front (other processes, like the
//! admin CLI, wait on `busy_timeout`); reads use a separate read-only pool
//! and never block writes in WAL mode. No row locks: the write transaction
//! holds the database.
//!
//! Encoding: UUIDs as hyphenated text, times as Unix milliseconds.

use std::borrow::Cow;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite};
use time::OffsetDateTime;
use uuid::fmt::Hyphenated;

use super::engine::{Db, Driver, Engine, conn, tx};
use super::sql::{Conn, Dialect, Kind, Tx, Value};
use super::{Backend, Result, StoreError};

pub struct SqliteEngine {
    reader: SqlitePool,
    writer: SqlitePool,
}

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl SqliteEngine {
    /// Opens `sqlite:PATH` (creating the file), applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let writer_options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(writer_options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&writer).await?;
        // WAL mode is a property of the file, set by the writer above.
        let reader_options = SqliteConnectOptions::from_str(url)?
            .read_only(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(reader_options)
            .await?;
        Ok(Self { reader, writer })
    }
}

/// Opens `sqlite:PATH`: [`super::engine::Open`] for `store::open`.
pub fn open(url: &str) -> Pin<Box<dyn Future<Output = Result<Db>> + Send + '_>> {
    Box::pin(async move { Ok(Db::new(SqliteEngine::connect(url).await?)) })
}

#[async_trait]
impl Engine for SqliteEngine {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn read(&self) -> Result<Box<dyn Conn>> {
        Ok(conn::<Sqlite, _>(self.reader.acquire().await?))
    }

    async fn read_snapshot(&self) -> Result<Box<dyn Tx>> {
        Ok(tx(self.reader.begin().await?))
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        Ok(tx(self.writer.begin_with("BEGIN IMMEDIATE").await?))
    }

    async fn write(&self) -> Result<Box<dyn Conn>> {
        Ok(conn::<Sqlite, _>(self.writer.acquire().await?))
    }

    /// SQLITE_BUSY and its extended codes (another process holds the lock
    /// past the timeout).
    fn retryable(&self, e: &StoreError) -> bool {
        e.db_code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5)
    }
}

impl Driver for Sqlite {
    const DIALECT: Dialect = Dialect {
        row_locks: false,
        advisory_lock: None,
    };

    fn bind<'q>(
        q: sqlx::query::Query<'q, Self, Self::Arguments>,
        value: Value<'_>,
    ) -> sqlx::query::Query<'q, Self, Self::Arguments> {
        match value {
            Value::Null(Kind::Text | Kind::Uuid) => q.bind(None::<String>),
            Value::Null(Kind::Bytes) => q.bind(None::<Vec<u8>>),
            Value::Null(Kind::Bool | Kind::Int | Kind::Time) => q.bind(None::<i64>),
            Value::Bool(b) => q.bind(b),
            Value::Int(i) => q.bind(i),
            Value::Text(s) => q.bind(s),
            Value::Bytes(b) => q.bind(b),
            Value::Uuid(u) => q.bind(u.hyphenated()),
            Value::Time(t) => q.bind((t.unix_timestamp_nanos() / 1_000_000) as i64),
        }
    }

    fn decode(row: &SqliteRow, column: &str, kind: Kind) -> Result<Value<'static>> {
        let value = match kind {
            Kind::Bool => row.try_get::<Option<bool>, _>(column)?.map(Value::Bool),
            Kind::Int => row.try_get::<Option<i64>, _>(column)?.map(Value::Int),
            Kind::Text => row
                .try_get::<Option<String>, _>(column)?
                .map(|s| Value::Text(Cow::Owned(s))),
            Kind::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(column)?
                .map(|b| Value::Bytes(Cow::Owned(b))),
            Kind::Uuid => row
                .try_get::<Option<Hyphenated>, _>(column)?
                .map(|h| Value::Uuid(h.into_uuid())),
            Kind::Time => row
                .try_get::<Option<i64>, _>(column)?
                .map(|ms| {
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                        .map(Value::Time)
                        .map_err(|e| StoreError::corrupt("timestamp", e))
                })
                .transpose()?,
        };
        Ok(value.unwrap_or(Value::Null(kind)))
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}
