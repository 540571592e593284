//! Refund workflows over `(state, principal)`: the API routes and the
//! console page are thin adapters over these.

use fieldsync_core::job::{Decision, RefundKind};
use fieldsync_core::{JobAction, JobId, LineId, Money, Permission, Principal};

use super::store::{PendingRefund, RefundEvent};
use crate::app::AppState;
use crate::authz::Scope;
use crate::error::ApiError;
use crate::jobs::views::JobView;

/// A refund or credit the office gives (the device gives its own offline).
pub struct NewRefund {
    pub id: LineId,
    pub kind: RefundKind,
    pub against: LineId,
    pub amount: Money,
    pub reason: String,
}

/// Gives a refund as `who` (an office role): within their limit it is
/// given at once, above it it waits for a supervisor.
pub async fn give(
    state: &AppState,
    who: Principal,
    job: JobId,
    refund: NewRefund,
) -> Result<JobView, ApiError> {
    crate::authz::require(who, Permission::ManageJobs)?;
    let (current, _) = crate::jobs::visible_job_doc(state, &Scope::of(who), job).await?;
    if refund.kind == RefundKind::Credit {
        // The validator checks this on devices' syncs; the office's own
        // change is validated without the price book, so check it here.
        let book = crate::documents::price_book(state.store.as_ref(), &state.docs)
            .await
            .map_err(ApiError::internal)?;
        if let Some(book) = book
            && let Some(room) =
                fieldsync_core::job::refund::credit_room(&current, &book, refund.against)
            && refund.amount > room
        {
            return Err(ApiError::Conflict(format!(
                "credit notes of this line take off at most {room} more"
            )));
        }
    }
    let approval = state
        .settings
        .refund_limits()
        .approval(who.role, refund.amount);
    let action = JobAction::GiveRefund {
        refund: refund.id,
        kind: refund.kind,
        against: refund.against,
        amount: refund.amount,
        reason: refund.reason,
        approval,
    };
    crate::jobs::act(state, job, who, &[action]).await
}

/// The jobs a supervisor decides for: those of the depots they staff (an
/// admin: every job). 404 for any other job, as for one that does not exist.
async fn decides_for(state: &AppState, who: Principal, job: JobId) -> Result<(), ApiError> {
    crate::authz::require(who, Permission::ApproveRefunds)?;
    let scope = Scope::of(who);
    crate::jobs::visible_job(state, &scope, job).await?;
    let Some(depots) = scope.depots(state.store.as_ref()).await? else {
        return Ok(());
    };
    match state.store.job_depot(job).await? {
        Some(depot) if depots.contains(&depot) => Ok(()),
        _ => Err(ApiError::NotFound),
    }
}

/// A supervisor approves or declines a pending refund, with a reason: the
/// server writes the decision into the job in the supervisor's name (with
/// the server's time), and the device gets it on its next sync.
pub async fn decide(
    state: &AppState,
    who: Principal,
    job: JobId,
    refund: LineId,
    decision: Decision,
    reason: String,
) -> Result<JobView, ApiError> {
    decides_for(state, who, job).await?;
    let action = JobAction::DecideRefund {
        refund,
        decision,
        reason,
    };
    crate::jobs::act(state, job, who, &[action]).await
}

/// The refunds waiting for `who`'s decision: of their depots' jobs (an
/// admin: all).
pub async fn queue(state: &AppState, who: Principal) -> Result<Vec<PendingRefund>, ApiError> {
    crate::authz::require(who, Permission::ApproveRefunds)?;
    let depots = Scope::of(who).depots(state.store.as_ref()).await?;
    Ok(state.store.pending_refunds(depots.as_deref()).await?)
}

/// The audit of a job's refunds, for anyone who sees the job.
pub async fn audit(
    state: &AppState,
    who: Principal,
    job: JobId,
) -> Result<Vec<RefundEvent>, ApiError> {
    crate::jobs::visible_job(state, &Scope::of(who), job).await?;
    Ok(state.store.refund_events(job).await?)
}
