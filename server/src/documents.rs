//! Documents in memory: the [`DocCache`] in front of the store, with what
//! each cached document reads as.
//!
//! The sync path reads a document with [`load`], applies and validates what
//! a device sent, and writes with [`Store::commit`] using the version it
//! loaded as `base_version`. On [`CommitOutcome::Stale`](crate::store::CommitOutcome::Stale)
//! another process wrote in between: [`load`] again (it catches up from the
//! cache), redo the work, commit again (bounded). After a commit, put the
//! document back with [`DocCache::put`] at the committed version.
//!
//! Reading a job (or the price book) walks the whole document, so the hot
//! paths do it once: validation hands the job it read to [`commit_applied`],
//! which projects and bills it, caches it beside the document ([`Parsed`])
//! and returns it with the invoice for the response. The next office edit of
//! that job checks its preconditions against the cached job.

use std::collections::BTreeMap;
use std::sync::Arc;

use automerge::{Automerge, Change, ReadDoc};
use fieldsync_core::billing::{Invoice, bill};
use fieldsync_core::pricebook::{PriceBook, read_price_book};
use fieldsync_core::{DocId, Job, LocationId};
use time::OffsetDateTime;

use crate::store::{
    CommitOutcome, DocCache, DocCommit, NewChange, Projection, SNAPSHOT_AFTER_CHANGES, Store,
    StoreError, Weigh,
};

/// What a document reads as, kept beside it (for its version only).
#[derive(Clone, Debug)]
pub enum Parsed {
    Job(Arc<Job>),
    PriceBook(Arc<PriceBook>),
}

/// What the document cache holds per document.
#[derive(Clone, Debug)]
pub struct InMemory {
    pub doc: Automerge,
    /// What `doc` reads as, once someone has read it.
    pub parsed: Option<Parsed>,
}

/// The cache of documents the server keeps (see [`crate::app::AppState::docs`]).
pub type Cache = DocCache<InMemory>;

/// What a loaded document costs resident: a fixed part per document (most
/// of it for a small job: automerge 0.12 keeps ops in columns, each with
/// its own buffers), plus per operation and per change in its history.
/// Measured by `cargo run -p fieldsync-server --example doc_weight` (a new
/// job ~50 KB for 42 ops; after a 31-change visit 21-42 KB for 815 ops,
/// depending on how it was loaded) and rounded so the estimate is at or
/// above the measurement: see docs/ARCHITECTURE.md "Memory".
const BYTES_PER_DOC: usize = 48 * 1024;
const BYTES_PER_OP: usize = 16;
const BYTES_PER_CHANGE: usize = 128;

impl Weigh for InMemory {
    /// An estimate from automerge's counts (reading them is O(1)); the
    /// parsed job beside it is small next to its document and not counted.
    fn weight(&self) -> usize {
        let stats = self.doc.stats();
        let ops = usize::try_from(stats.num_ops).unwrap_or(usize::MAX);
        let changes = usize::try_from(stats.num_changes).unwrap_or(usize::MAX);
        ops.saturating_mul(BYTES_PER_OP)
            .saturating_add(changes.saturating_mul(BYTES_PER_CHANGE))
            .saturating_add(BYTES_PER_DOC)
    }
}

/// A document as stored at `version`.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub version: i64,
    pub doc: Automerge,
    /// What `doc` reads as, when known (see [`Parsed`]).
    pub parsed: Option<Parsed>,
}

impl Loaded {
    /// A document never stored.
    pub fn new_doc() -> Self {
        Self {
            version: 0,
            doc: Automerge::new(),
            parsed: None,
        }
    }

