//! The office's job workflows that both the API routes and the console's
//! dispatch board run: assign, reschedule, cancel. Each is one named
//! sync-core action written through [`super::routes::act`], so a board
//! click and an API call make the same automerge change.

use fieldsync_core::job::Window;
use fieldsync_core::{JobAction, JobId, Principal, UserId};
use uuid::Uuid;

use super::views::JobView;
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::StoreError;

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
