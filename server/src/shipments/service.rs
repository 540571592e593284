//! What the shipment API routes and console section both do: input rules,
//! the permission and scope checks, and the refusals mapped to API errors.
//!
//! Who: the shipping team. Until teams exist (issue #17) that is whoever
//! manages the depot's stock: [`Permission::ManageStock`] (403 without it)
//! and the depot in the caller's [`Locations`] (inventory managers and
//! supervisors: their depots; admins: all). A shipment from another depot
//! is a 404, as for one that does not exist. The customer's single view
//! shows a customer's shipments to whoever sees the customer.

use fieldsync_core::{JobId, LocationId, Principal, Sku};
use uuid::Uuid;

use super::model::*;
use super::store::{Ordered, ShipmentFilter, StepRefused, Stepped};
use super::views::*;
use crate::app::AppState;
use crate::authz::{self, Locations, Permission, Scope};
use crate::error::ApiError;
use crate::inventory::LocationKind;
use crate::store::{StoreError, now_utc};

/// The most units one shipment sends.
pub const MAX_QUANTITY: i64 = 1_000;
/// Longest note, in characters.
pub const MAX_NOTE: usize = 500;
/// Longest carrier name and tracking reference, in characters.
pub const MAX_TRACKING: usize = 100;

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The caller's locations, after the permission check.
async fn team_scope(state: &AppState, who: Principal) -> Result<Locations, ApiError> {
    authz::require(who, Permission::ManageStock)?;
    Ok(Scope::of(who).locations(state.store.as_ref()).await?)
}

/// The shipment, if it leaves from a depot the caller manages (404 otherwise).
async fn managed(state: &AppState, scope: &Locations, id: Uuid) -> Result<Shipment, ApiError> {
    match state.store.shipment(id).await? {
        Some(s) if scope.can_manage(s.depot_id) => Ok(s),
        _ => Err(ApiError::NotFound),
    }
}

fn tracking_of(body: TrackingBody) -> Result<Tracking, ApiError> {
    let field = |name: &str, v: &str| {
        let v = v.trim();
        if v.is_empty() || v.chars().count() > MAX_TRACKING {
            return Err(bad(format!("{name} must have 1-{MAX_TRACKING} characters")));
        }
        Ok(v.to_owned())
    };
    Ok(Tracking {
        carrier: field("carrier", &body.carrier)?,
        reference: field("reference", &body.reference)?,
    })
}

/// The shipment a valid order describes (not yet checked against stored state).
fn shipment_of(body: NewShipment, who: Principal) -> Result<Shipment, ApiError> {
    let sku: Sku = body
        .sku
        .trim()
        .parse()
        .map_err(|e| bad(format!("sku: {e}")))?;
    if !(1..=MAX_QUANTITY).contains(&body.quantity) {
        return Err(bad(format!(
            "quantity must be between 1 and {MAX_QUANTITY}"
        )));
    }
    let mut serials: Vec<String> = Vec::with_capacity(body.serials.len());
    for s in body.serials {
        let s = s.trim().to_owned();
        if s.is_empty() || s.len() > 100 {
            return Err(bad("serials have 1-100 characters"));
        }
        if serials.contains(&s) {
            return Err(bad(format!("serial {s} given twice")));
        }
        serials.push(s);
    }
    let note = body.note.unwrap_or_default().trim().to_owned();
    if note.chars().count() > MAX_NOTE {
        return Err(bad(format!("note must be at most {MAX_NOTE} characters")));
    }
    let now = now_utc();
    Ok(Shipment {
        id: body.id,
        customer_id: body.customer_id,
        site_id: body.site_id,
        depot_id: LocationId::from_uuid(body.depot_id),
        sku,
        quantity: body.quantity,
        serials,
        job_id: body.job_id.map(JobId::from_uuid),
        note,
        status: ShipmentStatus::Ordered,
        tracking: None,
        ordered_by: who.user,
        ordered_at: now,
        picked_at: None,
        dispatched_at: None,
        delivered_at: None,
        cancelled_at: None,
        updated_at: now,
    })
}

