//! The returns workflow over the store: opening (the office), numbering
//! (writing the server's RMA numbers back into jobs), who sees which
//! return, receiving at a depot, and a serial's trail. Routes and console
//! pages are thin adapters over these.

use fieldsync_core::job::ReturnCondition;
use fieldsync_core::job::rma::{check_return, write_rma_numbers};
use fieldsync_core::{Job, JobId, LineId, LocationId, Sku};
use uuid::Uuid;

use super::model::*;
use super::store::ReturnFilter;
use crate::app::AppState;
use crate::authz::{JobScope, Permission, Principal, Scope};
use crate::documents::Edit;
use crate::error::ApiError;
use crate::inventory::{LocationKind, MovementFilter, MovementKind};
use crate::jobs::views::timestamp;

/// What the office gives to open a return.
#[derive(Clone, Debug)]
pub struct OpenRequest {
    pub id: Uuid,
    pub sku: String,
    pub serial: String,
    pub reason: String,
    pub condition: ReturnCondition,
    pub job_id: Option<JobId>,
    pub customer_id: Option<Uuid>,
    pub depot_id: LocationId,
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The returns `who` sees: everything for the office and admins, the
/// depots in their scope for inventory managers, their own jobs' returns
/// for technicians; a 403 for anyone else.
pub async fn filter_for(state: &AppState, who: Principal) -> Result<ReturnFilter, ApiError> {
    let scope = Scope::of(who);
    if who.can(Permission::ManageJobs) && scope.jobs() == JobScope::All {
        return Ok(ReturnFilter::default());
    }
    if who.can(Permission::ManageStock) {
        let locations = scope.locations(state.store.as_ref()).await?;
        if locations.sees_all() {
            return Ok(ReturnFilter::default());
        }
        return Ok(ReturnFilter {
            depots: Some(locations.ids().collect()),
            ..ReturnFilter::default()
        });
    }
    match scope.jobs() {
        JobScope::Assigned(user) => Ok(ReturnFilter {
            technician: Some(user),
            ..ReturnFilter::default()
        }),
        _ => Err(ApiError::Forbidden("your role may not see returns")),
    }
}

/// Opens a return for the office. `Ok((created, row))`; a retry with the
/// same id and content answers the stored return.
pub async fn open(
    state: &AppState,
    who: Principal,
    req: OpenRequest,
) -> Result<(bool, ReturnRow), ApiError> {
    crate::authz::require(who, Permission::ManageJobs)?;
    let sku: Sku = req.sku.trim().parse().map_err(bad)?;
    check_return(&req.serial, &req.reason).map_err(bad)?;
    if req.reason.chars().count() > fieldsync_core::job::rma::MAX_REASON {
        return Err(bad("reason: at most 1000 characters"));
    }
    let locations = state.store.locations().await?;
    match locations.iter().find(|l| l.id == req.depot_id) {
        Some(l) if l.kind == LocationKind::Depot => {}
        Some(_) => return Err(bad("depot_id names a van, not a depot")),
        None => return Err(bad(format!("no depot {}", req.depot_id))),
    }
    let (mut customer, mut asset) = (req.customer_id, None);
    if let Some(job) = req.job_id {
        let (job, _) = crate::jobs::visible_job_doc(state, &Scope::of(who), job)
            .await
            .map_err(|e| match e {
                ApiError::NotFound => bad(format!("no job {job}")),
                e => e,
            })?;
        customer = customer.or(job.registry.customer);
        asset = job.registry.asset;
    }
    let r = NewReturn {
        id: req.id,
        sku,
        serial: req.serial.trim().to_owned(),
        reason: req.reason.trim().to_owned(),
        condition: req.condition,
        job_id: req.job_id,
        customer_id: customer,
        asset_id: asset,
        depot_id: Some(req.depot_id),
        opened_by: who.user,
    };
    match state.store.open_return(&r).await? {
        Opened::Created(row) => Ok((true, row)),
        Opened::Replayed(row) => Ok((false, row)),
        Opened::IdReused => Err(ApiError::Conflict(format!(
            "return id {} was already used for another return",
            r.id
        ))),
    }
}

/// The returns `who` sees, optionally in one status.
pub async fn list(
    state: &AppState,
    who: Principal,
    status: Option<ReturnStatus>,
) -> Result<Vec<ReturnRow>, ApiError> {
    let mut f = filter_for(state, who).await?;
    f.status = status;
    Ok(state.store.returns(&f).await?)
}

/// One return, if `who` sees it (404 otherwise).
pub async fn get(state: &AppState, who: Principal, id: Uuid) -> Result<ReturnRow, ApiError> {
    let mut f = filter_for(state, who).await?;
    f.id = Some(id);
    state
        .store
        .returns(&f)
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound)
}

