//! Archiving closed jobs (issue 19 item 4): a job closed (completed, unable
//! to complete, cancelled) and unchanged for `--archive-closed-after-days`
//! keeps its final state as one snapshot; its change rows and their
//! receipts go, and its document takes no more changes. Its `jobs` row and
//! every feature row projected from it stay, so the office still reads it
//! (job API and page, invoices, customers' history, warranty and recall
//! lookups all load the snapshot). Devices no longer hold it: the sync
//! scope leaves it out, a device that still has it is told `removed`, and
//! a change it made meanwhile is refused (`forbidden`), as is an office
//! edit (409).
//!
//! The housekeeping archives a bounded batch per round. Each job is one
//! short transaction that takes the document's write lock and checks the
//! version it saved, so a job written meanwhile waits for a later round,
//! and two server processes archiving at once archive each job once.

use fieldsync_core::DocId;
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::documents::{self, DocLoadError};
use crate::store::StoreError;

/// Jobs one housekeeping round archives: a backlog (after an upgrade, or
/// the setting lowered) drains over minutes in short transactions.
pub const ARCHIVE_JOBS_PER_ROUND: i64 = 200;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] DocLoadError),
}

/// Archives up to `limit` closed jobs unchanged for `after` before `now`
/// (the server's injectable clock); returns how many it archived.
pub async fn archive_closed(
    state: &AppState,
    after: Duration,
    now: OffsetDateTime,
    limit: i64,
) -> Result<usize, ArchiveError> {
    let store = state.store.as_ref();
    let mut archived = 0;
    for job in store.archivable_jobs(now - after, limit).await? {
        let doc_id = DocId::Job(job);
        let Some(loaded) = documents::load(store, &state.docs, &doc_id).await? else {
            continue;
        };
        // A save of the whole document: its final state and every change,
        // compressed (what loads read from now on).
        let snapshot = loaded.doc.save();
        if store
            .archive_document(&doc_id, loaded.version, &snapshot, now)
            .await?
        {
            archived += 1;
        }
    }
    Ok(archived)
}
