//! The production backend: PostgreSQL, shared by several server processes.
//!
//! Transactions run at READ COMMITTED and take row locks where they read
//! before writing (`FOR UPDATE` on the document row or the refresh token,
//! `SKIP LOCKED` when leasing outbox rows), so concurrent writers of one
//! row queue instead of failing. Serialization failures and deadlocks that
//! still happen are retried (bounded) and never reach a client.
//!
//! Encoding: native `uuid` and `timestamptz`.

use std::borrow::Cow;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult, PgRow};
use sqlx::{Postgres, Row as _, TypeInfo as _, ValueRef as _};
use time::OffsetDateTime;
use uuid::Uuid;

use super::engine::{Db, Driver, Engine, conn, tx};
use super::sql::{Conn, Dialect, Kind, Tx, Value};
use super::{Backend, Result, StoreError};

pub struct PgEngine {
    pool: PgPool,
}

impl PgEngine {
    /// Connects to `postgres://...` and applies migrations (sqlx takes an
    /// advisory lock, so processes starting together migrate once).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Opens `postgres://...`: [`super::engine::Open`] for `store::open`.
pub fn open(url: &str) -> Pin<Box<dyn Future<Output = Result<Db>> + Send + '_>> {
    Box::pin(async move { Ok(Db::new(PgEngine::connect(url).await?)) })
}

#[async_trait]
impl Engine for PgEngine {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn read(&self) -> Result<Box<dyn Conn>> {
        Ok(conn::<Postgres, _>(self.pool.acquire().await?))
    }

    async fn read_snapshot(&self) -> Result<Box<dyn Tx>> {
        let t = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        Ok(tx(t))
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        Ok(tx(self.pool.begin().await?))
    }

    async fn write(&self) -> Result<Box<dyn Conn>> {
        self.read().await
    }

    /// serialization_failure, deadlock_detected.
    fn retryable(&self, e: &StoreError) -> bool {
        matches!(e.db_code().as_deref(), Some("40001" | "40P01"))
    }
}

impl Driver for Postgres {
    const DIALECT: Dialect = Dialect {
        row_locks: true,
        advisory_lock: Some("SELECT pg_advisory_xact_lock($1)"),
    };

    fn bind<'q>(
        q: sqlx::query::Query<'q, Self, Self::Arguments>,
        value: Value<'_>,
    ) -> sqlx::query::Query<'q, Self, Self::Arguments> {
        match value {
            Value::Null(Kind::Bool) => q.bind(None::<bool>),
            Value::Null(Kind::Int) => q.bind(None::<i64>),
            Value::Null(Kind::Text) => q.bind(None::<String>),
            Value::Null(Kind::Bytes) => q.bind(None::<Vec<u8>>),
            Value::Null(Kind::Uuid) => q.bind(None::<Uuid>),
            Value::Null(Kind::Time) => q.bind(None::<OffsetDateTime>),
            Value::Bool(b) => q.bind(b),
            Value::Int(i) => q.bind(i),
            Value::Text(s) => q.bind(&*s),
            Value::Bytes(b) => q.bind(&*b),
            Value::Uuid(u) => q.bind(u),
            Value::Time(t) => q.bind(t),
        }
    }

    fn decode(row: &PgRow, column: &str, kind: Kind) -> Result<Value<'static>> {
        let value = match kind {
            Kind::Bool => row.try_get::<Option<bool>, _>(column)?.map(Value::Bool),
            // INTEGER and SMALLINT columns (and `SELECT 1`) read as i64 too.
            Kind::Int => match row.try_get_raw(column)?.type_info().name() {
                "INT2" => row.try_get::<Option<i16>, _>(column)?.map(i64::from),
                "INT4" => row.try_get::<Option<i32>, _>(column)?.map(i64::from),
                _ => row.try_get::<Option<i64>, _>(column)?,
            }
            .map(Value::Int),
            Kind::Text => row
                .try_get::<Option<String>, _>(column)?
                .map(|s| Value::Text(Cow::Owned(s))),
            Kind::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(column)?
                .map(|b| Value::Bytes(Cow::Owned(b))),
            Kind::Uuid => row.try_get::<Option<Uuid>, _>(column)?.map(Value::Uuid),
            Kind::Time => row
                .try_get::<Option<OffsetDateTime>, _>(column)?
                .map(Value::Time),
        };
        Ok(value.unwrap_or(Value::Null(kind)))
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}
