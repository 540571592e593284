//! Warranty extensions (issue 15 item 3): the office's sale on a job
//! (`POST /v1/jobs/{id}/extension`), and the extension of the asset's
//! warranty once a job that sold one completes.
//!
//! The extension is a projector ([`WarrantyProjector`]) run in the job's
//! commit transaction rather than an outbox job: the commit already holds
//! the merged job and the server time, the asset row is in the same
//! database, and a row keyed by job id (`warranty_extensions`' primary key)
//! makes it happen once however often the job syncs, whichever server
//! process commits it, and whatever commit is retried (a rolled-back commit
//! takes its extension with it). An outbox would add a second place to
//! retry and a window where the job is completed but the warranty is not.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Path, State};
use fieldsync_core::pricebook::warranty_end_after;
use fieldsync_core::{DocId, Job, JobId, Principal, Role, Status, UserId, warranty};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::Permission;
use crate::documents::{self, JobCommit, JobProjector};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::jobs::views::JobView;
use crate::store::sql::{Query, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

const DATE: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn date_text(d: Date) -> Option<String> {
    d.format(DATE).ok()
}

fn date_of(row: &Row, column: &str) -> Result<Option<Date>> {
    row.get::<Option<String>>(column)?
        .map(|s| Date::parse(&s, DATE).map_err(|e| StoreError::corrupt(column, e)))
        .transpose()
}

/// One extension applied to an asset, as its history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct WarrantyExtension {
    /// The job that sold it.
    #[schema(value_type = String, format = Uuid)]
    pub job_id: Uuid,
    /// The price book's offer code.
    pub offer: String,
    pub months: u32,
    /// Before tax, minor units, as sold.
    pub price_minor: i64,
    #[schema(value_type = String, format = Uuid)]
    pub sold_by: Uuid,
    /// The warranty end before (`null`: unknown) and after, `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    pub previous_end: Option<Date>,
    #[schema(value_type = String, format = Date)]
    pub new_end: Date,
    /// Server time the job was seen completed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub extended_at: OffsetDateTime,
}

/// The extensions applied to assets.
#[async_trait]
pub trait WarrantyStore: Send + Sync {
    /// The asset's extensions, oldest first (at most 1000).
    async fn warranty_extensions(&self, asset: Uuid) -> Result<Vec<WarrantyExtension>>;
}

#[async_trait]
impl WarrantyStore for SqlStore {
    async fn warranty_extensions(&self, asset: Uuid) -> Result<Vec<WarrantyExtension>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT job_id, offer, months, price_minor, sold_by, previous_end, new_end, \
                         extended_at FROM warranty_extensions WHERE asset_id = $1 \
                     ORDER BY extended_at, job_id LIMIT 1000",
                )
                .bind(asset),
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(WarrantyExtension {
                    job_id: row.get("job_id")?,
                    offer: row.get("offer")?,
                    months: u32::try_from(row.get::<i64>("months")?)
                        .map_err(|e| StoreError::corrupt("months", e))?,
                    price_minor: row.get("price_minor")?,
                    sold_by: row.get("sold_by")?,
                    previous_end: date_of(row, "previous_end")?,
                    new_end: date_of(row, "new_end")?
                        .ok_or_else(|| StoreError::corrupt("new_end", "missing"))?,
                    extended_at: row.get("extended_at")?,
                })
            })
            .collect()
    }
}

/// A completed job's sale, to apply to its asset in the job's commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarrantyProjection {
    pub job_id: JobId,
    pub asset_id: Uuid,
    pub offer: String,
    pub months: u32,
    pub price_minor: i64,
    pub sold_by: UserId,
}

#[async_trait]
impl Projection for WarrantyProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "warranty projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    /// Extends the asset's warranty unless this job already did. The
    /// asset row is locked (PostgreSQL; SQLite's write transaction holds
    /// the database) before its end is read, so two jobs extending one
    /// asset at once add up, and the insert keyed by job id decides
    /// whether this commit is the one that extends.
    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        let done = tx
            .fetch_optional(
                Query::new("SELECT 1 AS one FROM warranty_extensions WHERE job_id = $1")
                    .bind(self.job_id),
            )
            .await?;
        if done.is_some() {
            return Ok(());
        }
        let select = tx.dialect().locked(
            "SELECT warranty_end FROM assets WHERE id = $1",
            "FOR UPDATE",
        );
        let Some(asset) = tx.fetch_optional(select.bind(self.asset_id)).await? else {
            tracing::warn!(job = %self.job_id, asset = %self.asset_id, "the job's asset is not in the registry: no extension");
            return Ok(());
        };
        let previous = date_of(&asset, "warranty_end")?;
        // The same rule the quote used, from the day the server saw the
        // job completed (device clocks are not trusted).
        let Some(new_end) = warranty_end_after(previous, now.date(), self.months) else {
            tracing::warn!(job = %self.job_id, "the extended warranty end is past the calendar");
            return Ok(());
        };
        let inserted = tx
            .execute(
                Query::new(
                    "INSERT INTO warranty_extensions (job_id, asset_id, offer, months, \
                         price_minor, sold_by, previous_end, new_end, extended_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (job_id) DO NOTHING",
                )
                .bind(self.job_id)
                .bind(self.asset_id)
                .bind(self.offer.as_str())
                .bind(i64::from(self.months))
                .bind(self.price_minor)
                .bind(self.sold_by)
                .bind(previous.and_then(date_text))
                .bind(date_text(new_end))
                .bind(now),
            )
            .await?;
        if inserted == 1 {
            tx.execute(
                Query::new("UPDATE assets SET warranty_end = $2, updated_at = $3 WHERE id = $1")
                    .bind(self.asset_id)
                    .bind(date_text(new_end))
                    .bind(now),
            )
            .await?;
            tracing::info!(job = %self.job_id, asset = %self.asset_id, months = self.months, "warranty extended");
        }
        Ok(())
    }
}

