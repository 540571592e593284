//! Each van's stock document (`van/<id>`): the ledger's view of the van,
//! written by the server after every movement touching the van and synced
//! read-only to the van's technician.
//!
//! The balances are read *after* loading the document and before
//! committing, and a stale commit starts over: so the last commit always
//! reflects a ledger state at least as new as every movement before it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use automerge::{ActorId, Automerge, ReadDoc as _};
use fieldsync_core::vanstock::{StockItem, VanStock, write_van_stock};
use fieldsync_core::{DocId, LocationId, ServerDoc, Timestamp};

use crate::app::AppState;
use crate::documents::{self, InMemory, snapshot_due};
use crate::generations;
use crate::store::{CommitOutcome, DocCommit, NewChange, StoreError, now_utc};

#[derive(Debug, thiserror::Error)]
pub enum VanStockError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Load(#[from] documents::DocLoadError),
    #[error("van stock document: {0}")]
    Doc(String),
    #[error("van stock document kept changing under us")]
    TooManyRetries,
}

/// This process's automerge actor for server-authored documents (one per
/// process, so two processes never reuse a sequence number).
fn server_actor() -> ActorId {
    static ACTOR: OnceLock<ActorId> = OnceLock::new();
    ACTOR.get_or_init(ActorId::random).clone()
}

/// The ledger's stock of `van` now (that van's rows only); `None` if
/// `van` is not a van.
pub async fn ledger_stock(
    state: &AppState,
    van: LocationId,
) -> Result<Option<VanStock>, StoreError> {
    let Some(rows) = state.store.van_stock(van).await? else {
        return Ok(None);
    };
    let mut items: BTreeMap<fieldsync_core::Sku, StockItem> = BTreeMap::new();
    for b in rows.balances {
        items.entry(b.sku).or_default().quantity = b.quantity;
    }
    for s in rows.serials {
        items.entry(s.sku).or_default().serials.push(s.serial);
    }
    // Units a recall quarantined here: shown, but not available.
    for (sku, serial) in state.store.quarantined_at(van).await? {
        items.entry(sku).or_default().quarantined.push(serial);
    }
    Ok(Some(VanStock {
        van,
        as_of: Timestamp((now_utc().unix_timestamp_nanos() / 1_000_000) as i64),
        items,
    }))
}

/// Brings the van's document up to date with the ledger; returns the
/// document version, `None` if `van` is not a van. Call after any committed
/// movement touching `van`.
///
/// When the document's history outgrew the bound
/// ([`crate::generations::GenerationSettings`]) the update is written as a
/// fresh generation instead (see [`crate::generations`]): the ledger's
/// stock read after loading the old one, exactly as an ordinary update.
pub async fn refresh(state: &AppState, van: LocationId) -> Result<Option<i64>, VanStockError> {
    let bound = &state.settings.generations;
    let mut fresh_due = false;
    let mut committed = None;
    for _ in 0..8 {
        let doc_id = generations::current(state.store.as_ref(), ServerDoc::VanStock(van)).await?;
        let loaded = documents::load(state.store.as_ref(), &state.docs, &doc_id).await?;
        let Some(stock) = ledger_stock(state, van).await? else {
            return Ok(None);
        };
        if let Some(current) = &loaded
            && (fresh_due || bound.too_many_changes(&current.doc))
        {
            let mut fresh = Automerge::new().with_actor(server_actor());
            write_van_stock(&mut fresh, &stock, stock.as_of)
                .map_err(|e| VanStockError::Doc(e.to_string()))?;
            match generations::start_next(
                state.store.as_ref(),
                &state.docs,
                doc_id,
                current.version,
                fresh,
            )
            .await?
            {
                Some((_, version)) => return Ok(Some(version)),
                None => continue,
            }
        }
        let (version, mut doc) = match loaded {
            Some(c) => (c.version, c.doc),
            None => (0, Automerge::new()),
        };
        doc.set_actor(server_actor());
        let Some(hash) = write_van_stock(&mut doc, &stock, stock.as_of)
            .map_err(|e| VanStockError::Doc(e.to_string()))?
        else {
            return Ok(Some(version));
        };
        let change = doc
            .get_change_by_hash(&hash)
            .ok_or_else(|| VanStockError::Doc("change just made is missing".into()))?;
        let mut commit = DocCommit::new(doc_id, version);
        commit.changes.push(NewChange::from_change(&change));
        match state.store.commit(&commit).await? {
            CommitOutcome::Committed {
                version,
                changes_since_snapshot,
                ..
            } => {
                let mut outgrown = false;
                if snapshot_due(changes_since_snapshot, 0) {
                    let bytes = doc.save();
                    state.store.write_snapshot(&doc_id, version, &bytes).await?;
                    // Bytes are measured where a save is at hand anyway.
                    outgrown = bound.too_many_bytes(bytes.len(), fresh_size(&doc_id, &stock));
                }
                state
                    .docs
                    .put(doc_id, version, InMemory { doc, parsed: None });
                if !outgrown {
                    return Ok(Some(version));
                }
                // Written; now start the fresh generation (next attempt).
                committed = Some(version);
                fresh_due = true;
            }
            CommitOutcome::Stale { .. } => continue,
        }
    }
    // The update itself was committed even if the switch kept losing races:
    // the next refresh tries again.
    committed.map(Some).ok_or(VanStockError::TooManyRetries)
}

/// What the van's stock saves to as a fresh generation.
fn fresh_size(doc_id: &DocId, stock: &VanStock) -> usize {
    let mut fresh = Automerge::new();
    match write_van_stock(&mut fresh, stock, stock.as_of) {
        Ok(_) => fresh.save().len(),
        Err(e) => {
            tracing::warn!(doc = %doc_id, error = %e, "van stock does not write");
            usize::MAX
        }
    }
}

/// Refreshes the stock documents of those of `ids` that are vans (each
/// once), logging (not failing) errors: the ledger is already committed,
/// and the next movement refreshes the document again.
pub async fn refresh_known(state: &AppState, ids: impl IntoIterator<Item = LocationId>) {
    let mut seen = std::collections::BTreeSet::new();
    for id in ids {
        if seen.insert(id)
            && let Err(e) = refresh(state, id).await
        {
            tracing::warn!(van = %id, error = %e, "van stock document not refreshed");
        }
    }
}
