//! Documents in memory: the [`DocCache`] in front of the store.
//!
//! The sync path reads a document with [`load`], applies and validates what
//! a device sent, and writes with [`Store::commit`] using the version it
//! loaded as `base_version`. On [`CommitOutcome::Stale`](crate::store::CommitOutcome::Stale)
//! another process wrote in between: [`load`] again (it catches up from the
//! cache), redo the work, commit again (bounded). After a commit, put the
//! document back with [`DocCache::put`] at the committed version.

use std::sync::Arc;

use automerge::{Automerge, Change};
use fieldsync_core::pricebook::{PriceBook, read_price_book};
use fieldsync_core::{DocId, Job};
use time::OffsetDateTime;

use crate::store::{
    CachedDoc, CommitOutcome, DocCache, DocCommit, NewChange, Projection, SNAPSHOT_AFTER_CHANGES,
    Store, StoreError,
};

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

/// Why a document write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    /// The edit itself was refused (e.g. an office action the job's state forbids).
    #[error(transparent)]
    Edit(E),
    #[error(transparent)]
    Load(#[from] DocLoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored job that no longer reads as one: a bug, never a client's doing.
    #[error("stored job does not read: {0}")]
    Unreadable(#[from] fieldsync_core::SchemaError),
    #[error("document {0} kept changing under concurrent writers")]
    Contended(DocId),
}

/// What a commit derives from the merged document besides its change rows.
pub struct Derive<'a> {
    /// The price book the projection's totals are computed with.
    pub price_book: Option<&'a PriceBook>,
    pub now: OffsetDateTime,
    /// The projectors features registered (`AppState::projectors`).
    pub projectors: &'a Projectors,
}

/// Derives one feature's SQL rows from a merged job. Each feature that
/// keeps rows in step with jobs (the jobs list, inventory consumption,
/// feedback requests) registers one in [`Projectors`]; every job commit
/// asks each for its [`Projection`] and writes them in its transaction.
pub trait JobProjector: Send + Sync {
    /// `price_book` is the one the commit bills with; `now` the server time.
    fn project(
        &self,
        job: &Job,
        price_book: Option<&PriceBook>,
        now: OffsetDateTime,
    ) -> Option<Arc<dyn Projection>>;
}

/// The registered [`JobProjector`]s, run in registration order.
#[derive(Clone, Default)]
pub struct Projectors(Vec<Arc<dyn JobProjector>>);

impl Projectors {
    pub fn register(mut self, projector: impl JobProjector + 'static) -> Self {
        self.0.push(Arc::new(projector));
        self
    }
}

/// Commits the changes `edit` makes to a document, retrying when another
/// writer (this or another process) got in first.
///
/// `edit` gets the latest stored document (a fresh one if it was never
/// stored) and returns the changes it made; it runs again on a newer copy
/// after [`CommitOutcome::Stale`], so it must derive its changes from the
/// document it is given (re-applying received changes is idempotent in
/// automerge; an office action is simply redone). Returns the committed
/// document and its version.
pub async fn write<E>(
    store: &dyn Store,
    cache: &DocCache<Automerge>,
    doc_id: DocId,
    derive: &Derive<'_>,
    mut edit: impl FnMut(&mut Automerge) -> Result<Vec<Change>, E>,
) -> Result<CachedDoc<Automerge>, WriteError<E>> {
    const ATTEMPTS: u32 = 8;
    for _ in 0..ATTEMPTS {
        let mut current = load(store, cache, &doc_id).await?.unwrap_or(CachedDoc {
            version: 0,
            doc: Automerge::new(),
        });
        let changes = edit(&mut current.doc).map_err(WriteError::Edit)?;
        if changes.is_empty() {
            return Ok(current);
        }
        if let Some(applied) =
            commit_applied(store, cache, doc_id, derive, &current, &changes).await?
        {
            current.version = applied.version;
            return Ok(current);
        }
    }
    Err(WriteError::Contended(doc_id))
}

/// What [`commit_applied`] stored.
pub struct Applied {
    pub version: i64,
    /// Vans named by the committed job's part lines (empty for other documents).
    pub vans: Vec<fieldsync_core::LocationId>,
}

/// Commits `changes`, which `current` (the document as loaded at
/// `current.version`) already holds, with the job's projection; caches the
/// document at the new version. `None` if another writer got in first:
/// nothing was written, and the caller redoes its work on a fresh load
/// ([`write`] does).
///
/// The sync path calls this first with the document `serve` merged, so a
/// routine sync neither reloads the document nor re-applies its changes.
pub async fn commit_applied<E>(
    store: &dyn Store,
    cache: &DocCache<Automerge>,
    doc_id: DocId,
    derive: &Derive<'_>,
    current: &CachedDoc<Automerge>,
    changes: &[Change],
) -> Result<Option<Applied>, WriteError<E>> {
    let mut commit = DocCommit::new(doc_id, current.version);
    commit.changes = changes.iter().map(NewChange::from_change).collect();
    let mut vans = Vec::new();
    if let DocId::Job(_) = doc_id {
        let job = fieldsync_core::job::read_job(&current.doc, None)?;
        derive_job(&mut commit, &job, derive);
        // The vans the job's part lines name, from this one read: the
        // caller refreshes their stock documents without reading again.
        vans = job.parts.iter().map(|p| p.van).collect();
    }
    match store.commit(&commit).await? {
        CommitOutcome::Committed {
            version,
            changes_since_snapshot,
            ..
        } => {
            cache.put(doc_id, version, current.doc.clone());
            if changes_since_snapshot > SNAPSHOT_AFTER_CHANGES {
                // Outside the commit: a snapshot only speeds up loads, and
                // a newer one written meanwhile is kept by the store.
                let bytes = current.doc.save();
                if let Err(e) = store.write_snapshot(&doc_id, version, &bytes).await {
                    tracing::warn!(doc = %doc_id, error = %e, "writing a snapshot failed");
                }
            }
            Ok(Some(Applied { version, vans }))
        }
        CommitOutcome::Stale { current_version } => {
            tracing::debug!(doc = %doc_id, current_version, "stale write, catching up");
            Ok(None)
        }
    }
}

/// The SQL rows a job's merged state projects to, written in the same
/// transaction as the changes: one [`Projection`] per registered projector.
pub fn derive_job(commit: &mut DocCommit, job: &Job, derive: &Derive<'_>) {
    for projector in &derive.projectors.0 {
        if let Some(p) = projector.project(job, derive.price_book, derive.now) {
            commit.projections.push(p);
        }
    }
}

/// The price book as stored, `None` before the first one is written.
pub async fn price_book(
    store: &dyn Store,
    cache: &DocCache<Automerge>,
) -> Result<Option<PriceBook>, DocLoadError> {
    let Some(doc) = load(store, cache, &DocId::PriceBook).await? else {
        return Ok(None);
    };
    match read_price_book(&doc.doc, None) {
        Ok(book) => Ok(Some(book)),
        Err(e) => {
            tracing::error!(error = %e, "stored price book does not read");
            Ok(None)
        }
    }
}