/// Asks every commit of a completed job that sold an extension for a
/// registry asset to apply it (a no-op after the first: see
/// [`WarrantyProjection::write`]).
pub struct WarrantyProjector;

impl JobProjector for WarrantyProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        let job = c.job;
        let sale = job.warranty_extension.as_ref()?;
        let asset_id = job.registry.asset?;
        if job.status != Status::Completed {
            return None;
        }
        Some(Arc::new(WarrantyProjection {
            job_id: job.id,
            asset_id,
            offer: sale.offer.clone(),
            months: sale.months,
            price_minor: sale.price.minor_units(),
            sold_by: sale.by,
        }))
    }
}

/// The asset whose warranty a commit of `job` extends (or extended at an
/// earlier commit): the projector's condition, read from the committed job.
pub(crate) fn extended_asset(job: &Job) -> Option<Uuid> {
    job.warranty_extension.as_ref()?;
    (job.status == Status::Completed)
        .then_some(job.registry.asset)
        .flatten()
}

/// Who writes the snapshot refresh that follows an extension: the server on
/// the registry's behalf, in an office role (the asset snapshot is the
/// office's to write; the technician whose sync completed the job may not).
/// No user has this id, so the job's history shows no person for it.
fn registry_refresh() -> Principal {
    Principal::new(UserId::from_uuid(Uuid::nil()), Role::Dispatcher)
}

/// After commits of `jobs` (sync or office): for each that is a completed
/// job with a sale and a registry asset, the asset's other open jobs get
/// their snapshots brought up to the registry (`refresh_snapshot`, as a
/// registry edit does), so they bill warranty cover from the new end.
///
/// Outside the commit's transaction: the commit stands whatever happens
/// here. Idempotent (a job already up to date gets no change), and it runs
/// again after every later commit of the completed job and on every
/// registry edit of the asset's customer, so a run that failed part way is
/// completed by the next one. A failure is logged, not answered: the
/// caller's own changes are stored, and failing its request would not
/// bring a retry here (a resend commits nothing new).
pub(crate) async fn refresh_after_commits<'a>(
    state: &AppState,
    jobs: impl IntoIterator<Item = &'a Job>,
) {
    let mut assets: Vec<Uuid> = jobs.into_iter().filter_map(extended_asset).collect();
    assets.sort_unstable();
    assets.dedup();
    for asset in assets {
        match crate::customers::service::refresh_open_jobs_of_asset(
            state,
            registry_refresh(),
            asset,
        )
        .await
        {
            Ok(0) => {}
            Ok(refreshed) => {
                tracing::info!(%asset, refreshed, "open jobs brought up to an extended warranty")
            }
            Err(e) => {
                tracing::warn!(%asset, error = %e, "refreshing open jobs after a warranty extension failed")
            }
        }
    }
}

/// `POST /v1/jobs/{id}/extension`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellExtension {
    /// An offer code of the price book for the job's asset's product.
    pub offer: String,
}

impl crate::freetext::FreeText for SellExtension {
    /// An offer code, looked up in the price book: no free text.
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Sells a warranty extension on the job for its registry asset (office):
/// the price book's offer at its current months and price, as an invoice
/// line of the job. The asset's warranty is extended when the job
/// completes. One per job, while the job is open.
#[utoipa::path(post, path = "/v1/jobs/{id}/extension", tag = "jobs",
    params(("id" = Uuid, Path)),
    request_body = SellExtension,
    responses((status = 200, body = JobView),
        (status = 400, description = "No such offer, or an offer for another product", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The job sells one already, is closed, has no registry asset, or there is no price book", body = ErrorBody)),
    security(("bearer" = [])))]

pub async fn sell_extension(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<SellExtension>,
) -> std::result::Result<axum::Json<JobView>, ApiError> {
    caller.require(Permission::ManageJobs)?;
    let id = JobId::from_uuid(id);
    let (job, _) = crate::jobs::visible_job_doc(&state, &caller.scope(), id).await?;
    let (asset, _) = warranty::sold_asset(&job).map_err(|r| ApiError::Conflict(r.message))?;
    // The asset must be one the caller's depots serve, as for the single view.
    let scope = caller.scope().customers(state.store.as_ref()).await?;
    if !state.store.asset_in_scope(asset, &scope).await? {
        return Err(ApiError::NotFound);
    }
    let book = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::Conflict("there is no price book yet".into()))?;
    // The book's rules here; the job's (once, open) in the action.
    let action = warranty::sale(&job, &book, body.offer.trim())
        .map_err(|r| ApiError::BadRequest(r.message))?;
    let view = crate::jobs::act(&state, id, caller.principal(), &[action]).await?;
    Ok(axum::Json(view))
}
