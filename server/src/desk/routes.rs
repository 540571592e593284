//! `/v1/desk`: the service desk over JSON (bearer auth). Handlers are thin:
//! the work is in [`super::service`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::contracts::{ContractBody, ContractList, ServiceContract};
use super::model::{Routing, Team};
use super::service;
use super::views::*;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(log_contact))
        .routes(routes!(customer_contacts))
        .routes(routes!(team_queue))
        .routes(routes!(get_item, update_item))
        .routes(routes!(escalate_item))
        .routes(routes!(escalations))
        .routes(routes!(list_teams))
        .routes(routes!(set_team))
        .routes(routes!(get_rules, set_rules))
        .routes(routes!(list_contracts))
        .routes(routes!(set_contract))
}

/// Logs a customer contact (phone, email, SMS, web, ...) and routes it to
/// a team's queue by the rules. The same id again records nothing new.
#[utoipa::path(post, path = "/v1/desk/contacts", tag = "desk", request_body = NewContactBody,
    responses((status = 201, body = ItemView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn log_contact(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<NewContactBody>,
) -> Result<(StatusCode, axum::Json<ItemView>), ApiError> {
    let item = service::log_contact(&state, caller.principal(), body).await?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

/// A customer's contacts, newest first: the contact timeline.
#[utoipa::path(get, path = "/v1/desk/customers/{id}/contacts", tag = "desk",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ContactList), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn customer_contacts(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ContactList>, ApiError> {
    Ok(axum::Json(
        service::timeline(&state, caller.principal(), id).await?.1,
    ))
}

/// A page of a team's open items, most urgent first: by due time, then
/// id (404 unless the caller belongs to or supervises the team). `next` is
/// the cursor of the following page (`after=`), null on the last.
#[utoipa::path(get, path = "/v1/desk/queues/{team}", tag = "desk",
    params(("team" = Team, Path), QueuePage),
    responses((status = 200, body = ItemList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn team_queue(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(team): Path<Team>,
    page: Result<Query<QueuePage>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ItemList>, ApiError> {
    let Query(page) = page.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(axum::Json(
        service::queue(&state, caller.principal(), team, &page).await?,
    ))
}

/// One queue item with its contact and history.
#[utoipa::path(get, path = "/v1/desk/items/{id}", tag = "desk", params(("id" = Uuid, Path)),
    responses((status = 200, body = ItemView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_item(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ItemView>, ApiError> {
    Ok(axum::Json(
        service::item(&state, caller.principal(), id).await?,
    ))
}

/// Takes, assigns, moves (to another team) or changes the state of an item;
/// each is kept in its history.
#[utoipa::path(patch, path = "/v1/desk/items/{id}", tag = "desk", params(("id" = Uuid, Path)),
    request_body = ItemUpdate,
    responses((status = 200, body = ItemView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn update_item(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ItemUpdate>,
) -> Result<axum::Json<ItemView>, ApiError> {
    Ok(axum::Json(
        service::update(&state, caller.principal(), id, body).await?,
    ))
}

/// "Escalate to supervisor", with a reason: the item lands on the team
/// supervisor's board.
#[utoipa::path(post, path = "/v1/desk/items/{id}/escalate", tag = "desk",
    params(("id" = Uuid, Path)), request_body = Escalation,
    responses((status = 200, body = ItemView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn escalate_item(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<Escalation>,
) -> Result<axum::Json<ItemView>, ApiError> {
    Ok(axum::Json(
        service::escalate(&state, caller.principal(), id, body).await?,
    ))
}

/// The supervisor's board: escalated open items of the teams they supervise.
#[utoipa::path(get, path = "/v1/desk/escalations", tag = "desk",
    responses((status = 200, body = ItemList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn escalations(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<axum::Json<ItemList>, ApiError> {
    Ok(axum::Json(
        service::board(&state, caller.principal()).await?,
    ))
}

/// The teams, their supervisors and members.
#[utoipa::path(get, path = "/v1/desk/teams", tag = "desk",
    responses((status = 200, body = TeamList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_teams(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<axum::Json<TeamList>, ApiError> {
    Ok(axum::Json(
        service::team_list(&state, caller.principal()).await?,
    ))
}

/// Replaces a team's members and supervisor (admins).
#[utoipa::path(put, path = "/v1/desk/teams/{team}", tag = "desk",
    params(("team" = Team, Path)), request_body = TeamBody,
    responses((status = 200, body = TeamList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_team(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(team): Path<Team>,
    Json(body): Json<TeamBody>,
) -> Result<axum::Json<TeamList>, ApiError> {
    Ok(axum::Json(
        service::set_team(&state, caller.principal(), team, body).await?,
    ))
}

/// The routing rules in order (first match wins) and the default team.
#[utoipa::path(get, path = "/v1/desk/rules", tag = "desk",
    responses((status = 200, body = Routing), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_rules(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<axum::Json<Routing>, ApiError> {
    Ok(axum::Json(
        service::routing(&state, caller.principal()).await?,
    ))
}

/// Replaces the routing rules and the default team (admins).
#[utoipa::path(put, path = "/v1/desk/rules", tag = "desk", request_body = Routing,
    responses((status = 200, body = Routing), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_rules(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<Routing>,
) -> Result<axum::Json<Routing>, ApiError> {
    Ok(axum::Json(
        service::set_routing(&state, caller.principal(), body).await?,
    ))
}

/// A customer's service contract terms.
#[utoipa::path(get, path = "/v1/customers/{id}/contracts", tag = "desk",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ContractList), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_contracts(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<ContractList>, ApiError> {
    Ok(axum::Json(
        service::contracts(&state, caller.principal(), id).await?,
    ))
}

/// Sets a customer's service contract term (office roles): its dates and
/// renewal notice period. Within the notice period of its end it goes to
/// sales' queue, once per term; a later end (renewed) resolves that item.
#[utoipa::path(put, path = "/v1/customers/{id}/contracts/{reference}", tag = "desk",
    params(("id" = Uuid, Path), ("reference" = String, Path)), request_body = ContractBody,
    responses((status = 200, body = ServiceContract), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_contract(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, reference)): Path<(Uuid, String)>,
    Json(body): Json<ContractBody>,
) -> Result<axum::Json<ServiceContract>, ApiError> {
    Ok(axum::Json(
        service::set_contract(&state, caller.principal(), id, &reference, body).await?,
    ))
}
