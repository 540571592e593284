//! The office's job workflows that both the API routes and the console's
//! dispatch board run: assign, reschedule, cancel. Each is one named
//! sync-core action written through [`super::routes::act`], so a board
//! click and an API call make the same automerge change.

use std::sync::Arc;

use automerge::Automerge;
use fieldsync_core::job::Window;
use fieldsync_core::pricebook::PriceBook;
use fieldsync_core::{DocId, Job, JobAction, JobId, Principal, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::views::JobView;
use crate::app::AppState;
use crate::documents::{self, Derive, Edit, WriteError, Written};
use crate::error::ApiError;
use crate::store::{StoreError, now_utc};

/// A technician to assign must exist and work jobs in the field.
pub(crate) async fn check_technician(state: &AppState, id: Option<Uuid>) -> Result<(), ApiError> {
    let Some(id) = id else { return Ok(()) };
    match state.store.user(UserId::from_uuid(id)).await {
        Ok(user) if user.role.is_field() => Ok(()),
        Ok(_) => Err(ApiError::BadRequest(format!(
            "user {id} is not a technician"
        ))),
        Err(StoreError::NotFound) => Err(ApiError::BadRequest(format!("no user {id}"))),
        Err(e) => Err(e.into()),
    }
}

/// Assigns, reassigns (`Some`) or unassigns (`None`) the job. A technician
/// it is taken from loses it from their device at their next sync.
pub(crate) async fn assign(
    state: &AppState,
    who: Principal,
    id: JobId,
    technician: Option<Uuid>,
) -> Result<JobView, ApiError> {
    check_technician(state, technician).await?;
    let action = JobAction::Reassign {
        technician: technician.map(UserId::from_uuid),
    };
    super::routes::act(state, id, who, &[action]).await
}

/// Moves the job's appointment window.
pub(crate) async fn reschedule(
    state: &AppState,
    who: Principal,
    id: JobId,
    window: Window,
) -> Result<JobView, ApiError> {
    super::routes::act(state, id, who, &[JobAction::EditWindow(window)]).await
}

/// Cancels the job (a completed one cannot be: 409).
pub(crate) async fn cancel(
    state: &AppState,
    who: Principal,
    id: JobId,
    reason: String,
) -> Result<JobView, ApiError> {
    super::routes::act(state, id, who, &[JobAction::Cancel { reason }]).await
}

/// Writes job `id` through `edit` (the latest stored document, the job it
/// reads as when cached, and the server time) with the current price book
/// and the registered projectors: the one sequence the office's actions
/// and the server's own writes into a job (RMA numbers, issued invoices)
/// share. Also gives the price book it billed with.
pub(crate) async fn write_job<E>(
    state: &AppState,
    id: JobId,
    mut edit: impl FnMut(&mut Automerge, Option<&Job>, OffsetDateTime) -> Result<Edit, E>,
) -> Result<(Written, Option<Arc<PriceBook>>), WriteError<E>> {
    let now = now_utc();
    let book = documents::price_book(state.store.as_ref(), &state.docs).await?;
    let derive = Derive {
        price_book: book.as_deref(),
        now,
        projectors: &state.projectors,
    };
    let written = documents::write(
        state.store.as_ref(),
        &state.docs,
        DocId::Job(id),
        &derive,
        |doc, job| edit(doc, job, now),
    )
    .await?;
    Ok((written, book))
}
