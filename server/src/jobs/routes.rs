//! `/v1/jobs`: create, edit, assign, cancel, list and read jobs.

use automerge::{Automerge, Change};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use fieldsync_core::billing::bill;
use fieldsync_core::job::read_job;
use fieldsync_core::{
    ActionError, DocId, JobAction, JobDoc, JobId, Principal, Role, Status, UserId,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::JobFilter;
use super::views::{
    AssignJob, CancelJob, CreateJob, EditJob, JobList, JobSummary, JobView, ListQuery, timestamp,
};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::documents::{self, Derive, WriteError};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::store::{StoreError, now_utc};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job, edit_job))
        .routes(routes!(assign_job))
        .routes(routes!(cancel_job))
}

fn office(caller: &AuthUser) -> Result<Principal, ApiError> {
    if caller.role.is_office() {
        Ok(caller.principal())
    } else {
        Err(ApiError::Forbidden("only the office manages jobs"))
    }
}

/// A refused office action: the job's state or the input does not allow it.
fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::Invalid(e) => ApiError::BadRequest(e.to_string()),
        ActionError::NotFound(what) => ApiError::BadRequest(format!("not found: {what}")),
        ActionError::NotAllowed(why) => ApiError::Conflict(why.into_owned()),
        ActionError::Rejected(r) => ApiError::Conflict(r.to_string()),
        e @ (ActionError::Schema(_) | ActionError::Engine(_)) => ApiError::internal(e),
    }
}

pub(super) fn write_error(e: WriteError<ApiError>) -> ApiError {
    match e {
        WriteError::Edit(e) => e,
        WriteError::Contended(_) => ApiError::Unavailable,
        e => ApiError::internal(e),
    }
}

/// A technician to assign must exist and be a technician.
async fn check_technician(state: &AppState, id: Option<Uuid>) -> Result<(), ApiError> {
    let Some(id) = id else { return Ok(()) };
    match state.store.user(UserId::from_uuid(id)).await {
        Ok(user) if user.role == Role::Technician => Ok(()),
        Ok(_) => Err(ApiError::BadRequest(format!(
            "user {id} is not a technician"
        ))),
        Err(StoreError::NotFound) => Err(ApiError::BadRequest(format!("no user {id}"))),
        Err(e) => Err(e.into()),
    }
}

/// Writes a job through `edit` (given the latest stored document, empty if
/// none, and the server time) and answers with the result, billed with the
/// current price book.
async fn write_job(
    state: &AppState,
    id: JobId,
    mut edit: impl FnMut(&mut Automerge, OffsetDateTime) -> Result<Vec<Change>, ApiError>,
) -> Result<JobView, ApiError> {
    let now = now_utc();
    let book = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(ApiError::internal)?;
    let derive = Derive {
        price_book: book.as_ref(),
        now,
        projectors: &state.projectors,
    };
    let stored = documents::write(
        state.store.as_ref(),
        &state.docs,
        DocId::Job(id),
        &derive,
        |doc| edit(doc, now),
    )
    .await
    .map_err(write_error)?;
    view(stored.doc, stored.version, book.as_ref())
}

/// Applies office actions to a stored job and answers with the result.
async fn act(
    state: &AppState,
    id: JobId,
    who: Principal,
    actions: &[JobAction],
) -> Result<JobView, ApiError> {
    let actor = state.actor.clone();
    write_job(state, id, |doc, now| {
        if doc.get_heads().is_empty() {
            return Err(ApiError::NotFound);
        }
        let mut job = JobDoc::from_trusted(std::mem::take(doc).with_actor(actor.clone()));
        let before = job.doc().get_heads();
        let result = actions
            .iter()
            .try_for_each(|a| job.apply(a, who, timestamp(now)).map(drop));
        *doc = job.into_doc();
        result.map_err(action_error)?;
        Ok(doc.get_changes(&before))
    })
    .await
}

fn view(
    doc: automerge::Automerge,
    version: i64,
    book: Option<&fieldsync_core::pricebook::PriceBook>,
) -> Result<JobView, ApiError> {
    let job = read_job(&doc, None).map_err(ApiError::internal)?;
    let billing = book.and_then(|b| bill(&job, b).ok());
    Ok(JobView {
        job,
        billing,
        version,
    })
}

/// Creates a job (office only).
#[utoipa::path(post, path = "/v1/jobs", tag = "jobs", request_body = CreateJob,
    responses(
        (status = 201, body = JobView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "A job with this id exists", body = ErrorBody),
    ),
    security(("bearer" = [])))]
