//! `/v1/shipments`: spare parts sent from a depot to a customer's site
//! (bearer auth). Handlers are thin: the work is in [`super::service`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{Shipment, Step};
use super::service;
use super::views::*;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shipments, order_shipment))
        .routes(routes!(get_shipment))
        .routes(routes!(pick))
        .routes(routes!(dispatch))
        .routes(routes!(deliver))
        .routes(routes!(cancel))
        .routes(routes!(put_tracking))
}

/// 201 when the call changed something, 200 for a retry.
fn answer((changed, s): (bool, Shipment), fresh: StatusCode) -> (StatusCode, axum::Json<Shipment>) {
    (if changed { fresh } else { StatusCode::OK }, axum::Json(s))
}

/// Orders a part from a depot to one of a customer's sites (status
/// `ordered`; no stock moves yet). Sending the same order again (same id,
/// same content) changes nothing and answers 200.
#[utoipa::path(post, path = "/v1/shipments", tag = "shipments", request_body = NewShipment,
    responses((status = 201, body = Shipment), (status = 200, body = Shipment),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "The depot is not one the caller manages", body = ErrorBody),
        (status = 409, description = "The id names another order", body = ErrorBody)),
    security(("bearer" = [])))]
async fn order_shipment(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<NewShipment>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    let out = service::order(&state, caller.principal(), body).await?;
    Ok(answer(out, StatusCode::CREATED))
}

/// Shipments from the caller's depots, newest first.
#[utoipa::path(get, path = "/v1/shipments", tag = "shipments", params(ShipmentQuery),
    responses((status = 200, body = ShipmentList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_shipments(
    State(state): State<AppState>,
    caller: AuthUser,
    q: Result<Query<ShipmentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ShipmentList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(axum::Json(
        service::list(&state, caller.principal(), q).await?,
    ))
}

#[utoipa::path(get, path = "/v1/shipments/{id}", tag = "shipments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Shipment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_shipment(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<Shipment>, ApiError> {
    Ok(axum::Json(
        service::get(&state, caller.principal(), id).await?,
    ))
}

async fn take(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    step: Step,
    tracking: Option<TrackingBody>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    let out = service::step(state, caller.principal(), id, step, tracking).await?;
    Ok(answer(out, StatusCode::OK))
}

/// Marks the part picked from the shelf (optional; no stock moves).
#[utoipa::path(post, path = "/v1/shipments/{id}/pick", tag = "shipments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Shipment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not possible from the shipment's status", body = ErrorBody)),
    security(("bearer" = [])))]
async fn pick(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    take(&state, &caller, id, Step::Pick, None).await
}

/// Hands the part to the carrier: the ledger moves the units from the
/// depot to its transit holding (`shipment` movement); status `in_transit`.
#[utoipa::path(post, path = "/v1/shipments/{id}/dispatch", tag = "shipments",
    params(("id" = Uuid, Path)), request_body = DispatchBody,
    responses((status = 200, body = Shipment), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not possible from the shipment's status, or the depot does not hold the units", body = ErrorBody)),
    security(("bearer" = [])))]
async fn dispatch(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<DispatchBody>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    take(&state, &caller, id, Step::Dispatch, body.tracking).await
}

/// The part reached the customer's site: the ledger moves the units out of
/// the transit holding (`delivery` movement); status `delivered`.
#[utoipa::path(post, path = "/v1/shipments/{id}/deliver", tag = "shipments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Shipment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not possible from the shipment's status", body = ErrorBody)),
    security(("bearer" = [])))]
async fn deliver(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    take(&state, &caller, id, Step::Deliver, None).await
}

/// Cancels a shipment not yet delivered; dispatched units go back to the
/// depot (`shipment_cancel` movement).
#[utoipa::path(post, path = "/v1/shipments/{id}/cancel", tag = "shipments",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Shipment), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already delivered", body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, axum::Json<Shipment>), ApiError> {
    take(&state, &caller, id, Step::Cancel, None).await
}

/// Sets or corrects the carrier and tracking reference (until delivery).
#[utoipa::path(put, path = "/v1/shipments/{id}/tracking", tag = "shipments",
    params(("id" = Uuid, Path)), request_body = TrackingBody,
    responses((status = 200, body = Shipment), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Delivered or cancelled", body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_tracking(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<TrackingBody>,
) -> Result<axum::Json<Shipment>, ApiError> {
    Ok(axum::Json(
        service::set_tracking(&state, caller.principal(), id, body).await?,
    ))
}
