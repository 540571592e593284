//! The jobs an office device holds: the ones it opened, not every job.
//!
//! A technician's device holds the jobs assigned to them (a handful). An
//! office role sees every job, and sending every open job whole to each
//! office device that syncs grows with the company, not with the work at
//! hand. So an office device holds only what it opens here (at most
//! [`MAX_OPEN_JOBS`]), finds the rest through the jobs list
//! (`GET /v1/jobs`, paged), and the sync scope reads the list
//! ([`crate::jobs::JobStore::opened_job_scope`]). The list lives in SQL
//! beside the assignments, so every server process on the database reads
//! the same one. Opening never widens what a role may see: only roles that
//! see every job open jobs, and the sync still checks the role's scope.

use async_trait::async_trait;
use axum::Json;
use axum::extract::{Path, State};
use fieldsync_core::JobId;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::JobScope;
use crate::error::{ApiError, ErrorBody};
use crate::store::sql::Query;
use crate::store::{DeviceId, Result, SqlStore, now_utc};

use super::scope::CLOSED_JOBS_KEPT;

/// Jobs one office device may hold open at once: a day's desk work with
/// room to spare, and a bound on what each of its syncs loads.
pub const MAX_OPEN_JOBS: usize = 200;

/// What [`OpenJobStore::open_job`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// Added (or already there).
    Open,
    /// The device holds `MAX_OPEN_JOBS` already: nothing was added.
    Full,
}

/// The office devices' open jobs, written by the routes below and read by
/// the sync scope.
#[async_trait]
pub trait OpenJobStore: Send + Sync {
    /// Opens `job` on `device` unless the device already holds `max` jobs.
    /// Jobs it opened that devices no longer hold (closed and not updated
    /// since `closed_since`) are forgotten first, so they never count.
    async fn open_job(
        &self,
        device: DeviceId,
        job: JobId,
        max: usize,
        closed_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Opened>;
    /// Closes `job` on `device`; closing a job that is not open does nothing.
    async fn close_job(&self, device: DeviceId, job: JobId) -> Result<()>;
}

#[async_trait]
impl OpenJobStore for SqlStore {
    async fn open_job(
        &self,
        device: DeviceId,
        job: JobId,
        max: usize,
        closed_since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Opened> {
        let db = self.db();
        db.retry(|| async {
            let mut tx = db.begin().await?;
            // Two processes opening for one device at once count in turn
            // (SQLite's write transaction holds the database anyway).
            let lock = tx
                .dialect()
                .locked("SELECT id FROM devices WHERE id = $1", "FOR UPDATE");
            tx.fetch_one(lock.bind(device)).await?;
            tx.execute(
                Query::new(
                    "DELETE FROM device_open_jobs WHERE device_id = $1 AND job_id IN \
                     (SELECT job_id FROM jobs WHERE status IN \
                         ('completed', 'unable_to_complete', 'cancelled') \
                      AND updated_at < $2)",
                )
                .bind(device)
                .bind(closed_since),
            )
            .await?;
            let already = tx
                .exists(
                    Query::new(
                        "SELECT 1 FROM device_open_jobs WHERE device_id = $1 AND job_id = $2",
                    )
                    .bind(device)
                    .bind(job),
                )
                .await?;
            if already {
                tx.commit().await?;
                return Ok(Opened::Open);
            }
            let held: i64 = tx
                .fetch_one(
                    Query::new("SELECT COUNT(*) AS n FROM device_open_jobs WHERE device_id = $1")
                        .bind(device),
                )
                .await?
                .get("n")?;
            if held >= max as i64 {
                // Keep the forgetting above: it is right either way.
                tx.commit().await?;
                return Ok(Opened::Full);
            }
            tx.execute(
                Query::new(
                    "INSERT INTO device_open_jobs (device_id, job_id, opened_at) \
                     VALUES ($1, $2, $3)",
                )
                .bind(device)
                .bind(job)
                .bind(now),
            )
            .await?;
            tx.commit().await?;
            Ok(Opened::Open)
        })
        .await
    }

    async fn close_job(&self, device: DeviceId, job: JobId) -> Result<()> {
        self.db()
            .execute(
                Query::new("DELETE FROM device_open_jobs WHERE device_id = $1 AND job_id = $2")
                    .bind(device)
                    .bind(job),
            )
            .await?;
        Ok(())
    }
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_open_jobs))
        .routes(routes!(open_job, close_job))
}

