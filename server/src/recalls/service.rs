//! Recall campaigns: creating one (find the affected assets, quarantine the
//! affected stock, open or flag a job per asset) and where one stands. The
//! API routes and the console page are thin adapters over these.
//!
//! Creating is idempotent by the client's campaign id, and every step is
//! too: a quarantine movement's id is derived from the campaign and the
//! serial, a job the campaign opens from the campaign and the asset, and a
//! job already flagged gets no change. So sending the same campaign again
//! after an interrupted request completes it and duplicates nothing.

use std::sync::Arc;

use fieldsync_core::job::{Priority, RecallNotice, Window};
use fieldsync_core::validate::Recalled;
use fieldsync_core::{JobSpec, LocationId, Principal, Sku};
use time::Duration;
use uuid::Uuid;

use super::model::*;
use super::store::Stored;
use super::views::*;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::{CustomerScope, Permission, Scope};
use crate::customers::VisitsOf;
use crate::error::ApiError;
use crate::jobs::views::timestamp;

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// Reasons and compensation offers: at most this many characters.
const MAX_TEXT: usize = 1_000;
/// How long a job the campaign opens is scheduled for, from now.
const OPENED_WINDOW: Duration = Duration::days(14);

/// The caller may run campaigns: they manage customers, all of them
/// (recalls are company-wide: a supervisor of some depots may not
/// quarantine every depot's stock).
async fn runner(state: &AppState, caller: &AuthUser) -> Result<(), ApiError> {
    caller.require(Permission::ManageCustomers)?;
    match caller.scope().customers(state.store.as_ref()).await? {
        CustomerScope::All => Ok(()),
        _ => Err(ApiError::Forbidden(
            "recall campaigns are company-wide: your role manages some depots' customers only",
        )),
    }
}

fn text(field: &str, value: &str, required: bool) -> Result<Option<String>, ApiError> {
    let t = value.trim();
    if t.is_empty() {
        return if required {
            Err(bad(format!("{field} must not be empty")))
        } else {
            Ok(None)
        };
    }
    if t.chars().count() > MAX_TEXT {
        return Err(bad(format!(
            "{field} must be at most {MAX_TEXT} characters"
        )));
    }
    Ok(Some(t.to_owned()))
}

/// The campaign a valid body describes.
fn campaign_of(body: NewCampaign, by: Principal) -> Result<Campaign, ApiError> {
    let sku: Sku = body
        .sku
        .trim()
        .parse()
        .map_err(|e| bad(format!("sku: {e}")))?;
    if body.serials.is_empty() && body.ranges.is_empty() {
        return Err(bad(
            "name the affected serials: `serials`, `ranges` or both",
        ));
    }
    if body.serials.len() > MAX_SERIALS || body.ranges.len() > MAX_RANGES {
        return Err(bad(format!(
            "at most {MAX_SERIALS} serials and {MAX_RANGES} ranges"
        )));
    }
    let mut serials = Vec::with_capacity(body.serials.len());
    for s in body.serials {
        let s = s.trim().to_owned();
        if s.is_empty() || s.len() > MAX_SERIAL {
            return Err(bad(format!("serials have 1-{MAX_SERIAL} characters")));
        }
        if !serials.contains(&s) {
            serials.push(s);
        }
    }
    let mut ranges = Vec::with_capacity(body.ranges.len());
    for r in body.ranges {
        let r = SerialRange {
            first: r.first.trim().to_owned(),
            last: r.last.trim().to_owned(),
        };
        if r.first.len() > MAX_SERIAL || r.last.len() > MAX_SERIAL {
            return Err(bad(format!("serials have 1-{MAX_SERIAL} characters")));
        }
        r.check().map_err(bad)?;
        ranges.push(r);
    }
    Ok(Campaign {
        id: body.id,
        sku,
        reason: text("reason", &body.reason, true)?.unwrap_or_default(),
        remedy: body.remedy,
        compensation: body
            .compensation
            .as_deref()
            .map(|c| text("compensation", c, false))
            .transpose()?
            .flatten(),
        serials,
        ranges,
        created_by: by.user,
        created_at: crate::store::now_utc(),
    })
}

