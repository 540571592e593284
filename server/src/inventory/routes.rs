//! The JSON API under `/v1/inventory/...` (bearer auth; every route asks
//! [`crate::authz`]: 404 for locations outside the caller's scope, 403 for
//! roles that may not act). Shared work lives in [`super::service`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use fieldsync_core::{LocationId, Sku, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::discrepancies::Discrepancy;
use super::model::*;
use super::replenishment::Suggestion;
use super::service::{self, discrepancy_list, stock_rows, suggestions};
pub use super::service::{StockRow, StockStatus};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::{Locations, Permission, scope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::freetext::FreeText;
use crate::store::{Constraint, StoreError, now_utc};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_locations, create_location))
        .routes(routes!(assign_technician))
        .routes(routes!(add_staff))
        .routes(routes!(list_parts))
        .routes(routes!(put_part))
        .routes(routes!(put_reorder_rule))
        .routes(routes!(list_movements, post_movement))
        .routes(routes!(stock))
        .routes(routes!(serials))
        .routes(routes!(list_discrepancies))
        .routes(routes!(replenishment_suggestions))
}

// ----- views -----

#[derive(Debug, Serialize, ToSchema)]
pub struct LocationView {
    #[schema(value_type = String)]
    pub id: LocationId,
    pub kind: LocationKind,
    pub name: String,
    #[schema(value_type = Option<String>)]
    pub depot_id: Option<LocationId>,
    #[schema(value_type = Option<String>)]
    pub technician_id: Option<UserId>,
}

