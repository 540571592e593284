//! Fresh generations of server-authored documents (the price book, each
//! van's stock).
//!
//! Those documents gain a change per ledger movement or price book edit,
//! and a new install downloads all of it. When one's history outgrows the
//! bound ([`GenerationSettings`]), its next write starts a **new
//! generation** instead: a new automerge document (`van/<id>/g2`,
//! `pricebook/g3`, ...) holding only the current state, one change by the
//! server's actor at the server's time. The old generation retires: it takes
//! no more changes, and a device that names it is answered `removed` while
//! the new one, which it does not name, arrives whole in the same response.
//!
//! The switch is one commit ([`DocCommit::retires`]): the new generation's
//! first change row and the generation index (`doc_generations`) in one
//! transaction, only while the old generation is current and at the version
//! the new state was read against. So a crash leaves the old or the new one
//! current, never neither; of two processes switching at once one wins and
//! the other is stale; and a write racing the switch either lands in the old
//! generation before it (the switch is then stale and redone from the newer
//! state) or is stale itself and redone in the new one.

use automerge::{Automerge, ReadDoc};
use fieldsync_core::{DocId, ServerDoc};

use crate::documents::{Cache, InMemory};
use crate::store::{CommitOutcome, DocCommit, NewChange, Store, StoreError};

/// When a server-authored document starts a fresh generation.
#[derive(Clone, Debug, clap::Args)]
pub struct GenerationSettings {
    /// A price book or van stock document whose history holds more changes
    /// than this starts a fresh generation on its next write.
    #[arg(
        long,
        env = "FIELDSYNC_GENERATION_MAX_CHANGES",
        default_value_t = DEFAULT_MAX_CHANGES,
        global = true
    )]
    pub generation_max_changes: usize,
    /// The same when its saved size exceeds this many KiB (checked when a
    /// snapshot is written; only if the fresh document is at most half).
    #[arg(
        long,
        env = "FIELDSYNC_GENERATION_MAX_KIB",
        default_value_t = DEFAULT_MAX_KIB,
        global = true
    )]
    pub generation_max_kib: usize,
}

/// About 500 movements of one van: a month or two of a busy van, about
/// 60 KB to download whole (see docs/ARCHITECTURE.md "Document history").
const DEFAULT_MAX_CHANGES: usize = 500;
const DEFAULT_MAX_KIB: usize = 256;

impl Default for GenerationSettings {
    fn default() -> Self {
        Self {
            generation_max_changes: DEFAULT_MAX_CHANGES,
            generation_max_kib: DEFAULT_MAX_KIB,
        }
    }
}

impl GenerationSettings {
    pub fn max_bytes(&self) -> usize {
        self.generation_max_kib.saturating_mul(1024)
    }

    /// Whether `doc`'s history holds more changes than the bound (O(1)).
    pub fn too_many_changes(&self, doc: &Automerge) -> bool {
        usize::try_from(doc.stats().num_changes).unwrap_or(usize::MAX) > self.generation_max_changes
    }

    /// Whether a document saved as `saved` bytes outgrew the byte bound,
    /// when its fresh generation would save as `fresh` bytes: the new
    /// generation must be worth it (at most half), or a large price book
    /// would start one on every edit.
    pub fn too_many_bytes(&self, saved: usize, fresh: usize) -> bool {
        saved > self.max_bytes() && fresh.saturating_mul(2) <= saved
    }
}

/// The current generation of `doc`.
pub async fn current(store: &dyn Store, doc: ServerDoc) -> Result<DocId, StoreError> {
    let generations = store.generations(&[doc]).await?;
    Ok(DocId::generation_of(
        doc,
        generations.get(&doc).copied().unwrap_or(1),
    ))
}

/// Commits `fresh` (the whole current state, written by the server) as
/// the generation after `previous`, which was read at `previous_version`;
/// caches it. `None` when that is no longer the current state (another
/// write or switch got in first): nothing was written; read again.
pub async fn start_next(
    store: &dyn Store,
    cache: &Cache,
    previous: DocId,
    previous_version: i64,
    fresh: Automerge,
) -> Result<Option<(DocId, i64)>, StoreError> {
    let Some(next) = previous.next_generation() else {
        return Err(StoreError::other(format!("{previous} has no generations")));
    };
    let mut commit = DocCommit::new(next, 0);
    commit.changes = fresh
        .get_changes(&[])
        .iter()
        .map(NewChange::from_change)
        .collect();
    commit.retires = Some(previous_version);
    match store.commit(&commit).await? {
        CommitOutcome::Committed { version, .. } => {
            tracing::info!(from = %previous, to = %next, "server document started a fresh generation");
            metrics::counter!("doc_generations_started_total").increment(1);
            cache.put(
                next,
                version,
                InMemory {
                    doc: fresh,
                    parsed: None,
                },
            );
            Ok(Some((next, version)))
        }
        CommitOutcome::Stale { .. } => Ok(None),
    }
}
