//! Which documents a sync caller holds, from the caller's [`Scope`](crate::authz::Scope)
//! (SQL assignments, never document content).

use std::collections::BTreeMap;

use fieldsync_core::sync::{Access, SyncRequest};
use fieldsync_core::{DocId, ServerDoc};
use time::{Duration, OffsetDateTime};

use crate::app::AppStore;
use crate::auth::AuthUser;
use crate::authz::JobScope;
use crate::store::StoreError;

/// Closed jobs stay on devices this long after their last change, so a
/// technician can still look at the day's finished work; then they leave.
pub const CLOSED_JOBS_KEPT: Duration = Duration::days(14);

/// The access the caller has to each document of this request: everything
/// in their scope (a technician's assigned jobs; the jobs an office device
/// opened), plus the documents they mentioned (exchanged or listed
/// as known) that exist but are out of it (`Removed`: changes made while
/// they held it merge, then they drop it). Mentioned documents that are
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
    let scope = caller.scope();
    // The price book and the caller's van, each in its current generation
    // (one query for both); older generations the device names are `Removed`
    // below, so it drops them as the current one arrives whole.
    let mut server_docs = vec![ServerDoc::PriceBook];
    server_docs.extend(scope.own_van(store).await?.map(ServerDoc::VanStock));
    let generations = store.generations(&server_docs).await?;
    for doc in server_docs {
        let generation = generations.get(&doc).copied().unwrap_or(1);
        access.insert(DocId::generation_of(doc, generation), Access::ReadOnly);
    }
    let jobs = match scope.jobs() {
        JobScope::Assigned(me) => store.job_scope(Some(me), closed_since).await?,
        // The office sees every job but holds only those its device opened
        // (`open_jobs`): a bounded set, whatever the number of jobs.
        JobScope::All => {
            store
                .opened_job_scope(caller.device_id, closed_since)
                .await?
        }
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
    for id in request.mentioned() {
        // Also a price book or van generation that is no longer current.
        access.entry(id).or_insert(Access::Removed);
    }
    Ok(access)
}
