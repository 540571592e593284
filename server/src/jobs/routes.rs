//! `/v1/jobs`: create, edit, assign, cancel, list and read jobs.

use std::sync::Arc;

use automerge::{ActorId, Automerge, ChangeHash};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use fieldsync_core::actors::{office_actor, office_user_hex};
use fieldsync_core::billing::bill;
use fieldsync_core::job::DetailsEdit;
use fieldsync_core::job::read_job;
use fieldsync_core::{
    ActionError, DocId, Job, JobAction, JobDoc, JobId, Principal, Status, UserId,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::views::{
    AssignJob, AttachmentView, CancelJob, ConflictWriter, CreateJob, EditJob, JobList,
    JobRejections, JobSummary, JobView, ListQuery, RejectionsQuery, ResolveConflict, timestamp,
};
use super::{JobFilter, JobRow};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::{JobScope, Permission, Scope};
use crate::documents::{self, Edit, Projected, WriteError};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::store::{DeviceActor, StoreError};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job, edit_job))
        .routes(routes!(assign_job))
        .routes(routes!(cancel_job))
        .routes(routes!(resolve_conflict))
        .routes(routes!(job_rejections))
}

/// The caller, if their role manages jobs (403 otherwise).
fn office(caller: &AuthUser) -> Result<Principal, ApiError> {
    caller.require(Permission::ManageJobs)?;
    Ok(caller.principal())
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
        WriteError::Archived(_) => ApiError::Conflict(
            "this job is archived (closed long ago) and can no longer be changed".into(),
        ),
        e => ApiError::internal(e),
    }
}

/// Writes a job through `edit` (given the latest stored document, empty if
/// none, the job it reads as when that is cached, and the server time) and
/// answers with the result, billed with the current price book.
async fn write_job(
    state: &AppState,
    id: JobId,
    edit: impl FnMut(&mut Automerge, Option<&Job>, OffsetDateTime) -> Result<Edit, ApiError>,
) -> Result<JobView, ApiError> {
    let (written, book) = super::service::write_job(state, id, edit)
        .await
        .map_err(write_error)?;
    let projected = match written.projected {
        Some(p) => p,
        // Nothing was committed: answer with the stored job.
        None => {
            let job = read_job(&written.doc, None).map_err(ApiError::internal)?;
            let invoice = book.as_deref().and_then(|b| bill(&job, b).ok());
            Projected {
                job: Arc::new(job),
                invoice,
            }
        }
    };
    let view = with_writers(state, view(projected, written.version)).await?;
    with_attachments(state, view).await
}

/// Applies office actions to a stored job and answers with the result.
///
/// The job is read once: the actions' preconditions are checked against the
/// cached job, and the job validation reads after them is the one projected,
/// billed (once) and answered.
pub(crate) async fn act(
    state: &AppState,
    id: JobId,
    who: Principal,
    actions: &[JobAction],
) -> Result<JobView, ApiError> {
    // The user's own actor, so a conflict's values name the dispatcher.
    let actor = office_actor(who.user);
    let view = write_job(state, id, |doc, current, now| {
        if doc.get_heads().is_empty() {
            return Err(ApiError::NotFound);
        }
        let mut job = JobDoc::from_trusted(std::mem::take(doc).with_actor(actor.clone()));
        let before = job.doc().get_heads();
        let result = job.apply_all(actions, who, timestamp(now), current);
        *doc = job.into_doc();
        let merged = result.map_err(action_error)?;
        Ok(Edit {
            changes: doc.get_changes(&before),
            job: Some(merged),
        })
    })
    .await?;
    // An office edit that completes a job with a sale (or edits such a job
    // again) brings the asset's other open jobs along, after the commit.
    crate::customers::warranty::refresh_after_commits(state, [&view.job]).await;
    Ok(view)
}

/// Brings an open job's customer, site and asset snapshots up to the
/// registry's: one change by `who` (through the office's own job workflow,
/// validated and projected like any edit) writing only the values that
/// differ. A closed job keeps its snapshot (it records what the visit was
/// made with), and a job already up to date gets no change. Whether it
/// wrote is answered.
pub(crate) async fn refresh_snapshot(
    state: &AppState,
    id: JobId,
    who: Principal,
    target: &crate::customers::service::Snapshot,
) -> Result<bool, ApiError> {
    let actor = office_actor(who.user);
    let mut wrote = false;
    write_job(state, id, |doc, _, now| {
        wrote = false;
        let unchanged = || Edit {
            changes: Vec::new(),
            job: None,
        };
        if doc.get_heads().is_empty() {
            return Err(ApiError::NotFound);
        }
        let current = read_job(doc, None).map_err(ApiError::internal)?;
        if current.status.is_final() {
            return Ok(unchanged());
        }
        let details = target.edit_from(&current);
        if details == DetailsEdit::default() {
            return Ok(unchanged());
        }
        let before = doc.get_heads();
        let edit = apply_office_action(
            doc,
            &actor,
            who,
            JobAction::EditDetails(details),
            now,
            &current,
            &before,
        )?;
        wrote = true;
        Ok(edit)
    })
    .await?;
    Ok(wrote)
}

