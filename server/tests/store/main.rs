//! Store conformance suites, one per store trait: every test runs on SQLite
//! and on PostgreSQL (a throwaway cluster started by
//! `fieldsync_server::testing`), each on a fresh database.
//!
//! A suite is a module of `async fn name(url: &str)` tests listed in one
//! [`conformance_tests!`] call, which expands each into `sqlite::name` and
//! `postgres::name` (matrix-rust-sdk's `statestore_integration_tests!`
//! pattern). A new backend adds one arm to the macro, and every suite runs
//! on it.

use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, ROOT};
use fieldsync_core::{DocId, JobId};
use fieldsync_server::app::AppStore;
use fieldsync_server::store::{self, NewChange, SqlStore};
use time::OffsetDateTime;
use uuid::Uuid;

/// Expands each listed test for both backends: `sqlite::name` and
/// `postgres::name`, each on a fresh database.
macro_rules! conformance_tests {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            conformance_tests!(@backend Sqlite; $($test),+);
        }
        mod postgres {
            conformance_tests!(@backend Postgres; $($test),+);
        }
    };
    (@backend $backend:ident; $($test:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let db = fieldsync_server::testing::TestDatabase::new(
                    fieldsync_server::testing::TestBackend::$backend,
                )
                .await;
                super::$test(&db.url).await;
            }
        )+
    };
}

mod attachments;
mod auth;
mod core;
mod customers;
mod feedback;
mod inventory;
mod jobs;
mod migrations;
mod outbox;
mod recalls;
mod rejections;
mod shipments;
mod web;

/// The store of `url`, as the application holds it (every store trait).
async fn open(url: &str) -> Arc<dyn AppStore> {
    store::open(url).await.expect("open store")
}

/// The same, as its concrete type (for the transaction-level primitives).
async fn open_sql(url: &str) -> Arc<SqlStore> {
    store::open(url).await.expect("open store")
}

fn now() -> OffsetDateTime {
    store::now_utc()
}

fn job_doc() -> (JobId, DocId) {
    let id = JobId::from_uuid(Uuid::new_v4());
    (id, DocId::Job(id))
}

/// A document and the changes made to it, by one actor.
fn edits(actor: u8, n: usize) -> (Automerge, Vec<NewChange>) {
    let mut doc = Automerge::new().with_actor(ActorId::from([actor; 16]));
    for i in 0..n {
        doc.transact::<_, _, automerge::AutomergeError>(|tx| {
            tx.put(ROOT, format!("k{actor}_{i}"), i as i64)?;
            Ok(())
        })
        .unwrap();
    }
    let changes = doc
        .get_changes(&[])
        .iter()
        .map(NewChange::from_change)
        .collect();
    (doc, changes)
}
