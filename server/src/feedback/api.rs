//! `/v1/feedback/*`: results, requests with their delivery state, and
//! follow-ups, for supervisors (their depots) and admins (all). Comments
//! are returned exactly as typed: JSON consumers escape for their medium.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use fieldsync_core::JobId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::stats::{self, Summary, TrendPoint};
use super::{FeedbackRequest, Followup, MessageStatus, OutboxMessage, RequestFilter};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::Permission;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::store::now_utc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(trend))
        .routes(routes!(responses))
        .routes(routes!(job_feedback))
        .routes(routes!(messages))
        .routes(routes!(followups))
        .routes(routes!(resolve_followup))
        .routes(routes!(super::mine::my_feedback))
}

/// A period: `from` (default 90 days ago) to `to` (default now), RFC 3339.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// Requests created at or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Requests created before this instant (RFC 3339).
    pub to: Option<String>,
    /// `technician` (default) or `depot`, for the summary.
    pub group: Option<String>,
}

fn parse_time(name: &str, v: &Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.as_deref()
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|_| ApiError::BadRequest(format!("{name}: expected an RFC 3339 time")))
        })
        .transpose()
}

async fn rows_for(
    state: &AppState,
    user: &AuthUser,
    p: &Period,
) -> Result<Vec<FeedbackRequest>, ApiError> {
    user.require(Permission::ViewFeedback)?;
    let from = parse_time("from", &p.from)?.unwrap_or_else(|| now_utc() - time::Duration::days(90));
    let until = parse_time("to", &p.to)?;
    let depots = user.scope().depots(state.store.as_ref()).await?;
    Ok(state
        .store
        .feedback_requests(&RequestFilter {
            from: Some(from),
            until,
            depots,
            ..RequestFilter::default()
        })
        .await?)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryResponse {
    pub overall: Summary,
    pub groups: Vec<Summary>,
}

/// Averages, fixed rate, NPS and response rate, overall and per technician or depot.
#[utoipa::path(
    get,
    path = "/v1/feedback/summary",
    tag = "feedback",
    params(Period),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Results", body = SummaryResponse),
        (status = 400, description = "Bad period or group", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not see feedback results", body = ErrorBody),
    )
)]
async fn summary(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<Period>,
) -> Result<Json<SummaryResponse>, ApiError> {
    let rows = rows_for(&state, &user, &p).await?;
    let groups = match p.group.as_deref().unwrap_or("technician") {
        "technician" => stats::by_technician(&rows),
        "depot" => stats::by_depot(&rows, &state.store.depots().await?),
        _ => {
            return Err(ApiError::BadRequest(
                "group: expected technician or depot".into(),
            ));
        }
    };
    Ok(Json(SummaryResponse {
        overall: stats::summarize(None, "all".into(), &rows),
        groups,
    }))
}

/// Weekly results of the answers in the period.
#[utoipa::path(
    get,
    path = "/v1/feedback/trend",
    tag = "feedback",
    params(Period),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One point per week with answers", body = [TrendPoint]),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not see feedback results", body = ErrorBody),
    )
)]
async fn trend(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<Period>,
) -> Result<Json<Vec<TrendPoint>>, ApiError> {
    let rows = rows_for(&state, &user, &p).await?;
    Ok(Json(stats::weekly_trend(&rows)))
}

/// Feedback requests of the period, newest first, with their answers and comments (raw text).
#[utoipa::path(
    get,
    path = "/v1/feedback/responses",
    tag = "feedback",
    params(Period),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Requests and answers", body = [FeedbackRequest]),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not see feedback results", body = ErrorBody),
    )
)]
async fn responses(
    State(state): State<AppState>,
    user: AuthUser,
    Query(p): Query<Period>,
) -> Result<Json<Vec<FeedbackRequest>>, ApiError> {
    Ok(Json(rows_for(&state, &user, &p).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobFeedback {
    pub request: FeedbackRequest,
    /// Its messages with delivery state (status, attempts, last_error).
    pub messages: Vec<OutboxMessage>,
}

/// A job's feedback request and the delivery state of its messages.
#[utoipa::path(
    get,
    path = "/v1/feedback/jobs/{job_id}",
    tag = "feedback",
    params(("job_id" = String, Path, description = "Job id (UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The request", body = JobFeedback),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "No request for this job (or not in your depots)", body = ErrorBody),
    )
)]
async fn job_feedback(
    State(state): State<AppState>,
    user: AuthUser,
    Path(job_id): Path<String>,
) -> Result<Json<JobFeedback>, ApiError> {
    user.require(Permission::ViewFeedback)?;
    let job = Uuid::parse_str(&job_id)
        .map_err(|_| ApiError::BadRequest("job_id: expected a UUID".into()))?;
    let depots = user.scope().depots(state.store.as_ref()).await?;
    let request = state
        .store
        .feedback_requests(&RequestFilter {
            job_id: Some(JobId::from_uuid(job)),
            depots,
            ..RequestFilter::default()
        })
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)?;
    let messages = state
        .store
        .outbox_messages(Some(request.id), None, 100)
        .await?;
    Ok(Json(JobFeedback { request, messages }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// pending, sent, failed or cancelled.
    pub status: Option<String>,
}

/// Outbox messages, newest first (admins only: they hold every recipient).
#[utoipa::path(
    get,
    path = "/v1/feedback/messages",
    tag = "feedback",
    params(MessageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Messages with delivery state", body = [OutboxMessage]),
        (status = 400, description = "Unknown status", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    )
)]
async fn messages(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<MessageQuery>,
) -> Result<Json<Vec<OutboxMessage>>, ApiError> {
    user.require(Permission::ViewOutbox)?;
    let status = q
        .status
        .as_deref()
        .map(|s| s.parse::<MessageStatus>().map_err(ApiError::BadRequest))
        .transpose()?;
    Ok(Json(state.store.outbox_messages(None, status, 500).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FollowupQuery {
    /// Only unresolved ones (default true).
    pub open: Option<bool>,
}

/// Low results to follow up, newest first.
#[utoipa::path(
    get,
    path = "/v1/feedback/followups",
    tag = "feedback",
    params(FollowupQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Follow-ups", body = [Followup]),
        (status = 403, description = "The role may not see feedback results", body = ErrorBody),
    )
)]
async fn followups(
    State(state): State<AppState>,
    user: AuthUser,
    Query(q): Query<FollowupQuery>,
) -> Result<Json<Vec<Followup>>, ApiError> {
    user.require(Permission::ViewFeedback)?;
    let depots = user.scope().depots(state.store.as_ref()).await?;
    Ok(Json(
        state
            .store
            .followups(depots.as_deref(), q.open.unwrap_or(true))
            .await?,
    ))
}

/// Marks a follow-up done.
#[utoipa::path(
    post,
    path = "/v1/feedback/followups/{id}/resolve",
    tag = "feedback",
    params(("id" = String, Path, description = "Follow-up id (UUID)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Resolved"),
        (status = 404, description = "No such follow-up in your depots", body = ErrorBody),
    )
)]
async fn resolve_followup(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require(Permission::ViewFeedback)?;
    let id =
        Uuid::parse_str(&id).map_err(|_| ApiError::BadRequest("id: expected a UUID".into()))?;
    let depots = user.scope().depots(state.store.as_ref()).await?;
    let visible = state
        .store
        .followups(depots.as_deref(), false)
        .await?
        .iter()
        .any(|f| f.id == id);
    if !visible {
        return Err(ApiError::NotFound);
    }
    state
        .store
        .resolve_followup(id, user.user_id, now_utc())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
