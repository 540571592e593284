//! Which documents a sync caller holds: from SQL assignments, never from
//! document content.

use std::collections::BTreeMap;

use fieldsync_core::sync::{Access, SyncRequest};
use fieldsync_core::{DocId, Role};
use time::{Duration, OffsetDateTime};

use crate::app::AppStore;
use crate::auth::AuthUser;
use crate::store::StoreError;

/// Closed jobs stay on devices this long after their last change, so a
/// technician can still look at the day's finished work; then they leave.
pub const CLOSED_JOBS_KEPT: Duration = Duration::days(14);

/// The access the caller has to each document of this request: everything
/// in their scope, plus the documents they mentioned that exist but are out
/// of it (`Removed`: changes made while they held it merge, then they drop
/// it). Mentioned documents that are neither are left out: the reply says
/// `not_found` for them, so nothing about foreign documents leaks.
pub async fn resolve(
    store: &dyn AppStore,
    caller: &AuthUser,
    request: &SyncRequest,
    now: OffsetDateTime,
) -> Result<BTreeMap<DocId, Access>, StoreError> {
    let closed_since = now - CLOSED_JOBS_KEPT;
    let mut access = BTreeMap::new();
    access.insert(DocId::PriceBook, Access::ReadOnly);
    let jobs = match caller.role {
        Role::Technician => {
            if let Some(van) = store.technician_van(caller.user_id).await? {
                access.insert(DocId::VanStock(van), Access::ReadOnly);
            }
            store.job_scope(Some(caller.user_id), closed_since).await?
        }
        role if role.is_office() => store.job_scope(None, closed_since).await?,
        // Inventory managers work through the inventory API, not on jobs.
        _ => Vec::new(),
    };
    access.extend(jobs.into_iter().map(|id| (DocId::Job(id), Access::Write)));
    for item in &request.docs {
        match item.id {
            id @ (DocId::Job(_) | DocId::VanStock(_)) if !access.contains_key(&id) => {
                access.insert(id, Access::Removed);
            }
            _ => {}
        }
    }
    Ok(access)
}
