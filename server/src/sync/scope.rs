//! Which documents a sync caller holds, from the caller's [`Scope`](crate::authz::Scope)
//! (SQL assignments, never document content).

use std::collections::BTreeMap;

use fieldsync_core::DocId;
use fieldsync_core::sync::{Access, SyncRequest};
use time::{Duration, OffsetDateTime};

use crate::app::AppStore;
use crate::auth::AuthUser;
use crate::authz::JobScope;
use crate::store::StoreError;

/// Closed jobs stay on devices this long after their last change, so a
/// technician can still look at the day's finished work; then they leave.
pub const CLOSED_JOBS_KEPT: Duration = Duration::days(14);

/// The access the caller has to each document of this request: everything
/// in their scope, plus the documents they mentioned (exchanged or listed
/// as known) that exist but are out of it (`Removed`: changes made while
/// they held it merge, then they drop it; `Archived` for an archived job:
/// they drop it, and changes made meanwhile are refused). Mentioned documents that are
/// neither are left out: the reply says `not_found` for them, so nothing
/// about foreign documents leaks.
pub async fn resolve(
    store: &dyn AppStore,
    caller: &AuthUser,
    request: &SyncRequest,
    now: OffsetDateTime,
) -> Result<BTreeMap<DocId, Access>, StoreError> {
    let closed_since = now - CLOSED_JOBS_KEPT;
    let mut access = BTreeMap::new();
    access.insert(DocId::PriceBook, Access::ReadOnly);
    let scope = caller.scope();
    if let Some(van) = scope.own_van(store).await? {
        access.insert(DocId::VanStock(van), Access::ReadOnly);
    }
    let jobs = match scope.jobs() {
        JobScope::Assigned(me) => store.job_scope(Some(me), closed_since).await?,
        JobScope::All => store.job_scope(None, closed_since).await?,
        // Inventory managers work through the inventory API, not on jobs.
        JobScope::None => Vec::new(),
    };
    // A role that sees jobs without editing them holds them read-only.
    let job_access = if scope.writes_jobs() {
        Access::Write
    } else {
        Access::ReadOnly
    };
    access.extend(jobs.into_iter().map(|id| (DocId::Job(id), job_access)));
    let mut gone = Vec::new();
    for id in request.mentioned() {
        match id {
            DocId::Job(_) | DocId::VanStock(_) if !access.contains_key(&id) => {
                access.insert(id, Access::Removed);
                gone.push(id);
            }
            _ => {}
        }
    }
    // An archived job takes no more changes: the device is told to drop
    // it, and what it changed meanwhile is refused rather than merged.
    if !gone.is_empty() {
        for id in store.archived_among(&gone).await? {
            access.insert(id, Access::Archived);
        }
    }
    Ok(access)
}