async fn create_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<CreateJob>,
) -> Result<(StatusCode, axum::Json<JobView>), ApiError> {
    let who = office(&caller)?;
    check_technician(&state, body.technician_id).await?;
    let spec = body.into_spec()?;
    let actor = state.actor.clone();
    let view = write_job(&state, spec.id, |doc, now| {
        if !doc.get_heads().is_empty() {
            return Err(ApiError::Conflict(format!("job {} exists", spec.id)));
        }
        let job =
            JobDoc::create(&spec, actor.clone(), who, timestamp(now)).map_err(action_error)?;
        *doc = job.into_doc();
        Ok(doc.get_changes(&[]))
    })
    .await?;
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Lists jobs by window start. Technicians see only their own.
#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, body = JobList), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_jobs(
    State(state): State<AppState>,
    caller: AuthUser,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<JobList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<Status>()
                .map_err(|_| ApiError::BadRequest(format!("unknown status {s:?}")))
        })
        .transpose()?;
    let technician_id = match caller.role {
        Role::Technician => Some(caller.user_id),
        role if role.is_office() => q.technician_id.map(UserId::from_uuid),
        _ => {
            return Err(ApiError::Forbidden(
                "jobs are for the office and technicians",
            ));
        }
    };
    let day = |d: time::Date| d.midnight().assume_utc();
    let filter = JobFilter {
        status,
        technician_id,
        window_from: q.from.map(day),
        window_until: q.until.map(|d| day(d) + time::Duration::DAY),
        customer: q.customer,
        limit: Some(q.limit.unwrap_or(100)),
    };
    let jobs = state.store.list_jobs(&filter).await?;
    Ok(axum::Json(JobList {
        jobs: jobs.into_iter().map(JobSummary::from).collect(),
    }))
}

fn job_id(id: Uuid) -> JobId {
    JobId::from_uuid(id)
}

/// One job with its billing. Technicians may read only jobs assigned to them.
#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<JobView>, ApiError> {
    let id = job_id(id);
    let row = match state.store.job(id).await {
        Ok(row) => row,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let allowed = caller.role.is_office()
        || (caller.role == Role::Technician
            && row.projection.technician_id == Some(caller.user_id));
    if !allowed {
        // The same answer as for a job that does not exist.
        return Err(ApiError::NotFound);
    }
    let doc = documents::load(state.store.as_ref(), &state.docs, &DocId::Job(id))
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    let book = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(ApiError::internal)?;
    Ok(axum::Json(view(doc.doc, doc.version, book.as_ref())?))
}

/// Edits details, window or notes (office only); merges with device edits.
#[utoipa::path(patch, path = "/v1/jobs/{id}", tag = "jobs", params(("id" = Uuid, Path)),
    request_body = EditJob,
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<EditJob>,
) -> Result<axum::Json<JobView>, ApiError> {
    let who = office(&caller)?;
    let mut actions = Vec::new();
    if let Some(details) = body.details()? {
        actions.push(JobAction::EditDetails(details));
    }
    if let Some(window) = body.window()? {
        actions.push(JobAction::EditWindow(window));
    }
    if let Some(text) = body.notes {
        actions.push(JobAction::EditNotes { text });
    }
    if actions.is_empty() {
        return Err(ApiError::BadRequest("nothing to change".into()));
    }
    Ok(axum::Json(act(&state, job_id(id), who, &actions).await?))
}

/// Assigns, reassigns or unassigns the job. A technician it is taken from
/// loses it from their device at their next sync.
#[utoipa::path(post, path = "/v1/jobs/{id}/assign", tag = "jobs", params(("id" = Uuid, Path)),
    request_body = AssignJob,
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn assign_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AssignJob>,
) -> Result<axum::Json<JobView>, ApiError> {
    let who = office(&caller)?;
    check_technician(&state, body.technician_id).await?;
    let action = JobAction::Reassign {
        technician: body.technician_id.map(UserId::from_uuid),
    };
    Ok(axum::Json(act(&state, job_id(id), who, &[action]).await?))
}

/// Cancels the job (office only; a completed job cannot be cancelled).
#[utoipa::path(post, path = "/v1/jobs/{id}/cancel", tag = "jobs", params(("id" = Uuid, Path)),
    request_body = CancelJob,
    responses((status = 200, body = JobView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
async fn cancel_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<CancelJob>,
) -> Result<axum::Json<JobView>, ApiError> {
    let who = office(&caller)?;
    let action = JobAction::Cancel {
        reason: body.reason,
    };
    Ok(axum::Json(act(&state, job_id(id), who, &[action]).await?))
}