/// The returns of an asset's jobs that `who` sees (none for a role that
/// sees no returns), for the asset's history in the single view.
pub async fn of_asset(
    state: &AppState,
    who: Principal,
    asset: Uuid,
) -> Result<Vec<super::routes::ReturnView>, ApiError> {
    let mut f = match filter_for(state, who).await {
        Ok(f) => f,
        Err(ApiError::Forbidden(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    f.asset = Some(asset);
    Ok(state
        .store
        .returns(&f)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// Receives a returned unit at a depot the caller manages.
pub async fn receive(
    state: &AppState,
    who: Principal,
    id: Uuid,
    movement_id: Uuid,
    depot_id: LocationId,
    disposition: Disposition,
) -> Result<ReturnRow, ApiError> {
    crate::authz::require(who, Permission::ManageStock)?;
    let ret = get(state, who, id).await?;
    let locations = Scope::of(who).locations(state.store.as_ref()).await?;
    if !locations.can_manage(depot_id) {
        return Err(bad(format!("no depot {depot_id} you manage")));
    }
    let receipt = Receipt {
        return_id: ret.ret.id,
        movement_id,
        depot_id,
        disposition,
        actor: who.user,
    };
    match state.store.receive(&receipt).await? {
        Ok(row) => {
            // The depot's stock changed: vans are unaffected, nothing to refresh.
            Ok(row)
        }
        Err(ReceiptRefused::AlreadyReceived) => Err(ApiError::Conflict(
            "the return was received already with other details".into(),
        )),
        Err(ReceiptRefused::Ledger(crate::inventory::Refused::IdReused(m))) => Err(
            ApiError::Conflict(format!("movement id {m} was already used")),
        ),
        Err(ReceiptRefused::Ledger(e)) => Err(bad(e)),
    }
}

/// One step of a serial's path, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrailStep {
    pub at: time::OffsetDateTime,
    /// `fitted`, `returned` (opened), `received`; from the ledger, a
    /// shipment to a customer's `shipped` (depot to transit), `delivered`
    /// (transit to the customer's site) and `shipment_cancelled` (transit
    /// back to the depot).
    pub event: String,
    pub job_id: Option<JobId>,
    pub rma_number: Option<String>,
    /// The van it was fitted from, the depot it goes to, was received at
    /// or shipped from, the transit holding it was delivered from.
    pub depot_id: Option<LocationId>,
    pub disposition: Option<Disposition>,
    /// The ledger movement of the step (receipts and shipment steps).
    pub movement_id: Option<Uuid>,
    pub detail: String,
}

/// The ledger movements that tell a shipment's steps, by their trail name.
fn shipment_step(kind: MovementKind) -> Option<&'static str> {
    match kind {
        MovementKind::Shipment => Some("shipped"),
        MovementKind::Delivery => Some("delivered"),
        MovementKind::ShipmentCancel => Some("shipment_cancelled"),
        _ => None,
    }
}

/// Most ledger movements of one unit the trail reads.
const TRAIL_MOVEMENTS: u32 = 1_000;

/// The path of one serialized unit: fitted on jobs, shipped to and
/// delivered at a customer's site, returned (the RMA number), received at
/// a depot and what was done with it.
pub async fn trail(
    state: &AppState,
    who: Principal,
    sku: &str,
    serial: &str,
) -> Result<Vec<TrailStep>, ApiError> {
    let sku: Sku = sku.trim().parse().map_err(bad)?;
    let mut f = filter_for(state, who).await?;
    f.serial = Some((sku.clone(), serial.to_owned()));
    let returns = state.store.returns(&f).await?;
    // Those who see every return see the unit's whole path; others its
    // steps on the jobs of the returns they see (and, for the shipments,
    // at the locations they see, as the ledger's own trail shows them).
    let limited = f.technician.is_some() || f.depots.is_some();
    let on_seen_job =
        |job: Option<JobId>| job.is_some_and(|j| returns.iter().any(|r| r.ret.job_id == Some(j)));
    let mut steps = Vec::new();
    let fits = state.store.serial_fits().await?;
    for fit in fits
        .iter()
        .filter(|x| x.sku == sku && x.serial == serial && x.voided_at.is_none())
    {
        if limited && !on_seen_job(Some(fit.job_id)) {
            continue;
        }
        steps.push(TrailStep {
            at: fit.fitted_at,
            event: "fitted".into(),
            job_id: Some(fit.job_id),
            rma_number: None,
            depot_id: Some(fit.van_id),
            disposition: None,
            movement_id: None,
            detail: format!("fitted from van {}", fit.van_id),
        });
    }
    let locations = if limited {
        Some(Scope::of(who).locations(state.store.as_ref()).await?)
    } else {
        None
    };
    let moves = state
        .store
        .movements(&MovementFilter {
            locations: None,
            sku: Some(sku.clone()),
            job_id: None,
            serial: Some(serial.to_owned()),
            limit: Some(TRAIL_MOVEMENTS),
        })
        .await?;
    // The ledger answers newest first: read oldest first, so steps at the
    // same instant keep the ledger's order after the stable sort below.
    for m in moves.into_iter().rev() {
        let (mv, at) = (m.movement, m.created_at);
        let Some(event) = shipment_step(mv.kind) else {
            continue;
        };
        let seen = match &locations {
            None => true,
            Some(l) => {
                on_seen_job(mv.job_id)
                    || mv.from.is_some_and(|x| l.can_see(x))
                    || mv.to.is_some_and(|x| l.can_see(x))
            }
        };
        if !seen {
            continue;
        }
        steps.push(TrailStep {
            at,
            event: event.into(),
            job_id: mv.job_id,
            rma_number: None,
            depot_id: mv.from.or(mv.to),
            disposition: None,
            movement_id: Some(mv.id),
            detail: mv.note,
        });
    }
    for r in &returns {
        for e in state.store.return_events(r.ret.id).await? {
            let received = e.event == "received";
            steps.push(TrailStep {
                at: e.at,
                event: if received { "received" } else { "returned" }.into(),
                job_id: r.ret.job_id,
                rma_number: Some(r.rma_number.clone()),
                depot_id: r.ret.depot_id,
                disposition: if received { r.disposition } else { None },
                movement_id: if received { r.movement_id } else { None },
                detail: e.detail,
            });
        }
    }
    // Stable: steps at the same instant keep the order above.
    steps.sort_by_key(|s| s.at);
    Ok(steps)
}

/// Jobs whose pending RMA numbers one housekeeping round writes back.
pub const WRITE_BACK_JOBS_PER_ROUND: i64 = 100;

/// After a sync's commits: writes the server's RMA numbers into the jobs
/// whose returns lack one (the device gets them on its next sync). A
/// failure is logged; the housekeeping ([`write_back_pending`]) retries.
pub async fn number_after_commits(state: &AppState, jobs: &[std::sync::Arc<Job>]) {
    for job in jobs {
        if job.returns.iter().all(|r| r.rma_number.is_some()) {
            continue;
        }
        if let Err(e) = write_numbers(state, job.id).await {
            tracing::error!(job = %job.id, error = %e, "writing RMA numbers failed");
        }
    }
}

/// One housekeeping round: writes the numbers of returns still pending
/// (a write after a sync that failed, or never ran) into their jobs, for
/// at most `max_jobs` jobs, oldest return first. Idempotent: a number
/// already in the document is not written again. The count of jobs
/// written; a job that fails is logged and stays pending for the next round.
pub async fn write_back_pending(state: &AppState, max_jobs: i64) -> Result<usize, ApiError> {
    let jobs = state.store.jobs_with_pending_numbers(max_jobs).await?;
    let mut written = 0;
    for job in jobs {
        match write_numbers(state, job).await {
            Ok(()) => written += 1,
            Err(e) => tracing::warn!(%job, error = %e, "writing pending RMA numbers failed"),
        }
    }
    Ok(written)
}

/// Writes the stored numbers of `id`'s returns that its document holds
/// without one, then marks the job's returns as written (returns the
/// office opened are in SQL only: nothing to write for them).
async fn write_numbers(state: &AppState, id: JobId) -> Result<(), ApiError> {
    let numbers = state.store.job_rma_numbers(id).await?;
    if numbers.is_empty() {
        return Ok(());
    }
    let actor = state.actor.clone();
    let written = crate::jobs::service::write_job(state, id, |doc, known, now| {
        let read;
        let job = match known {
            Some(job) => job,
            None => {
                read = fieldsync_core::job::read_job(doc, None)?;
                &read
            }
        };
        let missing: Vec<(LineId, String)> = numbers
            .iter()
            .filter(|(line, _)| {
                job.returns
                    .iter()
                    .any(|r| r.id == *line && r.rma_number.is_none())
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(Edit {
                changes: Vec::new(),
                job: None,
            });
        }
        doc.set_actor(actor.clone());
        let before = doc.get_heads();
        write_rma_numbers(doc, &missing, timestamp(now))?;
        Ok::<_, fieldsync_core::ActionError>(Edit {
            changes: doc.get_changes(&before),
            job: None,
        })
    })
    .await;
    match written {
        // An archived job is held by no device any more: the numbers of
        // record stay in SQL, and it is no longer pending.
        Ok(_) | Err(crate::documents::WriteError::Archived(_)) => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    let ids: Vec<LineId> = numbers.into_iter().map(|(line, _)| line).collect();
    state.store.numbers_written(id, &ids).await?;
    Ok(())
}