/// The jobs this device holds open, in the order opened.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenJobs {
    /// Job ids; the next sync holds exactly these (closed jobs leave 14
    /// days after their last change, as on technicians' devices).
    pub jobs: Vec<Uuid>,
    /// How many one device may hold open at once.
    pub max: usize,
}

/// Only roles that see every job hold jobs by opening them; a technician's
/// device holds the jobs assigned to them.
fn office_device(caller: &AuthUser) -> Result<(), ApiError> {
    match caller.scope().jobs() {
        JobScope::All => Ok(()),
        JobScope::Assigned(_) | JobScope::None => Err(ApiError::Forbidden(
            "only roles that see every job open jobs on a device; a technician's device \
             holds the jobs assigned to them",
        )),
    }
}

async fn open_list(state: &AppState, device: DeviceId) -> Result<OpenJobs, ApiError> {
    let jobs = state
        .store
        .opened_job_scope(device, now_utc() - CLOSED_JOBS_KEPT)
        .await?;
    Ok(OpenJobs {
        jobs: jobs.iter().map(JobId::as_uuid).collect(),
        max: MAX_OPEN_JOBS,
    })
}

/// The jobs the calling office device holds open: what its next sync
/// holds.
#[utoipa::path(get, path = "/v1/sync/open-jobs", tag = "sync",
    responses((status = 200, body = OpenJobs),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The role does not see every job (technicians hold their assigned jobs)", body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_open_jobs(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<OpenJobs>, ApiError> {
    office_device(&caller)?;
    Ok(Json(open_list(&state, caller.device_id).await?))
}

/// Opens a job on the calling office device: its next sync sends the job
/// whole, and later ones keep it in step, until it is closed here (or
/// closed on the job and 14 days pass). Opening an open job changes
/// nothing.
#[utoipa::path(put, path = "/v1/sync/open-jobs/{id}", tag = "sync",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The device's open jobs, this one among them", body = OpenJobs),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The role does not see every job", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The device holds the most jobs it may (`max`), or the job closed more than 14 days ago", body = ErrorBody)),
    security(("bearer" = [])))]
async fn open_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OpenJobs>, ApiError> {
    office_device(&caller)?;
    let id = JobId::from_uuid(id);
    let row = crate::jobs::visible_job(&state, &caller.scope(), id).await?;
    let now = now_utc();
    let closed_since = now - CLOSED_JOBS_KEPT;
    if row.projection.status.is_final() && row.updated_at < closed_since {
        return Err(ApiError::Conflict(format!(
            "job {id} closed more than {} days ago: devices no longer hold it \
             (read it with GET /v1/jobs/{id})",
            CLOSED_JOBS_KEPT.whole_days()
        )));
    }
    let opened = state
        .store
        .open_job(caller.device_id, id, MAX_OPEN_JOBS, closed_since, now)
        .await?;
    if opened == Opened::Full {
        return Err(ApiError::Conflict(format!(
            "this device holds {MAX_OPEN_JOBS} open jobs, the most it may: \
             close one (DELETE /v1/sync/open-jobs/{{id}}) first"
        )));
    }
    Ok(Json(open_list(&state, caller.device_id).await?))
}

/// Closes a job on the calling office device: its next sync answers the
/// job `removed` (after merging what the device changed in it), and the
/// device drops its copy. Closing a job that is not open changes nothing.
#[utoipa::path(delete, path = "/v1/sync/open-jobs/{id}", tag = "sync",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The device's open jobs, without this one", body = OpenJobs),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The role does not see every job", body = ErrorBody)),
    security(("bearer" = [])))]
async fn close_job(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Json<OpenJobs>, ApiError> {
    office_device(&caller)?;
    state
        .store
        .close_job(caller.device_id, JobId::from_uuid(id))
        .await?;
    Ok(Json(open_list(&state, caller.device_id).await?))
}
