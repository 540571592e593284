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
use fieldsync_core::{DocId, LocationId, Timestamp};

use crate::app::AppState;
use crate::documents::{self, snapshot_due};
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

/// The ledger's stock of `van` now.
pub async fn ledger_stock(state: &AppState, van: LocationId) -> Result<VanStock, StoreError> {
    let mut items: BTreeMap<fieldsync_core::Sku, StockItem> = BTreeMap::new();
    for b in state
        .store
        .balances()
        .await?
        .into_iter()
        .filter(|b| b.location_id == van)
    {
        items.entry(b.sku).or_default().quantity = b.quantity;
    }
    for s in state.store.serial_units(None).await? {
        if s.location_id == Some(van) {
            items.entry(s.sku).or_default().serials.push(s.serial);
        }
    }
    Ok(VanStock {
        van,
        as_of: Timestamp((now_utc().unix_timestamp_nanos() / 1_000_000) as i64),
        items,
    })
}

/// Brings the van's document up to date with the ledger; returns the
/// document version. Call after any committed movement touching `van`.
pub async fn refresh(state: &AppState, van: LocationId) -> Result<i64, VanStockError> {
    let doc_id = DocId::VanStock(van);
    for _ in 0..8 {
        let (version, mut doc) =
            match documents::load(state.store.as_ref(), &state.docs, &doc_id).await? {
                Some(c) => (c.version, c.doc),
                None => (0, Automerge::new()),
            };
        doc.set_actor(server_actor());
        let stock = ledger_stock(state, van).await?;
        let Some(hash) = write_van_stock(&mut doc, &stock, stock.as_of)
            .map_err(|e| VanStockError::Doc(e.to_string()))?
        else {
            return Ok(version);
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
                if snapshot_due(changes_since_snapshot, 0) {
                    state
                        .store
                        .write_snapshot(&doc_id, version, &doc.save())
                        .await?;
                }
                state.docs.put(doc_id, version, doc);
                return Ok(version);
            }
            CommitOutcome::Stale { .. } => continue,
        }
    }
    Err(VanStockError::TooManyRetries)
}

/// Refreshes every van in `vans`, logging (not failing) errors: the ledger
/// is already committed, and the next movement refreshes the document again.
pub async fn refresh_all(state: &AppState, vans: impl IntoIterator<Item = LocationId>) {
    let mut seen = std::collections::BTreeSet::new();
    for van in vans {
        if seen.insert(van)
            && let Err(e) = refresh(state, van).await
        {
            tracing::warn!(%van, error = %e, "van stock document not refreshed");
        }
    }
}

/// The vans a stored job document's part lines take parts from.
pub fn vans_of_job(doc: &Automerge) -> Vec<LocationId> {
    match fieldsync_core::job::read_job(doc, None) {
        Ok(job) => job.parts.iter().map(|p| p.van).collect(),
        Err(_) => Vec::new(),
    }
}

/// [`refresh_all`] for those of `ids` that are vans in the ledger.
pub async fn refresh_known(state: &AppState, ids: impl IntoIterator<Item = LocationId>) {
    let ids: Vec<LocationId> = ids.into_iter().collect();
    if ids.is_empty() {
        return;
    }
    match state.store.locations().await {
        Ok(all) => {
            let mut vans = Vec::new();
            for l in all {
                if l.kind == super::LocationKind::Van && ids.contains(&l.id) {
                    vans.push(l.id);
                }
            }
            refresh_all(state, vans).await;
        }
        Err(e) => tracing::warn!(error = %e, "van stock documents not refreshed"),
    }
}
