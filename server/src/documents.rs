//! Documents in memory: the [`DocCache`] in front of the store.
//!
//! The sync path reads a document with [`load`], applies and validates what
//! a device sent, and writes with [`Store::commit`] using the version it
//! loaded as `base_version`. On [`CommitOutcome::Stale`](crate::store::CommitOutcome::Stale)
//! another process wrote in between: [`load`] again (it catches up from the
//! cache), redo the work, commit again (bounded). After a commit, put the
//! document back with [`DocCache::put`] at the committed version.

use automerge::Automerge;
use fieldsync_core::DocId;

use crate::store::{CachedDoc, DocCache, SNAPSHOT_AFTER_CHANGES, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DocLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored bytes automerge cannot load (they were accepted once, so this is corruption).
    #[error("stored document cannot be loaded: {0}")]
    Corrupt(#[from] automerge::AutomergeError),
}

/// The latest stored state of a document, `None` if it was never written.
///
/// A cached copy is caught up with the change rows written since its
/// version (by this or any other server process): one indexed query that
/// usually returns nothing. Otherwise the document is loaded (snapshot plus
/// later changes) and cached.
pub async fn load(
    store: &dyn Store,
    cache: &DocCache<Automerge>,
    doc_id: &DocId,
) -> Result<Option<CachedDoc<Automerge>>, DocLoadError> {
    if let Some(mut cached) = cache.get(doc_id) {
        let newer = store.load_changes_since(doc_id, cached.version).await?;
        if let Some(last) = newer.last() {
            for change in &newer {
                cached.doc.load_incremental(&change.bytes)?;
            }
            cached.version = last.seq;
            cache.put(*doc_id, cached.version, cached.doc.clone());
        }
        return Ok(Some(cached));
    }
    let Some(stored) = store.load_document(doc_id).await? else {
        return Ok(None);
    };
    let doc = stored.to_automerge()?;
    cache.put(*doc_id, stored.version, doc.clone());
    Ok(Some(CachedDoc {
        version: stored.version,
        doc,
    }))
}

/// Whether a commit adding `new_changes` to a document with
/// `changes_since_snapshot` unsnapshotted rows should carry a snapshot.
pub fn snapshot_due(changes_since_snapshot: i64, new_changes: usize) -> bool {
    changes_since_snapshot + i64::try_from(new_changes).unwrap_or(i64::MAX) > SNAPSHOT_AFTER_CHANGES
}
