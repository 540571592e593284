//! Replenishment suggestions: what to send to which van from which depot,
//! bounded by what the depot has; what a depot should order.

use std::collections::BTreeMap;

use fieldsync_core::{LocationId, Sku};
use serde::Serialize;
use utoipa::ToSchema;

use super::model::{Balance, Location, LocationKind, ReorderRule};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Suggestion {
    /// Where the parts should go.
    #[schema(value_type = String)]
    pub to: LocationId,
    /// The van's depot; `None` for a depot below its own reorder point
    /// (order from a supplier).
    #[schema(value_type = Option<String>)]
    pub from: Option<LocationId>,
    #[schema(value_type = String)]
    pub sku: Sku,
    /// What to send now (never more than the depot has).
    pub quantity: i64,
    /// What the rule asks for: enough to be back above the reorder point,
    /// at least the reorder quantity.
    pub wanted: i64,
    pub on_hand: i64,
    pub reorder_point: i64,
}

/// Suggestions for every rule below its point. Vans with the least stock
/// relative to their point are served first from their depot's stock.
pub fn suggest(
    locations: &[Location],
    balances: &[Balance],
    rules: &[ReorderRule],
) -> Vec<Suggestion> {
    let by_id: BTreeMap<LocationId, &Location> = locations.iter().map(|l| (l.id, l)).collect();
    let mut on_hand: BTreeMap<(LocationId, Sku), i64> = balances
        .iter()
        .map(|b| ((b.location_id, b.sku.clone()), b.quantity))
        .collect();
    let mut due: Vec<(&ReorderRule, i64)> = rules
        .iter()
        .map(|r| {
            (
                r,
                on_hand
                    .get(&(r.location_id, r.sku.clone()))
                    .copied()
                    .unwrap_or(0),
            )
        })
        .filter(|(r, q)| *q < r.reorder_point)
        .collect();
    due.sort_by_key(|(r, q)| (q - r.reorder_point, r.location_id, r.sku.clone()));
    let mut out = Vec::new();
    for (r, q) in due {
        let wanted = (r.reorder_point - q).max(r.reorder_quantity);
        let Some(location) = by_id.get(&r.location_id) else {
            continue;
        };
        let (from, quantity) = match (location.kind, location.depot_id) {
            (LocationKind::Van, Some(depot)) => {
                let available = on_hand.entry((depot, r.sku.clone())).or_insert(0);
                let send = wanted.min((*available).max(0));
                *available -= send;
                (Some(depot), send)
            }
            _ => (None, wanted),
        };
        out.push(Suggestion {
            to: r.location_id,
            from,
            sku: r.sku.clone(),
            quantity,
            wanted,
            on_hand: q,
            reorder_point: r.reorder_point,
        });
    }
    out
}