impl From<&Location> for LocationView {
    fn from(l: &Location) -> Self {
        Self {
            id: l.id,
            kind: l.kind,
            name: l.name.clone(),
            depot_id: l.depot_id,
            technician_id: l.technician_id,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PartView {
    #[schema(value_type = String)]
    pub sku: Sku,
    pub name: String,
    /// Unit cost in minor units of money (cents).
    pub unit_cost_minor: i64,
    pub serialized: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MovementView {
    pub id: Uuid,
    pub kind: MovementKind,
    #[schema(value_type = String)]
    pub sku: Sku,
    pub quantity: i64,
    #[schema(value_type = Option<String>)]
    pub from: Option<LocationId>,
    #[schema(value_type = Option<String>)]
    pub to: Option<LocationId>,
    pub reason: Option<AdjustReason>,
    pub serials: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub job_id: Option<fieldsync_core::JobId>,
    #[schema(value_type = Option<String>)]
    pub line_id: Option<fieldsync_core::LineId>,
    pub note: String,
    #[schema(value_type = Option<String>)]
    pub actor: Option<UserId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&Movement> for MovementView {
    fn from(m: &Movement) -> Self {
        let n = &m.movement;
        Self {
            id: n.id,
            kind: n.kind,
            sku: n.sku.clone(),
            quantity: n.quantity,
            from: n.from,
            to: n.to,
            reason: n.reason,
            serials: n.serials.clone(),
            job_id: n.job_id,
            line_id: n.line_id,
            note: n.note.clone(),
            actor: n.actor,
            created_at: m.created_at,
        }
    }
}

async fn locations_of(state: &AppState, user: &AuthUser) -> Result<Locations, ApiError> {
    Ok(user.scope().locations(state.store.as_ref()).await?)
}

fn parse_sku(s: &str) -> Result<Sku, ApiError> {
    s.parse()
        .map_err(|e: fieldsync_core::InvalidValue| ApiError::BadRequest(e.to_string()))
}

// ----- locations -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocationBody {
    /// Optional client-chosen id (a UUID); generated if absent.
    pub id: Option<Uuid>,
    pub kind: LocationKind,
    pub name: String,
    /// Required for a van: its depot.
    pub depot_id: Option<Uuid>,
    /// A van's technician.
    pub technician_id: Option<Uuid>,
}

impl FreeText for NewLocationBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("name", &self.name)]
    }
}

/// Locations the caller may see.
#[utoipa::path(get, path = "/v1/inventory/locations", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = Vec<LocationView>), (status = 401, body = ErrorBody)))]
async fn list_locations(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<LocationView>>, ApiError> {
    let scope = locations_of(&state, &user).await?;
    let all = state.store.locations().await?;
    Ok(Json(
        all.iter()
            .filter(|l| scope.can_see(l.id))
            .map(LocationView::from)
            .collect(),
    ))
}

/// Creates a depot or a van (admin).
#[utoipa::path(post, path = "/v1/inventory/locations", tag = "inventory", security(("bearer" = [])),
    request_body = NewLocationBody,
    responses((status = 201, body = LocationView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The technician already has a van", body = ErrorBody)))]
async fn create_location(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<NewLocationBody>,
) -> Result<(StatusCode, Json<LocationView>), ApiError> {
    user.require(Permission::ManageLocations)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "name must have 1-100 characters".into(),
        ));
    }
    let all = state.store.locations().await?;
    let depot_id = body.depot_id.map(LocationId::from_uuid);
    match (body.kind, depot_id) {
        (LocationKind::Depot, None) if body.technician_id.is_none() => {}
        (LocationKind::Depot, _) => {
            return Err(ApiError::BadRequest(
                "a depot has no depot_id or technician_id".into(),
            ));
        }
        (LocationKind::Van, Some(d))
            if all
                .iter()
                .any(|l| l.id == d && l.kind == LocationKind::Depot) => {}
        (LocationKind::Van, _) => {
            return Err(ApiError::BadRequest(
                "a van needs the id of an existing depot".into(),
            ));
        }
        (LocationKind::Transit, _) => {
            return Err(ApiError::BadRequest(
                "transit holdings are made by shipments (/v1/shipments)".into(),
            ));
        }
    }
    let technician_id = match body.technician_id.map(UserId::from_uuid) {
        Some(t) => match state.store.user(t).await {
            Ok(u) if u.role.is_field() => Some(t),
            Ok(_) => {
                return Err(ApiError::BadRequest(
                    "technician_id is not a technician".into(),
                ));
            }
            Err(StoreError::NotFound) => {
                return Err(ApiError::BadRequest("unknown technician_id".into()));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let location = Location {
        id: LocationId::from_uuid(body.id.unwrap_or_else(Uuid::new_v4)),
        kind: body.kind,
        name: name.to_owned(),
        depot_id,
        technician_id,
        created_at: now_utc(),
    };
    if all.iter().any(|l| l.id == location.id) {
        return Err(ApiError::Conflict("a location with this id exists".into()));
    }
    state
        .store
        .create_location(&location)
        .await
        .map_err(technician_taken)?;
    Ok((StatusCode::CREATED, Json(LocationView::from(&location))))
}

fn technician_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(Constraint::Other(c)) if c.contains("technician") => {
            ApiError::Conflict("this technician already has a van".into())
        }
        e => e.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTechnicianBody {
    /// `null` unassigns the van.
    pub technician_id: Option<Uuid>,
}

impl FreeText for AssignTechnicianBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Assigns a van to a technician (admin).
#[utoipa::path(put, path = "/v1/inventory/locations/{id}/technician", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path, description = "The van")), request_body = AssignTechnicianBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn assign_technician(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AssignTechnicianBody>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageLocations)?;
    let tech = body.technician_id.map(UserId::from_uuid);
    if let Some(t) = tech {
        match state.store.user(t).await {
            Ok(u) if u.role.is_field() => {}
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(ApiError::BadRequest(
                    "technician_id is not a technician".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let van = LocationId::from_uuid(id);
    state
        .store
        .assign_technician(van, tech)
        .await
        .map_err(technician_taken)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBody {
    pub user_id: Uuid,
}

impl FreeText for StaffBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Adds an inventory manager or supervisor to a depot's staff (admin).
#[utoipa::path(post, path = "/v1/inventory/locations/{id}/staff", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path, description = "The depot")), request_body = StaffBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_staff(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<StaffBody>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ManageLocations)?;
    let depot = LocationId::from_uuid(id);
    let all = state.store.locations().await?;
    if !all
        .iter()
        .any(|l| l.id == depot && l.kind == LocationKind::Depot)
    {
        return Err(ApiError::NotFound);
    }
    let staff = UserId::from_uuid(body.user_id);
    match state.store.user(staff).await {
        Ok(u) if scope::staffs_depots(u.role) => {}
        Ok(_) | Err(StoreError::NotFound) => {
            return Err(ApiError::BadRequest(
                "user_id is not an inventory manager or supervisor".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state.store.add_depot_staff(staff, depot).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- catalog -----

/// The parts catalog (any authenticated user).
#[utoipa::path(get, path = "/v1/inventory/parts", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = Vec<PartView>), (status = 401, body = ErrorBody)))]
async fn list_parts(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Result<Json<Vec<PartView>>, ApiError> {
    let parts = state.store.parts().await?;
    Ok(Json(
        parts
            .into_iter()
            .map(|p| PartView {
                sku: p.sku,
                name: p.name,
                unit_cost_minor: p.unit_cost_minor,
                serialized: p.serialized,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartBody {
    pub name: String,
    pub unit_cost_minor: i64,
    #[serde(default)]
    pub serialized: bool,
}

impl FreeText for PartBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("name", &self.name)]
    }
}

/// Creates or updates a part (admin, inventory manager).
#[utoipa::path(put, path = "/v1/inventory/parts/{sku}", tag = "inventory", security(("bearer" = [])),
    params(("sku" = String, Path)), request_body = PartBody,
    responses((status = 200, body = PartView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn put_part(
    State(state): State<AppState>,
    user: AuthUser,
    Path(sku): Path<String>,
    Json(body): Json<PartBody>,
) -> Result<Json<PartView>, ApiError> {
    user.require(Permission::EditParts)?;
    let sku = parse_sku(&sku)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "name must have 1-200 characters".into(),
        ));
    }
    if body.unit_cost_minor < 0 {
        return Err(ApiError::BadRequest(
            "unit_cost_minor must not be negative".into(),
        ));
    }
    let part = Part {
        sku: sku.clone(),
        name: name.to_owned(),
        unit_cost_minor: body.unit_cost_minor,
        serialized: body.serialized,
    };
    state.store.upsert_part(&part).await?;
    Ok(Json(PartView {
        sku,
        name: part.name,
        unit_cost_minor: part.unit_cost_minor,
        serialized: part.serialized,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderBody {
    pub reorder_point: i64,
    pub reorder_quantity: i64,
}

impl FreeText for ReorderBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Sets the reorder point and quantity of a part at a location (its managers, admin).
#[utoipa::path(put, path = "/v1/inventory/locations/{id}/reorder/{sku}", tag = "inventory", security(("bearer" = [])),
    params(("id" = String, Path), ("sku" = String, Path)), request_body = ReorderBody,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn put_reorder_rule(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, sku)): Path<(Uuid, String)>,
    Json(body): Json<ReorderBody>,
) -> Result<StatusCode, ApiError> {
    let scope = locations_of(&state, &user).await?;
    let location = LocationId::from_uuid(id);
    if !scope.can_see(location) {
        return Err(ApiError::NotFound);
    }
    user.require(Permission::ManageStock)?;
    let sku = parse_sku(&sku)?;
    let transit = state
        .store
        .locations()
        .await?
        .iter()
        .any(|l| l.id == location && l.kind == LocationKind::Transit);
    if transit {
        return Err(ApiError::BadRequest(
            "a transit holding has no reorder point (it holds shipments on their way)".into(),
        ));
    }
    if !state.store.parts().await?.iter().any(|p| p.sku == sku) {
        return Err(ApiError::BadRequest(format!("unknown sku {sku}")));
    }
    if body.reorder_point < 0
        || body.reorder_quantity <= 0
        || body.reorder_point > 1_000_000
        || body.reorder_quantity > 1_000_000
    {
        return Err(ApiError::BadRequest(
            "reorder_point must be 0-1000000 and reorder_quantity 1-1000000".into(),
        ));
    }
    state
        .store
        .set_reorder_rule(&ReorderRule {
            location_id: location,
            sku,
            reorder_point: body.reorder_point,
            reorder_quantity: body.reorder_quantity,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- movements -----

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovementBody {
    /// Client-generated UUID: retrying with the same id and content returns
    /// the stored movement; the same id with other content is a 409.
    pub id: Uuid,
    pub kind: MovementKind,
    pub sku: String,
    pub quantity: i64,
    pub from: Option<Uuid>,
    pub to: Option<Uuid>,
    /// Required for (and only for) adjustments.
    pub reason: Option<AdjustReason>,
    /// Serialized parts: one serial per unit.
    #[serde(default)]
    pub serials: Vec<String>,
    #[serde(default)]
    pub note: String,
}

/// Serials are identifiers (an IMEI passes the Luhn check), not free text.
impl FreeText for MovementBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("note", &self.note)]
    }
}

/// Records a receipt, transfer, consumption, return or adjustment.
#[utoipa::path(post, path = "/v1/inventory/movements", tag = "inventory", security(("bearer" = [])),
    request_body = MovementBody,
    responses((status = 201, description = "Recorded", body = MovementView),
        (status = 200, description = "Already recorded with this id (replay)", body = MovementView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The id was used for a different movement", body = ErrorBody)))]
async fn post_movement(
    State(state): State<AppState>,
    user: AuthUser,
    Json(b): Json<MovementBody>,
) -> Result<(StatusCode, Json<MovementView>), ApiError> {
    let m = NewMovement {
        id: b.id,
        kind: b.kind,
        sku: parse_sku(&b.sku)?,
        quantity: b.quantity,
        from: b.from.map(LocationId::from_uuid),
        to: b.to.map(LocationId::from_uuid),
        reason: b.reason,
        serials: b.serials,
        job_id: None,
        line_id: None,
        note: b.note,
        actor: Some(user.user_id),
    };
    let recorded = service::record_movement(&state, user.principal(), m).await?;
    let status = match recorded {
        Recorded::Applied(_) => StatusCode::CREATED,
        Recorded::Replayed(_) => StatusCode::OK,
    };
    Ok((status, Json(MovementView::from(recorded.movement()))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MovementQuery {
    /// Only movements into or out of this location.
    pub location: Option<Uuid>,
    pub sku: Option<String>,
    /// Only movements of this serialized unit (needs `sku`): its trail.
    pub serial: Option<String>,
    /// At most this many (default 200).
    pub limit: Option<u32>,
}

/// Movements of the visible locations, newest first; with `sku` and
/// `serial`, one unit's trail (received, moved, shipped, delivered, ...).
#[utoipa::path(get, path = "/v1/inventory/movements", tag = "inventory", security(("bearer" = [])),
    params(MovementQuery),
    responses((status = 200, body = Vec<MovementView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_movements(
    State(state): State<AppState>,
    user: AuthUser,
    q: Result<Query<MovementQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<MovementView>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scope = locations_of(&state, &user).await?;
    let locations = match q.location.map(LocationId::from_uuid) {
        Some(l) if scope.can_see(l) => vec![l],
        Some(_) => return Err(ApiError::NotFound),
        None => scope.ids().collect(),
    };
    if locations.is_empty() {
        return Ok(Json(Vec::new()));
    }
    let sku = q.sku.as_deref().map(parse_sku).transpose()?;
    if q.serial.is_some() && sku.is_none() {
        return Err(ApiError::BadRequest("serial: give the sku too".into()));
    }
    if q.serial
        .as_ref()
        .is_some_and(|s| s.is_empty() || s.len() > 100)
    {
        return Err(ApiError::BadRequest("serials have 1-100 characters".into()));
    }
    let filter = MovementFilter {
        locations: Some(locations),
        sku,
        job_id: None,
        serial: q.serial,
        limit: q.limit,
    };
    let ms = state.store.movements(&filter).await?;
    Ok(Json(ms.iter().map(MovementView::from).collect()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocationQuery {
    /// Only this location.
    pub location: Option<Uuid>,
}

/// Stock on hand per location and sku, with reorder points and status.
#[utoipa::path(get, path = "/v1/inventory/stock", tag = "inventory", security(("bearer" = [])),
    params(LocationQuery),
    responses((status = 200, body = Vec<StockRow>), (status = 404, body = ErrorBody)))]
async fn stock(
    State(state): State<AppState>,
    user: AuthUser,
    q: Result<Query<LocationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<StockRow>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scope = locations_of(&state, &user).await?;
    Ok(Json(
        stock_rows(&state, &scope, q.location.map(LocationId::from_uuid)).await?,
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SerialView {
    #[schema(value_type = String)]
    pub sku: Sku,
    pub serial: String,
    /// Where the unit is; `null` once fitted on a job.
    #[schema(value_type = Option<String>)]
    pub location_id: Option<LocationId>,
    #[schema(value_type = Option<String>)]
    pub job_id: Option<fieldsync_core::JobId>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SerialQuery {
    pub sku: Option<String>,
}

/// Serialized units at the visible locations, and units fitted from them.
#[utoipa::path(get, path = "/v1/inventory/serials", tag = "inventory", security(("bearer" = [])),
    params(SerialQuery), responses((status = 200, body = Vec<SerialView>)))]
async fn serials(
    State(state): State<AppState>,
    user: AuthUser,
    q: Result<Query<SerialQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SerialView>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scope = locations_of(&state, &user).await?;
    let sku = q.sku.as_deref().map(parse_sku).transpose()?;
    let fits = state.store.serial_fits().await?;
    let units = state.store.serial_units(sku.as_ref()).await?;
    let visible = |u: &SerialUnit| match u.location_id {
        Some(l) => scope.can_see(l),
        None => {
            scope.sees_all()
                || fits.iter().any(|f| {
                    f.sku == u.sku
                        && f.serial == u.serial
                        && f.voided_at.is_none()
                        && scope.can_see(f.van_id)
                })
        }
    };
    Ok(Json(
        units
            .iter()
            .filter(|u| visible(u))
            .map(|u| SerialView {
                sku: u.sku.clone(),
                serial: u.serial.clone(),
                location_id: u.location_id,
                job_id: u.job_id,
            })
            .collect(),
    ))
}

/// Negative stock, stock below reorder points, serials fitted twice or
/// from the wrong van, part lines the ledger could not apply.
#[utoipa::path(get, path = "/v1/inventory/discrepancies", tag = "inventory", security(("bearer" = [])),
    params(LocationQuery), responses((status = 200, body = Vec<Discrepancy>), (status = 404, body = ErrorBody)))]
async fn list_discrepancies(
    State(state): State<AppState>,
    user: AuthUser,
    q: Result<Query<LocationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Discrepancy>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let scope = locations_of(&state, &user).await?;
    Ok(Json(
        discrepancy_list(&state, &scope, q.location.map(LocationId::from_uuid)).await?,
    ))
}

/// What to send to which van from which depot (bounded by depot stock), and
/// what depots should order.
#[utoipa::path(get, path = "/v1/inventory/replenishment", tag = "inventory", security(("bearer" = [])),
    responses((status = 200, body = Vec<Suggestion>)))]
async fn replenishment_suggestions(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<Suggestion>>, ApiError> {
    let scope = locations_of(&state, &user).await?;
    Ok(Json(suggestions(&state, &scope).await?))
}
