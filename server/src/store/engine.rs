//! The per-backend layer: an [`Engine`] opens connections and transactions
//! and says which errors are worth a retry; [`Db`] is the handle every store
//! writes through. A backend is an `Engine` plus a [`Driver`] that binds and
//! decodes [`Value`]s with its sqlx driver (`store/sqlite.rs`,
//! `store/postgres.rs`); the rest is shared.

use std::marker::PhantomData;
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Database, Executor};

use super::sql::{Conn, Dialect, Kind, Query, Row, SqlRow, Tx, Value};
use super::{Backend, Result, StoreError, retrying};

/// One database: its pools and how it begins transactions.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    fn backend(&self) -> Backend;
    /// A connection for reads (each statement sees the latest commit).
    async fn read(&self) -> Result<Box<dyn Conn>>;
    /// A read-only transaction: its statements all see one instant.
    async fn read_snapshot(&self) -> Result<Box<dyn Tx>>;
    /// A write transaction. SQLite: `BEGIN IMMEDIATE` on the one writer
    /// connection (writers queue, the file lock is taken up front).
    /// PostgreSQL: READ COMMITTED; workflows take row locks where they
    /// read before writing (see [`Dialect::lock`]).
    async fn begin(&self) -> Result<Box<dyn Tx>>;
    /// A connection for one autocommitted write statement.
    async fn write(&self) -> Result<Box<dyn Conn>>;
    /// Whether running the whole transaction again will likely succeed
    /// (SQLite busy; PostgreSQL serialization failure or deadlock).
    fn retryable(&self, e: &StoreError) -> bool;
}

/// How a backend opens (creating and migrating) the database of a URL.
pub type Open = for<'a> fn(&'a str) -> Pin<Box<dyn Future<Output = Result<Db>> + Send + 'a>>;

/// The database handle stores hold. Cheap to clone.
#[derive(Clone)]
pub struct Db(Arc<dyn Engine>);

impl Db {
    pub fn new(engine: impl Engine) -> Self {
        Self(Arc::new(engine))
    }

    pub fn backend(&self) -> Backend {
        self.0.backend()
    }

    pub async fn read(&self) -> Result<Box<dyn Conn>> {
        self.0.read().await
    }

    pub async fn read_snapshot(&self) -> Result<Box<dyn Tx>> {
        self.0.read_snapshot().await
    }

    pub async fn begin(&self) -> Result<Box<dyn Tx>> {
        self.0.begin().await
    }

    /// A connection for autocommitted writes (wrap its use in [`Db::retry`]).
    pub async fn write(&self) -> Result<Box<dyn Conn>> {
        self.0.write().await
    }

    /// Runs `op` (which begins, works and commits a transaction) again
    /// while the backend says a retry will succeed, so lock contention
    /// never reaches a client. Bounded.
    pub async fn retry<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let engine = self.0.clone();
        retrying(move |e| engine.retryable(e), op).await
    }

    /// One write statement, autocommitted (retried like a transaction).
    /// Returns the rows affected.
    pub async fn execute(&self, query: Query<'_>) -> Result<u64> {
        self.retry(|| async { self.0.write().await?.execute(query.clone()).await })
            .await
    }

    /// Reads all rows of one query.
    pub async fn fetch_all(&self, query: Query<'_>) -> Result<Vec<Row>> {
        self.read().await?.fetch_all(query).await
    }

    pub async fn fetch_optional(&self, query: Query<'_>) -> Result<Option<Row>> {
        self.read().await?.fetch_optional(query).await
    }

    /// [`StoreError::NotFound`] if there is no row.
    pub async fn fetch_one(&self, query: Query<'_>) -> Result<Row> {
        self.read().await?.fetch_one(query).await
    }

    pub async fn exists(&self, query: Query<'_>) -> Result<bool> {
        self.read().await?.exists(query).await
    }
}

/// How one sqlx driver binds and decodes [`Value`]s: the only typed code a
/// backend writes.
pub trait Driver: Database<Arguments: sqlx::IntoArguments<Self>> {
    const DIALECT: Dialect;
    fn bind<'q>(
        query: sqlx::query::Query<'q, Self, Self::Arguments>,
        value: Value<'_>,
    ) -> sqlx::query::Query<'q, Self, Self::Arguments>;
    fn decode(row: &Self::Row, column: &str, kind: Kind) -> Result<Value<'static>>;
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// A sqlx connection or transaction `C` of driver `D` as a [`Conn`].
pub struct SqlxConn<D, C>(C, PhantomData<fn() -> D>);

impl<D, C> SqlxConn<D, C> {
    pub fn new(conn: C) -> Self {
        Self(conn, PhantomData)
    }
}

/// A sqlx pooled connection as a boxed [`Conn`].
pub fn conn<D, C>(conn: C) -> Box<dyn Conn>
where
    SqlxConn<D, C>: Conn + 'static,
{
    Box::new(SqlxConn::new(conn))
}

/// A sqlx transaction as a boxed [`Tx`].
pub fn tx<D: Driver>(tx: sqlx::Transaction<'static, D>) -> Box<dyn Tx>
where
    SqlxConn<D, sqlx::Transaction<'static, D>>: Tx,
{
    Box::new(SqlxConn::new(tx))
}

struct SqlxRow<D: Database>(D::Row);

impl<D: Driver> SqlRow for SqlxRow<D> {
    fn value(&self, column: &str, kind: Kind) -> Result<Value<'static>> {
        D::decode(&self.0, column, kind)
    }
}

fn prepare<'q, D: Driver>(query: Query<'_>) -> sqlx::query::Query<'q, D, D::Arguments> {
    let mut q = sqlx::query::<D>(query.sql);
    for value in query.args {
        q = D::bind(q, value);
    }
    q
}

fn row<D: Driver>(row: D::Row) -> Row {
    Row(Box::new(SqlxRow::<D>(row)))
}

#[async_trait]
impl<D, C> Conn for SqlxConn<D, C>
where
    D: Driver,
    C: DerefMut<Target = D::Connection> + Send,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    fn dialect(&self) -> &'static Dialect {
        &D::DIALECT
    }

    async fn execute(&mut self, query: Query<'_>) -> Result<u64> {
        let done = prepare::<D>(query).execute(&mut *self.0).await?;
        Ok(D::rows_affected(&done))
    }

    async fn fetch_all(&mut self, query: Query<'_>) -> Result<Vec<Row>> {
        let rows = prepare::<D>(query).fetch_all(&mut *self.0).await?;
        Ok(rows.into_iter().map(row::<D>).collect())
    }

    async fn fetch_optional(&mut self, query: Query<'_>) -> Result<Option<Row>> {
        let found = prepare::<D>(query).fetch_optional(&mut *self.0).await?;
        Ok(found.map(row::<D>))
    }
}

#[async_trait]
impl<D> Tx for SqlxConn<D, sqlx::Transaction<'static, D>>
where
    D: Driver,
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    async fn commit(self: Box<Self>) -> Result<()> {
        self.0.commit().await?;
        Ok(())
    }
}