/// Marks a job as one for a recall campaign: one office change by `who`
/// writing the job's `recall`, validated and projected like any edit. With
/// `create`, a job that does not exist yet is created from that spec first
/// (the campaign opens a job per affected asset with no open one). A job
/// already flagged for this recall, or closed, gets no change. Whether it
/// wrote is answered.
pub(crate) async fn flag_recall(
    state: &AppState,
    id: JobId,
    who: Principal,
    create: Option<(&fieldsync_core::JobSpec, &fieldsync_core::job::Registry)>,
    notice: &fieldsync_core::job::RecallNotice,
) -> Result<bool, ApiError> {
    let actor = office_actor(who.user);
    let mut wrote = false;
    write_job(state, id, |doc, _, now| {
        wrote = false;
        let created = doc.get_heads().is_empty();
        if created {
            let Some((spec, registry)) = create else {
                return Err(ApiError::NotFound);
            };
            let job = JobDoc::create_from(spec, registry, actor.clone(), who, timestamp(now))
                .map_err(action_error)?;
            *doc = job.into_doc();
        }
        let before = if created { Vec::new() } else { doc.get_heads() };
        let current = read_job(doc, None).map_err(ApiError::internal)?;
        if current.status.is_final() || current.recall.as_ref() == Some(notice) {
            wrote = created;
            return Ok(Edit {
                changes: doc.get_changes(&before),
                job: None,
            });
        }
        let action = JobAction::FlagRecall(notice.clone());
        let edit = apply_office_action(doc, &actor, who, action, now, &current, &before)?;
        wrote = true;
        Ok(edit)
    })
    .await?;
    Ok(wrote)
}

/// One office action on `doc` (which reads as `current`) by `who` under
/// `actor`; the edit carries the changes made since `before`.
fn apply_office_action(
    doc: &mut Automerge,
    actor: &ActorId,
    who: Principal,
    action: JobAction,
    now: OffsetDateTime,
    current: &Job,
    before: &[ChangeHash],
) -> Result<Edit, ApiError> {
    let mut job = JobDoc::from_trusted(std::mem::take(doc).with_actor(actor.clone()));
    let result = job.apply_all(&[action], who, timestamp(now), Some(current));
    *doc = job.into_doc();
    let merged = result.map_err(action_error)?;
    Ok(Edit {
        changes: doc.get_changes(before),
        job: Some(merged),
    })
}