/// Checks what the order names: a depot the caller manages (404 for
/// another depot), the customer and one of its sites, the part (one serial
/// per unit of a serialized part, each on the depot's shelf), the job.
async fn check_order(state: &AppState, scope: &Locations, s: &Shipment) -> Result<(), ApiError> {
    let depot = state
        .store
        .locations()
        .await?
        .into_iter()
        .find(|l| l.id == s.depot_id);
    match depot {
        Some(l) if scope.can_manage(l.id) && l.kind == LocationKind::Depot => {}
        Some(l) if scope.can_manage(l.id) => return Err(bad("depot_id is not a depot")),
        _ => return Err(ApiError::NotFound),
    }
    let unknown = |what: &str, id: Uuid| bad(format!("no {what} {id}"));
    match state.store.customer(s.customer_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(unknown("customer", s.customer_id)),
        Err(e) => return Err(e.into()),
    }
    match state.store.site(s.site_id).await {
        Ok(site) if site.customer_id == s.customer_id => {}
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(bad(format!(
                "site {} is not one of the customer's sites",
                s.site_id
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let Some(part) = state
        .store
        .parts()
        .await?
        .into_iter()
        .find(|p| p.sku == s.sku)
    else {
        return Err(bad(format!("unknown sku {}", s.sku)));
    };
    if !part.serialized && !s.serials.is_empty() {
        return Err(bad(format!("{} is not serialized: no serials", s.sku)));
    }
    if part.serialized {
        if i64::try_from(s.serials.len()).ok() != Some(s.quantity) {
            return Err(bad(format!(
                "{} is serialized: give one serial per unit",
                s.sku
            )));
        }
        let units = state.store.serial_units(Some(&s.sku)).await?;
        for serial in &s.serials {
            let here = units
                .iter()
                .any(|u| &u.serial == serial && u.location_id == Some(s.depot_id));
            if !here {
                return Err(bad(format!("serial {serial} is not at the depot")));
            }
        }
    }
    if let Some(job) = s.job_id {
        match state.store.job(job).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(unknown("job", job.as_uuid())),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Orders a part; `true` when this call stored it (a retry of the same
/// order answers the stored shipment).
pub async fn order(
    state: &AppState,
    who: Principal,
    body: NewShipment,
) -> Result<(bool, Shipment), ApiError> {
    let scope = team_scope(state, who).await?;
    let s = shipment_of(body, who)?;
    // A retry of an order already taken further is answered, not re-checked
    // (its serials have left the shelf).
    if let Some(stored) = state.store.shipment(s.id).await? {
        if !scope.can_manage(stored.depot_id) {
            return Err(ApiError::Conflict(format!("shipment id {} is taken", s.id)));
        }
    } else {
        check_order(state, &scope, &s).await?;
    }
    match state.store.order_shipment(&s).await? {
        Ordered::Created(s) => Ok((true, s)),
        Ordered::Replayed(s) if scope.can_manage(s.depot_id) => Ok((false, s)),
        Ordered::Replayed(_) | Ordered::IdReused => Err(ApiError::Conflict(format!(
            "shipment id {} was already used for a different order",
            s.id
        ))),
    }
}

pub async fn get(state: &AppState, who: Principal, id: Uuid) -> Result<Shipment, ApiError> {
    let scope = team_scope(state, who).await?;
    managed(state, &scope, id).await
}

/// The shipments from the caller's depots, newest first.
pub async fn list(
    state: &AppState,
    who: Principal,
    q: ShipmentQuery,
) -> Result<ShipmentList, ApiError> {
    let scope = team_scope(state, who).await?;
    let depots: Vec<LocationId> = match q.depot.map(LocationId::from_uuid) {
        Some(d) if scope.can_manage(d) => vec![d],
        Some(_) => return Err(ApiError::NotFound),
        None => scope.ids().filter(|l| scope.can_manage(*l)).collect(),
    };
    let statuses = match q.status.as_deref() {
        None | Some("") => None,
        Some(list) => Some(
            list.split(',')
                .map(|s| s.trim().parse::<ShipmentStatus>().map_err(bad))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let shipments = state
        .store
        .shipments(&ShipmentFilter {
            depots: if scope.sees_all() && q.depot.is_none() {
                None
            } else {
                Some(depots)
            },
            customer: q.customer,
            statuses,
            limit: q.limit,
        })
        .await?;
    Ok(ShipmentList { shipments })
}

/// Takes a step; `true` when it changed something.
pub async fn step(
    state: &AppState,
    who: Principal,
    id: Uuid,
    step: Step,
    tracking: Option<TrackingBody>,
) -> Result<(bool, Shipment), ApiError> {
    let scope = team_scope(state, who).await?;
    managed(state, &scope, id).await?;
    let tracking = tracking.map(tracking_of).transpose()?;
    let out = state
        .store
        .step_shipment(id, step, tracking.as_ref(), who.user)
        .await?;
    match out {
        // Shipments move depot and transit stock only: no van document changes.
        Ok(Stepped::Applied(s)) => Ok((true, s)),
        Ok(Stepped::Replayed(s)) => Ok((false, s)),
        Err(e) => Err(refused(e)),
    }
}

/// Sets the tracking reference (before delivery).
pub async fn set_tracking(
    state: &AppState,
    who: Principal,
    id: Uuid,
    body: TrackingBody,
) -> Result<Shipment, ApiError> {
    let scope = team_scope(state, who).await?;
    managed(state, &scope, id).await?;
    let t = tracking_of(body)?;
    state.store.set_tracking(id, &t).await?.map_err(refused)
}

fn refused(e: StepRefused) -> ApiError {
    match e {
        StepRefused::NotFound => ApiError::NotFound,
        StepRefused::NotNow(e) => ApiError::Conflict(e.to_string()),
        StepRefused::NotInStock(m) => ApiError::Conflict(m),
    }
}

/// A customer's shipments, newest first, for the single view (the caller
/// has been checked for the customer already).
pub async fn of_customer(state: &AppState, customer: Uuid) -> Result<Vec<Shipment>, ApiError> {
    Ok(state
        .store
        .shipments(&ShipmentFilter {
            customer: Some(customer),
            limit: Some(100),
            ..Default::default()
        })
        .await?)
}
