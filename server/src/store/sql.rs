//! SQL that reads the same on every backend: values, queries, rows and
//! connections. Workflows and feature stores are written once against
//! these; a backend ([`super::engine::Engine`]) only turns them into its
//! driver's calls.
//!
//! - [`Value`]: what a query binds or a row holds. UUIDs and times are
//!   values of their own, so a backend stores them its way (SQLite: text
//!   and Unix milliseconds; PostgreSQL: `uuid` and `timestamptz`) while the
//!   code that binds and reads them is the same.
//! - [`ToSql`] / [`FromSql`]: Rust types to and from values (ids, times,
//!   enums stored as text, ...). A feature implements them for its own types.
//! - [`Query`] (static text, `$N` placeholders: SQLite accepts them too) and
//!   [`QueryBuilder`] (filters assembled at run time).
//! - [`Conn`] and [`Tx`]: a connection or a transaction of either backend.
//!
//! ```
//! # async fn demo(tx: &mut dyn fieldsync_server::store::sql::Tx) -> fieldsync_server::store::Result<()> {
//! use fieldsync_server::store::sql::Query;
//! let row = tx
//!     .fetch_one(Query::new("SELECT seq FROM documents WHERE doc_id = $1").bind("pricebook"))
//!     .await?;
//! let seq: i64 = row.get("seq")?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use fieldsync_core::{JobId, LineId, LocationId, Role, Sku, Status, UserId};
use sqlx::{AssertSqlSafe, SqlSafeStr, SqlStr};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{DeviceId, Result, StoreError};

/// The type of a [`Value`], also for a NULL (PostgreSQL types its NULLs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    Text,
    Bytes,
    Uuid,
    Time,
}

/// A bound parameter or a column read back.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null(Kind),
    Bool(bool),
    Int(i64),
    Text(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Uuid(Uuid),
    Time(OffsetDateTime),
}

impl Value<'_> {
    fn kind(&self) -> Kind {
        match self {
            Value::Null(k) => *k,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Text(_) => Kind::Text,
            Value::Bytes(_) => Kind::Bytes,
            Value::Uuid(_) => Kind::Uuid,
            Value::Time(_) => Kind::Time,
        }
    }
}

/// A Rust value a query can bind.
pub trait ToSql<'a> {
    /// The kind of NULL an absent `Option<Self>` binds.
    const KIND: Kind;
    fn to_sql(self) -> Value<'a>;
}

/// A Rust value a column can be read as. `Option<T>` reads NULL as `None`;
/// `T` itself refuses NULL.
pub trait FromSql: Sized {
    const KIND: Kind;
    fn from_sql(value: Value<'static>) -> Result<Self>;
}

fn mismatch<T>(want: Kind, got: &Value<'_>) -> Result<T> {
    Err(StoreError::corrupt(
        "column",
        format!("expected {want:?}, found {:?}", got.kind()),
    ))
}

macro_rules! scalar {
    ($t:ty, $kind:ident, |$v:ident| $to:expr, $pat:pat => $from:expr) => {
        impl<'a> ToSql<'a> for $t {
            const KIND: Kind = Kind::$kind;
            fn to_sql(self) -> Value<'a> {
                let $v = self;
                $to
            }
        }
        impl FromSql for $t {
            const KIND: Kind = Kind::$kind;
            fn from_sql(value: Value<'static>) -> Result<Self> {
                match value {
                    $pat => $from,
                    other => mismatch(Kind::$kind, &other),
                }
            }
        }
    };
}

scalar!(bool, Bool, |v| Value::Bool(v), Value::Bool(b) => Ok(b));
scalar!(i64, Int, |v| Value::Int(v), Value::Int(i) => Ok(i));
scalar!(i32, Int, |v| Value::Int(i64::from(v)), Value::Int(i) =>
    i32::try_from(i).map_err(|e| StoreError::corrupt("integer", e)));
scalar!(u32, Int, |v| Value::Int(i64::from(v)), Value::Int(i) =>
    u32::try_from(i).map_err(|e| StoreError::corrupt("integer", e)));
scalar!(u8, Int, |v| Value::Int(i64::from(v)), Value::Int(i) =>
    u8::try_from(i).map_err(|e| StoreError::corrupt("integer", e)));
scalar!(String, Text, |v| Value::Text(Cow::Owned(v)), Value::Text(s) => Ok(s.into_owned()));
scalar!(Vec<u8>, Bytes, |v| Value::Bytes(Cow::Owned(v)), Value::Bytes(b) => Ok(b.into_owned()));
scalar!(Uuid, Uuid, |v| Value::Uuid(v), Value::Uuid(u) => Ok(u));
scalar!(OffsetDateTime, Time, |v| Value::Time(v), Value::Time(t) => Ok(t));

