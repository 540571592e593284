//! `/v1/recalls`: recall campaigns over JSON (bearer auth). Handlers are
//! thin: the work is in [`super::service`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service;
use super::views::*;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_campaigns, create_campaign))
        .routes(routes!(get_campaign))
}

/// Creates a recall campaign: finds the affected installed assets,
/// quarantines the affected units in depot and van stock, and opens a job
/// per affected asset (or flags its open one). Sending the same campaign
/// again (same id, same content) changes nothing and answers 200.
#[utoipa::path(post, path = "/v1/recalls", tag = "recalls", request_body = NewCampaign,
    responses((status = 201, body = CampaignView), (status = 200, body = CampaignView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The id names a campaign with other content", body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_campaign(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<NewCampaign>,
) -> Result<(StatusCode, axum::Json<CampaignView>), ApiError> {
    let (created, view) = service::create(&state, &caller, body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(view)))
}

/// The campaigns, newest first.
#[utoipa::path(get, path = "/v1/recalls", tag = "recalls",
    responses((status = 200, body = CampaignList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_campaigns(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<axum::Json<CampaignList>, ApiError> {
    Ok(axum::Json(service::list(&state, caller.principal()).await?))
}

/// Where a campaign stands: its affected assets (awaiting a remedy,
/// remedied, pending a committed permanent replacement, or overdue), and
/// the units it quarantined.
#[utoipa::path(get, path = "/v1/recalls/{id}", tag = "recalls", params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_campaign(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CampaignView>, ApiError> {
    Ok(axum::Json(
        service::view(&state, caller.principal(), id).await?,
    ))
}