    /// The job this document reads as, if it was read at this version.
    pub fn known_job(&self) -> Option<&Arc<Job>> {
        match &self.parsed {
            Some(Parsed::Job(job)) => Some(job),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DocLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored bytes automerge cannot load (they were accepted once, so this is corruption).
    #[error("stored document cannot be loaded: {0}")]
    Corrupt(#[from] automerge::AutomergeError),
}

/// The latest stored state of a document, `None` if it was never written
/// (see [`load_many`]).
pub async fn load(
    store: &dyn Store,
    cache: &Cache,
    doc_id: &DocId,
) -> Result<Option<Loaded>, DocLoadError> {
    Ok(load_many(store, cache, std::slice::from_ref(doc_id))
        .await?
        .remove(doc_id))
}

/// The latest stored state of each document of `ids` that was ever written.
///
/// One read transaction for all of them: a query for their versions, and
/// only if some need it one for snapshots and one per hundred documents
/// for change rows. A cached copy is caught up with the change rows
/// written since its version (by this or any other server process); an
/// unchanged one costs nothing more. Others are loaded (snapshot plus
/// later changes) and cached.
pub async fn load_many(
    store: &dyn Store,
    cache: &Cache,
    ids: &[DocId],
) -> Result<BTreeMap<DocId, Loaded>, DocLoadError> {
    let mut cached = BTreeMap::new();
    let mut want = Vec::with_capacity(ids.len());
    for id in ids {
        match cache.get(id) {
            Some(hit) => {
                want.push((*id, Some(hit.version)));
                let loaded = Loaded {
                    version: hit.version,
                    doc: hit.doc.doc,
                    parsed: hit.doc.parsed,
                };
                cached.insert(*id, loaded);
            }
            None => want.push((*id, None)),
        }
    }
    let mut out = BTreeMap::new();
    for stored in store.load_documents(&want).await? {
        let id = stored.doc_id;
        // The store sends a snapshot only when the copy held is too old to
        // catch up (rows it needs were pruned): then it loads whole.
        let held = cached.remove(&id);
        let loaded = match held.filter(|_| stored.snapshot.is_none()) {
            Some(mut loaded) => {
                if let Some(last) = stored.changes.last() {
                    for change in &stored.changes {
                        loaded.doc.load_incremental(&change.bytes)?;
                    }
                    loaded.version = last.seq;
                    // It reads differently now; the next reader reads it again.
                    loaded.parsed = None;
                    cache_doc(cache, id, &loaded);
                }
                loaded
            }
            None => {
                let loaded = Loaded {
                    version: stored.version,
                    doc: stored.to_automerge()?,
                    parsed: None,
                };
                cache_doc(cache, id, &loaded);
                loaded
            }
        };
        out.insert(id, loaded);
    }
    // A cached document always has a row; kept as cached if not (as before).
    out.extend(cached);
    Ok(out)
}

fn cache_doc(cache: &Cache, id: DocId, loaded: &Loaded) {
    cache.put(
        id,
        loaded.version,
        InMemory {
            doc: loaded.doc.clone(),
            parsed: None,
        },
    );
}

/// The job a loaded job document reads as: the cached read if there is one,
/// else read now and kept in the cache for this version.
pub fn job_of(
    cache: &Cache,
    doc_id: DocId,
    loaded: &Loaded,
) -> Result<Arc<Job>, fieldsync_core::SchemaError> {
    if let Some(job) = loaded.known_job() {
        return Ok(job.clone());
    }
    let job = Arc::new(fieldsync_core::job::read_job(&loaded.doc, None)?);
    cache.update(&doc_id, loaded.version, |m| {
        m.parsed = Some(Parsed::Job(job.clone()))
    });
    Ok(job)
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
    /// The document is archived (a job closed long ago): it takes no more
    /// changes; nothing was written.
    #[error("{0} is archived and takes no more changes")]
    Archived(DocId),
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
    fn project(&self, job: &JobCommit<'_>) -> Option<Arc<dyn Projection>>;
}

/// A job as its commit sees it: read once and billed once, for every
/// projector and for the response.
pub struct JobCommit<'a> {
    pub job: &'a Job,
    /// The price book the commit bills with; `None` before one is written.
    pub price_book: Option<&'a PriceBook>,
    /// The job billed with `price_book`; `None` without a price book, or
    /// when the job cannot be billed with it.
    pub invoice: Option<&'a Invoice>,
    /// Server time.
    pub now: OffsetDateTime,
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

/// What an edit made to a document.
pub struct Edit {
    pub changes: Vec<Change>,
    /// The job as the edited document reads (validation returns it): it is
    /// projected and billed as it is, not read again. `None` for other
    /// documents, or when the edit did not read it.
    pub job: Option<Job>,
}

/// A committed job as read once: projected, billed and answered from this.
#[derive(Clone, Debug)]
pub struct Projected {
    pub job: Arc<Job>,
    /// Billed with [`Derive::price_book`]; `None` without a price book, or
    /// when the job cannot be billed with it.
    pub invoice: Option<Invoice>,
}

/// What [`write`] stored (or found, when the edit changed nothing).
pub struct Written {
    pub version: i64,
    /// The commit's stamp (the change cursor), when it stored new rows.
    pub stamp: Option<i64>,
    pub doc: Automerge,
    /// For a job that was committed: the job and its invoice.
    pub projected: Option<Projected>,
    /// Vans named by the committed job's part lines.
    pub vans: Vec<LocationId>,
}

/// Commits the changes `edit` makes to a document, retrying when another
/// server process got in first (writers in this process take turns).
///
/// `edit` gets the latest stored document (a fresh one if it was never
/// stored) and the job it reads as when that is cached; it returns the
/// changes it made. It runs again on a newer copy after
/// [`CommitOutcome::Stale`], so it must derive its changes from the
/// document it is given (re-applying received changes is idempotent in
/// automerge; an office action is simply redone).
pub async fn write<E>(
    store: &dyn Store,
    cache: &Cache,
    doc_id: DocId,
    derive: &Derive<'_>,
    mut edit: impl FnMut(&mut Automerge, Option<&Job>) -> Result<Edit, E>,
) -> Result<Written, WriteError<E>> {
    const ATTEMPTS: u32 = 16;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let turn = cache.turn(doc_id).await;
        let mut current = load(store, cache, &doc_id)
            .await?
            .unwrap_or_else(Loaded::new_doc);
        let known = current.known_job().cloned();
        let edit = edit(&mut current.doc, known.as_deref()).map_err(WriteError::Edit)?;
        if edit.changes.is_empty() {
            return Ok(Written {
                version: current.version,
                stamp: None,
                doc: current.doc,
                projected: None,
                vans: Vec::new(),
            });
        }
        current.parsed = None;
        if let Some(applied) = commit(
            store,
            cache,
            doc_id,
            derive,
            &current,
            &edit.changes,
            edit.job,
        )
        .await?
        {
            return Ok(Written {
                version: applied.version,
                stamp: applied.stamp,
                doc: current.doc,
                projected: applied.projected,
                vans: applied.vans,
            });
        }
        drop(turn);
    }
    Err(WriteError::Contended(doc_id))
}

/// Waits a random while, growing with `attempt` (up to 200 ms), before a
/// write tries again: two processes that collided on a document then try
/// at different moments instead of colliding again.
async fn back_off(attempt: u32) {
    let most = (2u64 << attempt.min(7)).min(200);
    let ms = rand::random_range(1..=most);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// What [`commit_applied`] stored.
pub struct Applied {
    pub version: i64,
    /// The commit's stamp (the change cursor), when it stored new rows.
    pub stamp: Option<i64>,
    /// Vans named by the committed job's part lines (empty for other documents).
    pub vans: Vec<LocationId>,
    /// For a job: the job as committed and its invoice.
    pub projected: Option<Projected>,
}

/// Commits `changes`, which `current` (the document as loaded at
/// `current.version`) already holds, with the job's projection; caches the
/// document (and the job) at the new version. `job` is the job `current`
/// reads as, when the caller has it (validation returned it); it is read
/// here otherwise. `None` if another writer got in first: nothing was
/// written, and the caller redoes its work on a fresh load ([`write`] does).
///
/// The sync path calls this first with the document `serve` merged, so a
/// routine sync neither reloads the document nor re-applies its changes.
/// It waits its turn behind this process's other writers of the document.
pub async fn commit_applied<E>(
    store: &dyn Store,
    cache: &Cache,
    doc_id: DocId,
    derive: &Derive<'_>,
    current: &Loaded,
    changes: &[Change],
    job: Option<Job>,
) -> Result<Option<Applied>, WriteError<E>> {
    let _turn = cache.turn(doc_id).await;
    commit(store, cache, doc_id, derive, current, changes, job).await
}

/// [`commit_applied`] for a writer that already holds its turn.
async fn commit<E>(
    store: &dyn Store,
    cache: &Cache,
    doc_id: DocId,
    derive: &Derive<'_>,
    current: &Loaded,
    changes: &[Change],
    job: Option<Job>,
) -> Result<Option<Applied>, WriteError<E>> {
    let mut commit = DocCommit::new(doc_id, current.version);
    commit.changes = changes.iter().map(NewChange::from_change).collect();
    let mut vans = Vec::new();
    let projected = match doc_id {
        DocId::Job(_) => {
            let job = match job {
                Some(job) => job,
                None => fieldsync_core::job::read_job(&current.doc, None)?,
            };
            let invoice = derive_job(&mut commit, &job, derive);
            // The vans the job's part lines name, from this one read: the
            // caller refreshes their stock documents without reading again.
            vans = job.parts.iter().map(|p| p.van).collect();
            Some(Projected {
                job: Arc::new(job),
                invoice,
            })
        }
        _ => None,
    };
    match store.commit(&commit).await? {
        CommitOutcome::Committed {
            version,
            changes_since_snapshot,
            stamp,
            ..
        } => {
            cache.put(
                doc_id,
                version,
                InMemory {
                    doc: current.doc.clone(),
                    parsed: projected.as_ref().map(|p| Parsed::Job(p.job.clone())),
                },
            );
            if changes_since_snapshot > SNAPSHOT_AFTER_CHANGES {
                // Outside the commit: a snapshot only speeds up loads, and
                // a newer one written meanwhile is kept by the store.
                let bytes = current.doc.save();
                if let Err(e) = store.write_snapshot(&doc_id, version, &bytes).await {
                    tracing::warn!(doc = %doc_id, error = %e, "writing a snapshot failed");
                }
            }
            Ok(Some(Applied {
                version,
                stamp,
                vans,
                projected,
            }))
        }
        CommitOutcome::Stale { current_version } => {
            tracing::debug!(doc = %doc_id, current_version, "stale write, catching up");
            Ok(None)
        }
        CommitOutcome::Archived => Err(WriteError::Archived(doc_id)),
    }
}

/// The SQL rows a job's merged state projects to, written in the same
/// transaction as the changes: one [`Projection`] per registered projector.
/// The job is billed here, once, for every projector; returns the invoice.
pub fn derive_job(commit: &mut DocCommit, job: &Job, derive: &Derive<'_>) -> Option<Invoice> {
    let invoice = derive.price_book.and_then(|book| match bill(job, book) {
        Ok(invoice) => Some(invoice),
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "job cannot be billed");
            None
        }
    });
    let seen = JobCommit {
        job,
        price_book: derive.price_book,
        invoice: invoice.as_ref(),
        now: derive.now,
    };
    for projector in &derive.projectors.0 {
        if let Some(p) = projector.project(&seen) {
            commit.projections.push(p);
        }
    }
    invoice
}

/// The price book as stored, `None` before the first one is written.
pub async fn price_book(
    store: &dyn Store,
    cache: &Cache,
) -> Result<Option<Arc<PriceBook>>, DocLoadError> {
    let id = crate::generations::current(store, fieldsync_core::ServerDoc::PriceBook).await?;
    let Some(loaded) = load(store, cache, &id).await? else {
        return Ok(None);
    };
    Ok(price_book_of(cache, id, &loaded))
}

/// The price book a loaded price book document reads as (read once per
/// version, then kept in the cache).
pub fn price_book_of(cache: &Cache, id: DocId, loaded: &Loaded) -> Option<Arc<PriceBook>> {
    if let Some(Parsed::PriceBook(book)) = &loaded.parsed {
        return Some(book.clone());
    }
    match read_price_book(&loaded.doc, None) {
        Ok(book) => {
            let book = Arc::new(book);
            cache.update(&id, loaded.version, |m| {
                m.parsed = Some(Parsed::PriceBook(book.clone()))
            });
            Some(book)
        }
        Err(e) => {
            tracing::error!(error = %e, "stored price book does not read");
            None
        }
    }
}