fn view(projected: Projected, version: i64) -> JobView {
    JobView {
        job: Arc::unwrap_or_clone(projected.job),
        billing: projected.invoice,
        version,
        writers: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Lists the job's attachments with whether the server holds each.
async fn with_attachments(state: &AppState, mut view: JobView) -> Result<JobView, ApiError> {
    let hashes: Vec<String> = view
        .job
        .attachments
        .iter()
        .map(|a| a.sha256.clone())
        .collect();
    let stored = state.store.stored_blobs(&hashes).await?;
    view.attachments = view
        .job
        .attachments
        .iter()
        .map(|a| AttachmentView {
            id: a.id,
            sha256: a.sha256.clone(),
            size: a.size,
            media_type: a.media_type.clone(),
            kind: a.kind,
            caption: a.caption.clone(),
            taken_at: a.taken_at,
            by: a.by,
            uploaded: stored.contains(&a.sha256),
        })
        .collect();
    Ok(view)
}

/// Names the writer of every actor in the job's conflicts: a device's user
/// from the devices table, an office user's API actor by its user id (the
/// server's own actor writes no values: only upgrades).
async fn with_writers(state: &AppState, mut view: JobView) -> Result<JobView, ApiError> {
    let actors: Vec<String> = view
        .job
        .conflicts
        .iter()
        .flat_map(|c| c.values.iter().map(|v| v.actor.clone()))
        .collect();
    view.writers = writers(state, actors).await?;
    Ok(view)
}

/// The writer behind each distinct actor (hex), as [`with_writers`] names
/// them: a device's user, an office user's API actor, the server.
pub(crate) async fn writers(
    state: &AppState,
    mut actors: Vec<String>,
) -> Result<Vec<ConflictWriter>, ApiError> {
    actors.sort_unstable();
    actors.dedup();
    let server = state.actor.to_hex_string();
    let name = |user: UserId| async move {
        match state.store.user(user).await {
            Ok(user) => Ok(Some(user.username.to_string())),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(ApiError::from(e)),
        }
    };
    let mut writers = Vec::new();
    for actor in actors {
        let actor = actor.as_str();
        let mut writer = ConflictWriter {
            actor: actor.to_owned(),
            kind: "unknown".into(),
            user_id: None,
            username: None,
            device_id: None,
        };
        if actor == server {
            writer.kind = "server".into();
        } else if let Some(user) = office_user_hex(actor) {
            writer.kind = "office_api".into();
            writer.user_id = Some(user.as_uuid());
            writer.username = name(user).await?;
        } else if let Ok(device_actor) = actor.parse::<DeviceActor>() {
            match state.store.device_by_actor(&device_actor).await {
                Ok(device) => {
                    writer.kind = "device".into();
                    writer.user_id = Some(device.user_id.as_uuid());
                    writer.device_id = Some(device.id.as_uuid());
                    writer.username = name(device.user_id).await?;
                }
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        writers.push(writer);
    }
    Ok(writers)
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
    super::service::check_technician(&state, body.technician_id).await?;
    let from = crate::customers::service::snapshot(
        &state,
        &caller,
        body.customer_id,
        body.site_id,
        body.asset_id,
    )
    .await?;
    let spec = body.into_spec((from.customer, from.site, from.asset))?;
    let registry = from.registry;
    let actor = office_actor(who.user);
    let view = write_job(&state, spec.id, |doc, _, now| {
        if !doc.get_heads().is_empty() {
            return Err(ApiError::Conflict(format!("job {} exists", spec.id)));
        }
        let job = JobDoc::create_from(&spec, &registry, actor.clone(), who, timestamp(now))
            .map_err(action_error)?;
        *doc = job.into_doc();
        Ok(Edit {
            changes: doc.get_changes(&[]),
            job: None,
        })
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
    let technician_id = match caller.scope().jobs() {
        JobScope::Assigned(me) => Some(me),
        JobScope::All => q.technician_id.map(UserId::from_uuid),
        JobScope::None => {
            return Err(ApiError::Forbidden("your role does not see jobs"));
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

/// The job's row, if `scope` may see the job as the scope service says:
/// 404 otherwise, the same answer as for a job that does not exist.
pub(crate) async fn visible_job(
    state: &AppState,
    scope: &Scope,
    id: JobId,
) -> Result<JobRow, ApiError> {
    let row = state.store.job(id).await?;
    if scope.sees_job(row.projection.technician_id) {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// The job `scope` may see, as its document reads now, and the version it
/// was read at: 404 outside the scope, as for a job that does not exist.
pub(crate) async fn visible_job_doc(
    state: &AppState,
    scope: &Scope,
    id: JobId,
) -> Result<(Arc<Job>, i64), ApiError> {
    visible_job(state, scope, id).await?;
    let doc_id = DocId::Job(id);
    let loaded = documents::load(state.store.as_ref(), &state.docs, &doc_id)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound)?;
    let job = documents::job_of(&state.docs, doc_id, &loaded).map_err(ApiError::internal)?;
    Ok((job, loaded.version))
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
    let (job, version) = visible_job_doc(&state, &caller.scope(), job_id(id)).await?;
    let book = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(ApiError::internal)?;
    // A completed job bills from its issued invoice; until that is written
    // into the document, from the stored one (never from today's book).
    let invoice = match crate::invoices::service::stored_billing(&state, &job).await? {
        Some(invoice) => Some(invoice),
        None => book.as_deref().and_then(|b| bill(&job, b).ok()),
    };
    let view = view(Projected { job, invoice }, version);
    let view = with_writers(&state, view).await?;
    Ok(axum::Json(with_attachments(&state, view).await?))
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
    let view = super::service::assign(&state, who, job_id(id), body.technician_id).await?;
    Ok(axum::Json(view))
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
    let view = super::service::cancel(&state, who, job_id(id), body.reason).await?;
    Ok(axum::Json(view))
}

/// Keeps one of the concurrent values of a field listed in `job.conflicts`
/// (office only): the value `actor` wrote is written again, superseding the
/// others. A checklist answer is copied whole, still the technician's.
#[utoipa::path(post, path = "/v1/jobs/{id}/conflicts/resolve", tag = "jobs",
    params(("id" = Uuid, Path)),
    request_body = ResolveConflict,
    responses((status = 200, body = JobView), (status = 400, description = "No such conflict or value", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The job's state does not allow it (closed)", body = ErrorBody)),
    security(("bearer" = [])))]
async fn resolve_conflict(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ResolveConflict>,
) -> Result<axum::Json<JobView>, ApiError> {
    let who = office(&caller)?;
    let action = JobAction::ResolveConflict {
        field: body.field,
        actor: body.actor,
    };
    Ok(axum::Json(act(&state, job_id(id), who, &[action]).await?))
}

/// The changes the server refused to the job's devices, newest first: who
/// sent each (device, user), the reject code and message, the refused
/// change and the server time. Office only; a job the caller may not see
/// is a 404.
#[utoipa::path(get, path = "/v1/jobs/{id}/rejections", tag = "jobs",
    params(("id" = Uuid, Path), RejectionsQuery),
    responses((status = 200, body = JobRejections), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn job_rejections(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    query: Result<Query<RejectionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<JobRejections>, ApiError> {
    office(&caller)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id = job_id(id);
    visible_job(&state, &caller.scope(), id).await?;
    let rejections = state
        .store
        .job_rejections(id, q.limit.unwrap_or(100))
        .await?;
    Ok(axum::Json(JobRejections { rejections }))
}