impl<'a> ToSql<'a> for &'a str {
    const KIND: Kind = Kind::Text;
    fn to_sql(self) -> Value<'a> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl<'a> ToSql<'a> for &'a String {
    const KIND: Kind = Kind::Text;
    fn to_sql(self) -> Value<'a> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl<'a> ToSql<'a> for &'a [u8] {
    const KIND: Kind = Kind::Bytes;
    fn to_sql(self) -> Value<'a> {
        Value::Bytes(Cow::Borrowed(self))
    }
}

impl<'a> ToSql<'a> for &'a Vec<u8> {
    const KIND: Kind = Kind::Bytes;
    fn to_sql(self) -> Value<'a> {
        Value::Bytes(Cow::Borrowed(self))
    }
}

impl<'a, T: ToSql<'a>> ToSql<'a> for Option<T> {
    const KIND: Kind = T::KIND;
    fn to_sql(self) -> Value<'a> {
        match self {
            Some(v) => v.to_sql(),
            None => Value::Null(T::KIND),
        }
    }
}

impl<T: FromSql> FromSql for Option<T> {
    const KIND: Kind = T::KIND;
    fn from_sql(value: Value<'static>) -> Result<Self> {
        match value {
            Value::Null(_) => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

/// Ids are UUIDs in the database.
macro_rules! uuid_ids {
    ($($t:ty),+) => {$(
        impl<'a> ToSql<'a> for $t {
            const KIND: Kind = Kind::Uuid;
            fn to_sql(self) -> Value<'a> {
                Value::Uuid(self.as_uuid())
            }
        }
        impl FromSql for $t {
            const KIND: Kind = Kind::Uuid;
            fn from_sql(value: Value<'static>) -> Result<Self> {
                Uuid::from_sql(value).map(<$t>::from_uuid)
            }
        }
    )+};
}

uuid_ids!(UserId, JobId, LocationId, LineId, DeviceId);

/// Implements [`ToSql`] and [`FromSql`] for a type stored as text: written
/// with `as_str`, read with `FromStr` (a value that does not parse is a
/// corrupt row).
#[macro_export]
macro_rules! sql_text {
    ($($t:ty),+ $(,)?) => {$(
        impl<'a> $crate::store::sql::ToSql<'a> for $t {
            const KIND: $crate::store::sql::Kind = $crate::store::sql::Kind::Text;
            fn to_sql(self) -> $crate::store::sql::Value<'a> {
                $crate::store::sql::Value::Text(::std::borrow::Cow::Borrowed(self.as_str()))
            }
        }
        impl $crate::store::sql::FromSql for $t {
            const KIND: $crate::store::sql::Kind = $crate::store::sql::Kind::Text;
            fn from_sql(value: $crate::store::sql::Value<'static>) -> $crate::store::Result<Self> {
                $crate::store::sql::parse_text(value, stringify!($t))
            }
        }
    )+};
}

sql_text!(Status, Role);

/// Reads a text value with `FromStr`.
pub fn parse_text<T: FromStr>(value: Value<'static>, what: &str) -> Result<T>
where
    T::Err: fmt::Display,
{
    String::from_sql(value)?
        .parse()
        .map_err(|e| StoreError::corrupt(what, e))
}

impl<'a> ToSql<'a> for &'a Sku {
    const KIND: Kind = Kind::Text;
    fn to_sql(self) -> Value<'a> {
        Value::Text(Cow::Borrowed(self.as_str()))
    }
}

impl FromSql for Sku {
    const KIND: Kind = Kind::Text;
    fn from_sql(value: Value<'static>) -> Result<Self> {
        parse_text(value, "sku")
    }
}

/// A statement and its parameters. The text is static or assembled from
/// static pieces ([`QueryBuilder`]): values are always bound, never spliced.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub(crate) sql: SqlStr,
    pub(crate) args: Vec<Value<'a>>,
}

impl<'a> Query<'a> {
    pub fn new(sql: impl SqlSafeStr) -> Self {
        Self {
            sql: sql.into_sql_str(),
            args: Vec::new(),
        }
    }

    /// Binds the next `$N`.
    pub fn bind(mut self, value: impl ToSql<'a>) -> Self {
        self.args.push(value.to_sql());
        self
    }

    pub fn sql(&self) -> &str {
        self.sql.as_str()
    }
}

/// A query assembled at run time from static pieces and bound values,
/// numbering the placeholders itself.
pub struct QueryBuilder<'a> {
    sql: String,
    args: Vec<Value<'a>>,
}

