//! `/v1/returns`: returns (RMA) over JSON (bearer auth). Handlers are thin:
//! the work is in [`super::service`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use fieldsync_core::job::ReturnCondition;
use fieldsync_core::{JobId, LocationId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{Disposition, ReturnRow, ReturnStatus};
use super::service::{self, OpenRequest, TrailStep};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::freetext::{FreeText, present};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_returns, open_return))
        .routes(routes!(get_return))
        .routes(routes!(receive_return))
        .routes(routes!(serial_trail))
}

/// A return the office opens. `id` is chosen by the client: the same
/// return again changes nothing; the same id with other content is a 409.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReturnBody {
    pub id: Uuid,
    /// The part's or product's sku.
    pub sku: String,
    pub serial: String,
    pub reason: String,
    /// `unused`, `working`, `faulty` or `damaged`.
    #[schema(value_type = String)]
    pub condition: ReturnCondition,
    /// The depot the unit goes to.
    pub depot_id: Uuid,
    #[serde(default)]
    pub job_id: Option<Uuid>,
    #[serde(default)]
    pub customer_id: Option<Uuid>,
}

impl FreeText for NewReturnBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        present([("reason", Some(self.reason.as_str()))])
    }
}

/// A depot's receipt of the returned unit.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiveBody {
    /// The ledger movement's id, chosen by the client: the idempotency key.
    pub movement_id: Uuid,
    pub depot_id: Uuid,
    pub disposition: Disposition,
}

impl FreeText for ReceiveBody {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReturnView {
    pub id: Uuid,
    /// The server's RMA number (`RMA-2026-000042`).
    pub rma_number: String,
    pub sku: String,
    pub serial: String,
    pub reason: String,
    #[schema(value_type = String)]
    pub condition: ReturnCondition,
    pub job_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub asset_id: Option<Uuid>,
    /// Where the unit goes (or was received).
    pub depot_id: Option<Uuid>,
    pub opened_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    pub status: ReturnStatus,
    pub disposition: Option<Disposition>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub received_at: Option<OffsetDateTime>,
    /// The ledger `return` movement of the receipt.
    pub movement_id: Option<Uuid>,
}

impl From<ReturnRow> for ReturnView {
    fn from(r: ReturnRow) -> Self {
        Self {
            id: r.ret.id,
            rma_number: r.rma_number,
            sku: r.ret.sku.to_string(),
            serial: r.ret.serial,
            reason: r.ret.reason,
            condition: r.ret.condition,
            job_id: r.ret.job_id.map(|j| j.as_uuid()),
            customer_id: r.ret.customer_id,
            asset_id: r.ret.asset_id,
            depot_id: r.ret.depot_id.map(|d| d.as_uuid()),
            opened_by: r.ret.opened_by.as_uuid(),
            opened_at: r.opened_at,
            status: r.status,
            disposition: r.disposition,
            received_at: r.received_at,
            movement_id: r.movement_id,
        }
    }
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReturnList {
    pub returns: Vec<ReturnView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` (to receive) or `received`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrailQuery {
    pub sku: String,
    pub serial: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TrailStepView {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `fitted`, `returned` or `received`; a shipment to a customer's
    /// `shipped`, `delivered` or `shipment_cancelled` (from the ledger).
    pub event: String,
    pub job_id: Option<Uuid>,
    pub rma_number: Option<String>,
    /// The van it was fitted from, the depot it goes to / was received at
    /// / was shipped from, or the transit holding it was delivered from.
    pub location_id: Option<Uuid>,
    pub disposition: Option<Disposition>,
    /// The ledger movement of a receipt or a shipment's step.
    pub movement_id: Option<Uuid>,
    pub detail: String,
}

impl From<TrailStep> for TrailStepView {
    fn from(s: TrailStep) -> Self {
        Self {
            at: s.at,
            event: s.event,
            job_id: s.job_id.map(|j| j.as_uuid()),
            rma_number: s.rma_number,
            location_id: s.depot_id.map(|d| d.as_uuid()),
            disposition: s.disposition,
            movement_id: s.movement_id,
            detail: s.detail,
        }
    }
}

/// Opens a return (RMA) from the office, job optional; the server numbers it.
#[utoipa::path(post, path = "/v1/returns", tag = "returns", request_body = NewReturnBody,
    responses((status = 201, body = ReturnView), (status = 200, body = ReturnView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The id names a return with other content", body = ErrorBody)),
    security(("bearer" = [])))]
async fn open_return(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<NewReturnBody>,
) -> Result<(StatusCode, axum::Json<ReturnView>), ApiError> {
    let req = OpenRequest {
        id: body.id,
        sku: body.sku,
        serial: body.serial,
        reason: body.reason,
        condition: body.condition,
        job_id: body.job_id.map(JobId::from_uuid),
        customer_id: body.customer_id,
        depot_id: LocationId::from_uuid(body.depot_id),
    };
    let (created, row) = service::open(&state, caller.principal(), req).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(row.into())))
}

/// The returns the caller sees, oldest first (the shipping queue: `status=open`).
#[utoipa::path(get, path = "/v1/returns", tag = "returns", params(ListQuery),
    responses((status = 200, body = ReturnList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_returns(
    State(state): State<AppState>,
    caller: AuthUser,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ReturnList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<ReturnStatus>)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let rows = service::list(&state, caller.principal(), status).await?;
    Ok(axum::Json(ReturnList {
        returns: rows.into_iter().map(Into::into).collect(),
    }))
}

/// One return.
#[utoipa::path(get, path = "/v1/returns/{id}", tag = "returns", params(("id" = Uuid, Path)),
    responses((status = 200, body = ReturnView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_return(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ReturnView>, ApiError> {
    Ok(axum::Json(
        service::get(&state, caller.principal(), id).await?.into(),
    ))
}

/// Receives the returned unit at a depot: a ledger `return` movement into
/// it, and the disposition (restock: sellable stock; refurbish or scrap:
/// held off the sellable balance). The same receipt again answers the
/// same; other details for a received return are a 409.
#[utoipa::path(post, path = "/v1/returns/{id}/receive", tag = "returns",
    params(("id" = Uuid, Path)), request_body = ReceiveBody,
    responses((status = 200, body = ReturnView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn receive_return(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ReceiveBody>,
) -> Result<axum::Json<ReturnView>, ApiError> {
    let row = service::receive(
        &state,
        caller.principal(),
        id,
        body.movement_id,
        LocationId::from_uuid(body.depot_id),
        body.disposition,
    )
    .await?;
    Ok(axum::Json(row.into()))
}

/// A serial's path, oldest first: fitted on jobs, shipped to and
/// delivered at a customer's site (the ledger's shipment movements),
/// returned (RMA number), received and its disposition.
#[utoipa::path(get, path = "/v1/returns/trail", tag = "returns", params(TrailQuery),
    responses((status = 200, body = Vec<TrailStepView>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn serial_trail(
    State(state): State<AppState>,
    caller: AuthUser,
    q: Result<Query<TrailQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Vec<TrailStepView>>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let steps = service::trail(&state, caller.principal(), &q.sku, &q.serial).await?;
    Ok(axum::Json(steps.into_iter().map(Into::into).collect()))
}
