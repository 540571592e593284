//! Raw reads of a test app's database: what is really stored, for checks
//! that must not go through the code under test (a secret stored hashed,
//! rows that must not exist).
#![allow(dead_code)]

use crate::helpers::TestApp;

/// Everything the app's database holds, as bytes to search for a secret:
/// SQLite's files (database and write-ahead log) as they are on disk; on
/// PostgreSQL every row of every table, as text (bytea as hex).
pub async fn database_contents(app: &TestApp) -> Vec<u8> {
    use fieldsync_server::store::Backend;
    let mut out = Vec::new();
    match app.store.backend() {
        Backend::Sqlite => {
            for entry in std::fs::read_dir(app.db.dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("fieldsync.db") && path.is_file() {
                    out.extend(std::fs::read(&path).unwrap());
                }
            }
            assert!(!out.is_empty(), "no SQLite file in {:?}", app.db.dir.path());
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            assert!(tables.len() > 5, "{tables:?}");
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM \"{table}\" t"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                for row in rows {
                    out.extend(row.into_bytes());
                    out.push(b'\n');
                }
            }
            pool.close().await;
        }
    }
    out
}

/// The byte-string values (BLOB, bytea) one query returns.
pub async fn sql_blobs(app: &TestApp, query: &str) -> Vec<Vec<u8>> {
    use fieldsync_server::store::Backend;
    let query = sqlx::AssertSqlSafe(query.to_owned());
    match app.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar(query).fetch_all(&pool).await.unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar(query).fetch_all(&pool).await.unwrap();
            pool.close().await;
            v
        }
    }
}

/// One count from the app's database.
pub async fn sql_count(app: &TestApp, query: &str) -> i64 {
    use fieldsync_server::store::Backend;
    let query = sqlx::AssertSqlSafe(query.to_owned());
    match app.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar(query).fetch_one(&pool).await.unwrap();
            pool.close().await;
            v
        }
    }
}

/// Whether `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A secret is absent from `haystack`: not whole, and no 16-byte piece of
/// it either (a prefix or a slice stored would count as stored).
pub fn assert_absent(haystack: &[u8], secret: &str, what: &str) {
    let bytes = secret.as_bytes();
    assert!(bytes.len() >= 16, "{what}: too short to search for");
    for piece in bytes.windows(16) {
        assert!(
            !contains_bytes(haystack, piece),
            "{what} stored in clear: {:?} found",
            String::from_utf8_lossy(piece)
        );
    }
}