/// Creates a campaign and acts on it; `true` when this call stored it
/// (201), `false` for a replay (200).
pub async fn create(
    state: &AppState,
    caller: &AuthUser,
    body: NewCampaign,
) -> Result<(bool, CampaignView), ApiError> {
    runner(state, caller).await?;
    let campaign = campaign_of(body, caller.principal())?;
    let (created, campaign) = match state.store.create_campaign(&campaign).await? {
        Stored::Created => (true, campaign),
        Stored::Replayed(stored) => (false, stored),
        Stored::IdReused => {
            return Err(ApiError::Conflict(format!(
                "campaign {} exists with other content",
                campaign.id
            )));
        }
    };
    act(state, caller, &campaign).await?;
    Ok((created, view(state, caller.principal(), campaign.id).await?))
}

/// Quarantines the affected stock and opens or flags a job per affected
/// asset. Safe to run again (see the module docs).
async fn act(state: &AppState, caller: &AuthUser, c: &Campaign) -> Result<(), ApiError> {
    let units: Vec<(String, LocationId)> = state
        .store
        .units_in_stock(&c.sku)
        .await?
        .into_iter()
        .filter(|(serial, _)| c.names(serial))
        .collect();
    let touched = state.store.quarantine(c, &units, caller.user_id).await?;
    for location in touched {
        // Depots have no document; a van's shows the units as quarantined.
        if let Err(e) = crate::inventory::vanstock::refresh(state, location).await {
            tracing::warn!(error = %e, %location, "van stock document not refreshed after a recall");
        }
    }
    let notice = RecallNotice {
        campaign: c.id,
        reason: c.reason.clone(),
        remedy: c.remedy.into(),
        compensation: c.compensation.clone(),
    };
    let who = caller.principal();
    for asset in state.store.product_assets(&c.sku).await? {
        if !c.names(&asset.serial) {
            continue;
        }
        // An open job on the asset takes the recall; otherwise one is opened.
        let open = state
            .store
            .visits(VisitsOf::Asset(asset.id), true, 1)
            .await?
            .into_iter()
            .next()
            .map(|v| fieldsync_core::JobId::from_uuid(v.job_id));
        let wanted = open.unwrap_or_else(|| c.job_for(asset.id));
        let job = state
            .store
            .link_asset(c.id, asset.id, wanted, open.is_none())
            .await?;
        let spec = if job == c.job_for(asset.id) {
            Some(opened_spec(state, caller, c, asset.id, job).await?)
        } else {
            None
        };
        crate::jobs::flag_recall(state, job, who, spec.as_ref().map(|(s, r)| (s, r)), &notice)
            .await?;
    }
    Ok(())
}

/// The job a campaign opens for an asset with no open job: made from the
/// registry (customer, site and asset snapshots), unassigned, high
/// priority, scheduled over the next two weeks.
async fn opened_spec(
    state: &AppState,
    caller: &AuthUser,
    c: &Campaign,
    asset: Uuid,
    job: fieldsync_core::JobId,
) -> Result<(JobSpec, fieldsync_core::job::Registry), ApiError> {
    let from = crate::customers::service::snapshot(state, caller, None, None, Some(asset)).await?;
    let (Some(customer), Some(site), Some(asset)) = (from.customer, from.site, from.asset) else {
        return Err(ApiError::internal(
            "an asset's snapshot without its customer and site",
        ));
    };
    let now = crate::store::now_utc();
    let window =
        Window::new(timestamp(now), timestamp(now + OPENED_WINDOW)).map_err(ApiError::internal)?;
    Ok((
        JobSpec {
            id: job,
            customer,
            site,
            asset,
            problem: format!("Recall ({}): {}", c.remedy, c.reason),
            priority: Priority::High,
            window,
            technician: None,
            checklist: Vec::new(),
        },
        from.registry,
    ))
}

/// Who may see campaigns: office roles that manage customers. They see the
/// affected assets of the customers in their scope and the quarantined
/// units at the locations in theirs.
async fn viewer_scopes(
    state: &AppState,
    who: Principal,
) -> Result<(CustomerScope, crate::authz::Locations), ApiError> {
    let scope = Scope::of(who);
    scope.require(Permission::ManageCustomers)?;
    Ok((
        scope.customers(state.store.as_ref()).await?,
        scope.locations(state.store.as_ref()).await?,
    ))
}

