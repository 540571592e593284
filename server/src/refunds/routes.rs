//! The refund API (bearer auth): give, decide, the approvals queue and the
//! audit. Handlers are thin: the work is in [`super::service`].

use axum::extract::{Path, State};
use fieldsync_core::job::{Decision, RefundKind};
use fieldsync_core::{JobId, LineId, Money};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{self, NewRefund};
use super::store::{PendingRefund, RefundEvent};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::freetext::FreeText;
use crate::jobs::views::JobView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(give_refund, job_refunds))
        .routes(routes!(decide_refund))
        .routes(routes!(pending_refunds))
}

/// A refund (against a payment of the job) or a credit note (against a
/// labour entry or part line). `id` is chosen by the client.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveRefund {
    pub id: Uuid,
    /// `refund` or `credit`.
    #[schema(value_type = String)]
    pub kind: RefundKind,
    /// The payment, labour entry or part line it is against.
    pub against: Uuid,
    /// Minor units, positive.
    pub amount: i64,
    /// Why (free text: never card data).
    pub reason: String,
}

impl FreeText for GiveRefund {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("reason", self.reason.as_str())]
    }
}

/// A supervisor's decision on a pending refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRefund {
    /// `approved` or `declined`.
    #[schema(value_type = String)]
    pub decision: Decision,
    /// Why (free text: never card data).
    pub reason: String,
}

impl FreeText for DecideRefund {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("reason", self.reason.as_str())]
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundAudit {
    pub events: Vec<RefundEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PendingRefunds {
    pub refunds: Vec<PendingRefund>,
}

/// Gives a refund or credit note on the job (office roles). Within the
/// caller's limit it is given at once; above it, it waits for a
/// supervisor's approval (`approval: pending`) and is not counted as paid
/// out until approved.
#[utoipa::path(post, path = "/v1/jobs/{id}/refunds", tag = "refunds",
    params(("id" = Uuid, Path)), request_body = GiveRefund,
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The refund exists, or the job does not allow it", body = ErrorBody)),
    security(("bearer" = [])))]
async fn give_refund(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<GiveRefund>,
) -> Result<axum::Json<JobView>, ApiError> {
    let refund = NewRefund {
        id: LineId::from_uuid(body.id),
        kind: body.kind,
        against: LineId::from_uuid(body.against),
        amount: Money(body.amount),
        reason: body.reason,
    };
    let view = service::give(&state, caller.principal(), JobId::from_uuid(id), refund).await?;
    Ok(axum::Json(view))
}

/// The audit of the job's refunds: every gift and decision, who made it,
/// why, and when by the server's clock; oldest first.
#[utoipa::path(get, path = "/v1/jobs/{id}/refunds", tag = "refunds",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RefundAudit), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn job_refunds(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<RefundAudit>, ApiError> {
    let events = service::audit(&state, caller.principal(), JobId::from_uuid(id)).await?;
    Ok(axum::Json(RefundAudit { events }))
}

/// Approves or declines a refund pending approval (supervisors, for their
/// depots' jobs; admins). The decision is written into the job in the
/// caller's name and reaches the device on its next sync.
#[utoipa::path(post, path = "/v1/jobs/{id}/refunds/{refund_id}/decision", tag = "refunds",
    params(("id" = Uuid, Path), ("refund_id" = Uuid, Path)), request_body = DecideRefund,
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The refund is not pending approval", body = ErrorBody)),
    security(("bearer" = [])))]
async fn decide_refund(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, refund_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<DecideRefund>,
) -> Result<axum::Json<JobView>, ApiError> {
    let view = service::decide(
        &state,
        caller.principal(),
        JobId::from_uuid(id),
        LineId::from_uuid(refund_id),
        body.decision,
        body.reason,
    )
    .await?;
    Ok(axum::Json(view))
}

/// The approvals queue: refunds above their giver's limit waiting for a
/// decision, of the caller's depots' jobs (admins: all), oldest first.
#[utoipa::path(get, path = "/v1/refunds/pending", tag = "refunds",
    responses((status = 200, body = PendingRefunds), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn pending_refunds(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<axum::Json<PendingRefunds>, ApiError> {
    let refunds = service::queue(&state, caller.principal()).await?;
    Ok(axum::Json(PendingRefunds { refunds }))
}