impl<'a> QueryBuilder<'a> {
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql: sql.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: &'static str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn push_bind(&mut self, value: impl ToSql<'a>) -> &mut Self {
        self.args.push(value.to_sql());
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        self
    }

    /// Appends `$a, $b, ...`, one placeholder per value (for `IN (...)`).
    pub fn push_list<T: ToSql<'a>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.push_bind(v);
        }
        self
    }

    pub fn build(self) -> Query<'a> {
        Query {
            // Only `&'static str` pieces and numbered placeholders went in.
            sql: AssertSqlSafe(self.sql).into_sql_str(),
            args: self.args,
        }
    }
}

/// A row's columns, read by name; each backend decodes its own way.
pub trait SqlRow: Send + Sync {
    fn value(&self, column: &str, kind: Kind) -> Result<Value<'static>>;
}

/// One result row.
pub struct Row(pub(crate) Box<dyn SqlRow>);

impl Row {
    pub fn get<T: FromSql>(&self, column: &str) -> Result<T> {
        T::from_sql(self.0.value(column, T::KIND)?)
            .map_err(|e| StoreError::corrupt(column, format!("{e}")))
    }

    /// A text column parsed with `FromStr`.
    pub fn parse<T: FromStr>(&self, column: &str) -> Result<T>
    where
        T::Err: fmt::Display,
    {
        let s: String = self.get(column)?;
        s.parse().map_err(|e| StoreError::corrupt(column, e))
    }
}

/// What differs in the SQL text itself between backends.
#[derive(Debug)]
pub struct Dialect {
    /// Whether reads that precede writes in a transaction take row locks
    /// (`FOR UPDATE` and friends: PostgreSQL). A SQLite write transaction
    /// holds the whole database from `BEGIN IMMEDIATE`, so it needs none.
    pub row_locks: bool,
    /// A statement taking a transaction-scoped lock on a number `$1`
    /// (PostgreSQL's advisory lock), for work no row lock covers.
    pub advisory_lock: Option<&'static str>,
}

impl Dialect {
    /// `clause` (`FOR UPDATE`, ...) where the backend takes row locks, else nothing.
    pub fn lock(&self, clause: &'static str) -> &'static str {
        if self.row_locks { clause } else { "" }
    }

    /// `sql` with `clause` appended where the backend takes row locks.
    pub fn locked(&self, sql: &'static str, clause: &'static str) -> Query<'static> {
        if self.row_locks {
            Query::new(AssertSqlSafe(format!("{sql} {clause}")))
        } else {
            Query::new(sql)
        }
    }
}

/// A connection (or transaction) of either backend.
#[async_trait]
pub trait Conn: Send {
    fn dialect(&self) -> &'static Dialect;
    /// Rows affected.
    async fn execute(&mut self, query: Query<'_>) -> Result<u64>;
    async fn fetch_all(&mut self, query: Query<'_>) -> Result<Vec<Row>>;
    async fn fetch_optional(&mut self, query: Query<'_>) -> Result<Option<Row>>;

    /// [`StoreError::NotFound`] if there is no row.
    async fn fetch_one(&mut self, query: Query<'_>) -> Result<Row> {
        self.fetch_optional(query)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Whether the query returns a row.
    async fn exists(&mut self, query: Query<'_>) -> Result<bool> {
        Ok(self.fetch_optional(query).await?.is_some())
    }
}

/// A transaction: rolled back when dropped without [`Tx::commit`].
#[async_trait]
pub trait Tx: Conn {
    async fn commit(self: Box<Self>) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_number_their_placeholders() {
        let mut q = QueryBuilder::new("SELECT 1 FROM t WHERE 1 = 1");
        q.push(" AND a = ").push_bind(1_i64);
        q.push(" AND b IN (").push_list(["x", "y"]).push(")");
        let q = q.build();
        assert_eq!(
            q.sql(),
            "SELECT 1 FROM t WHERE 1 = 1 AND a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(q.args.len(), 3);
    }

    #[test]
    fn nulls_keep_their_kind_and_refuse_non_options() {
        assert_eq!(None::<UserId>.to_sql(), Value::Null(Kind::Uuid));
        assert_eq!(
            Option::<i64>::from_sql(Value::Null(Kind::Int)).unwrap(),
            None
        );
        assert!(i64::from_sql(Value::Null(Kind::Int)).is_err());
        assert!(i64::from_sql(Value::Text("1".into())).is_err());
        assert_eq!(
            Status::from_sql(Value::Text("completed".into())).unwrap(),
            Status::Completed
        );
        assert!(Role::from_sql(Value::Text("king".into())).is_err());
    }
}