/// The recalls in an asset's history, newest first (the caller sees the
/// asset: its single view asked).
pub async fn of_asset(state: &AppState, asset: Uuid) -> Result<Vec<AssetRecall>, ApiError> {
    let today = state.clock.today();
    Ok(state
        .store
        .asset_recalls(asset)
        .await?
        .into_iter()
        .map(|r| AssetRecall {
            state: state_of(r.replacement, r.committed_date, today),
            campaign_id: r.campaign_id,
            reason: r.reason,
            remedy: r.remedy,
            created_at: r.created_at,
            job_id: r.job_id,
            replacement: r.replacement,
            committed_date: r.committed_date.map(|d| d.to_string()),
        })
        .collect())
}

/// Where a remedy stands on `today`.
pub fn state_of(
    replacement: Option<Replacement>,
    committed_date: Option<time::Date>,
    today: time::Date,
) -> RemedyState {
    match (replacement, committed_date) {
        (None, _) => RemedyState::Awaiting,
        (Some(Replacement::Temporary), Some(due)) if due < today => RemedyState::Overdue,
        (Some(Replacement::Temporary), _) => RemedyState::Pending,
        (Some(Replacement::None | Replacement::Permanent), _) => RemedyState::Remedied,
    }
}

/// Where a campaign stands, as `who` may see it (404 for an unknown id).
pub async fn view(state: &AppState, who: Principal, id: Uuid) -> Result<CampaignView, ApiError> {
    let (customers, locations) = viewer_scopes(state, who).await?;
    let c = state.store.campaign(id).await?;
    let today = state.clock.today();
    let mut counts = CampaignCounts::default();
    let mut assets = Vec::new();
    for a in state.store.affected(id).await? {
        let visible = match &customers {
            CustomerScope::All => true,
            CustomerScope::Depots(depots) => depots.contains(&a.depot_id),
            CustomerScope::None | CustomerScope::Jobs(_) => false,
        };
        if !visible {
            continue;
        }
        let s = state_of(a.replacement, a.committed_date, today);
        counts.affected += 1;
        match s {
            RemedyState::Awaiting => counts.awaiting += 1,
            RemedyState::Pending => counts.pending += 1,
            RemedyState::Overdue => counts.overdue += 1,
            RemedyState::Remedied => counts.remedied += 1,
        }
        assets.push(AffectedView {
            asset_id: a.asset_id,
            serial: a.serial,
            customer_id: a.customer_id,
            customer_name: a.customer_name,
            job_id: a.job_id,
            opened: a.opened,
            job_status: a.job_status.map(|s| s.as_str().to_owned()),
            replacement: a.replacement,
            committed_date: a.committed_date.map(|d| d.to_string()),
            state: s,
        });
    }
    let quarantined = state
        .store
        .quarantined(id)
        .await?
        .into_iter()
        .filter(|u| locations.can_see(u.location_id))
        .map(|u| QuarantinedView {
            sku: u.sku.to_string(),
            serial: u.serial,
            location_id: u.location_id,
        })
        .collect();
    Ok(CampaignView {
        id: c.id,
        sku: c.sku.to_string(),
        reason: c.reason,
        remedy: c.remedy,
        compensation: c.compensation,
        serials: c.serials,
        ranges: c.ranges,
        created_at: c.created_at,
        today: today.to_string(),
        counts,
        assets,
        quarantined,
    })
}

/// The campaigns, newest first (at most 200).
pub async fn list(state: &AppState, who: Principal) -> Result<CampaignList, ApiError> {
    viewer_scopes(state, who).await?;
    Ok(CampaignList {
        campaigns: state
            .store
            .campaigns()
            .await?
            .into_iter()
            .map(|c| CampaignSummary {
                id: c.id,
                sku: c.sku.to_string(),
                reason: c.reason,
                remedy: c.remedy,
                created_at: c.created_at,
            })
            .collect(),
    })
}

/// Every serial under recall, for the sync validator (see
/// `fieldsync_core::validate::Context::recalled`).
pub async fn recalled(state: &AppState) -> Result<Arc<Recalled>, ApiError> {
    Ok(Arc::new(state.store.recalled().await?))
}
