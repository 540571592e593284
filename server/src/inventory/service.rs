//! What the inventory API routes and console pages both do, over the store
//! and the caller's scope: the routes ([`super::routes`]) and pages
//! ([`super::console`]) are thin adapters over these, and the console never
//! calls an API handler.
//!
//! Access follows [`crate::authz`]: a location outside the caller's
//! [`Locations`] is a 404 (ids of other depots are not confirmed), an action
//! the role may not take at all is a 403.

use std::collections::BTreeMap;

use fieldsync_core::{LocationId, Principal, Sku};
use serde::Serialize;
use utoipa::ToSchema;

use super::discrepancies::{self, Discrepancy};
use super::model::*;
use super::replenishment::{self, Suggestion};
use super::vanstock;
use crate::app::AppState;
use crate::authz::{self, Locations, Permission, Scope};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StockStatus {
    Ok,
    Low,
    Negative,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StockRow {
    #[schema(value_type = String)]
    pub location_id: LocationId,
    #[schema(value_type = String)]
    pub sku: Sku,
    pub quantity: i64,
    pub reorder_point: Option<i64>,
    pub reorder_quantity: Option<i64>,
    pub status: StockStatus,
}

/// 404 unless `location` (when given) is visible.
fn visible(scope: &Locations, location: Option<LocationId>) -> Result<(), ApiError> {
    match location {
        Some(l) if !scope.can_see(l) => Err(ApiError::NotFound),
        _ => Ok(()),
    }
}

/// Stock rows of the visible locations (a row per balance or reorder rule).
pub async fn stock_rows(
    state: &AppState,
    scope: &Locations,
    location: Option<LocationId>,
) -> Result<Vec<StockRow>, ApiError> {
    visible(scope, location)?;
    let want = |l: LocationId| scope.can_see(l) && location.is_none_or(|x| x == l);
    let mut rows: BTreeMap<(LocationId, Sku), StockRow> = BTreeMap::new();
    for b in state.store.balances().await? {
        if want(b.location_id) {
            rows.insert(
                (b.location_id, b.sku.clone()),
                StockRow {
                    location_id: b.location_id,
                    sku: b.sku,
                    quantity: b.quantity,
                    reorder_point: None,
                    reorder_quantity: None,
                    status: StockStatus::Ok,
                },
            );
        }
    }
    for r in state.store.reorder_rules().await? {
        if want(r.location_id) {
            let row = rows
                .entry((r.location_id, r.sku.clone()))
                .or_insert(StockRow {
                    location_id: r.location_id,
                    sku: r.sku.clone(),
                    quantity: 0,
                    reorder_point: None,
                    reorder_quantity: None,
                    status: StockStatus::Ok,
                });
            row.reorder_point = Some(r.reorder_point);
            row.reorder_quantity = Some(r.reorder_quantity);
        }
    }
    Ok(rows
        .into_values()
        .map(|mut r| {
            r.status = if r.quantity < 0 {
                StockStatus::Negative
            } else if r.reorder_point.is_some_and(|p| r.quantity < p) {
                StockStatus::Low
            } else {
                StockStatus::Ok
            };
            r
        })
        .collect())
}

/// Checks access, records the movement as `who`, refreshes the vans it touched.
pub async fn record_movement(
    state: &AppState,
    who: Principal,
    mut m: NewMovement,
) -> Result<Recorded, ApiError> {
    authz::require(who, Permission::ManageStock)?;
    let scope = Scope::of(who).locations(state.store.as_ref()).await?;
    for l in [m.from, m.to].into_iter().flatten() {
        if !scope.can_manage(l) {
            return Err(ApiError::NotFound);
        }
    }
    m.actor = Some(who.user);
    let recorded = match state.store.record_movement(&m).await? {
        Ok(r) => r,
        Err(Refused::IdReused(id)) => {
            return Err(ApiError::Conflict(format!(
                "movement id {id} was already used for a different movement"
            )));
        }
        Err(Refused::UnknownLocation(_)) => return Err(ApiError::NotFound),
        Err(e) => return Err(ApiError::BadRequest(e.to_string())),
    };
    if let Recorded::Applied(m) = &recorded {
        vanstock::refresh_known(
            state,
            [m.movement.from, m.movement.to].into_iter().flatten(),
        )
        .await;
    }
    Ok(recorded)
}

/// Discrepancies at the visible locations.
pub async fn discrepancy_list(
    state: &AppState,
    scope: &Locations,
    location: Option<LocationId>,
) -> Result<Vec<Discrepancy>, ApiError> {
    visible(scope, location)?;
    let balances = state.store.balances().await?;
    let rules = state.store.reorder_rules().await?;
    let fits = state.store.serial_fits().await?;
    let lines = state.store.applied_lines(None).await?;
    Ok(discrepancies::find(&balances, &rules, &fits, &lines, |l| {
        scope.can_see(l) && location.is_none_or(|x| x == l)
    }))
}

/// Suggestions for the visible locations (computed over all stock, so a
/// depot's stock is shared fairly between its vans).
pub async fn suggestions(state: &AppState, scope: &Locations) -> Result<Vec<Suggestion>, ApiError> {
    let locations = state.store.locations().await?;
    let balances = state.store.balances().await?;
    let rules = state.store.reorder_rules().await?;
    let mut out = replenishment::suggest(&locations, &balances, &rules);
    out.retain(|s| scope.can_see(s.to));
    Ok(out)
}
