//! Invoice workflows over the store: the write of an issued invoice into
//! its job, the housekeeping (pending writes, reminders) and lookups.

use std::sync::Arc;

use fieldsync_core::job::IssuedInvoice;
use fieldsync_core::job::invoice::write_issued;
use fieldsync_core::{Job, JobId, Status};
use time::OffsetDateTime;
use uuid::Uuid;

use super::store::{InvoiceKey, InvoiceRecord};
use crate::app::AppState;
use crate::documents::Edit;
use crate::error::ApiError;
use crate::jobs::views::timestamp;

/// Jobs whose pending invoice one housekeeping round writes.
pub const WRITE_BACK_JOBS_PER_ROUND: i64 = 100;

/// The invoice named by `key`: a job id (UUID) or an invoice number.
pub async fn find(state: &AppState, key: &str) -> Result<InvoiceRecord, ApiError> {
    let key = match Uuid::parse_str(key) {
        Ok(id) => InvoiceKey::Job(JobId::from_uuid(id)),
        Err(_) => InvoiceKey::Number(key.to_owned()),
    };
    state.store.invoice(&key).await?.ok_or(ApiError::NotFound)
}

/// Whole days since the invoice was issued, by the server's clock.
pub fn age_days(r: &InvoiceRecord, now: OffsetDateTime) -> i64 {
    (now - r.issued_at).whole_days().max(0)
}

/// `unpaid` (nothing settled), `partly_paid` or `settled`.
pub fn state_of(r: &InvoiceRecord) -> &'static str {
    if r.open_minor <= 0 {
        "settled"
    } else if r.open_minor >= r.total_minor {
        "unpaid"
    } else {
        "partly_paid"
    }
}

/// After a sync's commits: writes the invoices the commits issued into
/// their jobs (the device gets them on its next sync). A failure is
/// logged; the housekeeping retries.
pub async fn write_after_commits(state: &AppState, jobs: &[Arc<Job>]) {
    for job in jobs {
        if job.status != Status::Completed || job.invoice.is_some() {
            continue;
        }
        if let Err(e) = write_into_job(state, job.id).await {
            tracing::error!(job = %job.id, error = %e, "writing the issued invoice into the job failed");
        }
    }
}

/// Writes the stored invoice of `id` into its job document unless it holds
/// it, then marks it written.
async fn write_into_job(state: &AppState, id: JobId) -> Result<(), ApiError> {
    let Some(r) = state.store.invoice(&InvoiceKey::Job(id)).await? else {
        return Ok(());
    };
    let issued = IssuedInvoice {
        number: r.number.clone(),
        issued_at: timestamp(r.issued_at),
        invoice: r.body.clone(),
    };
    let actor = state.actor.clone();
    let written = crate::jobs::service::write_job(state, id, |doc, known, now| {
        doc.set_actor(actor.clone());
        let before = doc.get_heads();
        write_issued(doc, &issued, timestamp(now))?;
        Ok::<_, fieldsync_core::ActionError>(Edit {
            changes: doc.get_changes(&before),
            job: known.map(|job| with_issued(doc, job, &issued)),
        })
    })
    .await;
    match written {
        // An archived job is held by no device any more: the invoice of
        // record stays in SQL, and it is no longer pending.
        Ok(_) | Err(crate::documents::WriteError::Archived(_)) => {}
        Err(e) => return Err(ApiError::internal(e)),
    }
    state.store.invoice_written(id).await?;
    Ok(())
}

/// The job `known` (as read at the version the write loaded) once the
/// invoice is written into it: only the invoice changed, so the commit
/// projects this instead of reading the whole document again (it did, once
/// per completed job, a second full read right after the sync's own).
fn with_issued(doc: &automerge::Automerge, known: &Job, issued: &IssuedInvoice) -> Job {
    let job = Job {
        invoice: Some(issued.clone()),
        ..known.clone()
    };
    debug_assert_eq!(
        fieldsync_core::job::read_job(doc, None).ok().as_ref(),
        Some(&job),
        "the job with its invoice reads as written"
    );
    job
}

/// One housekeeping round: invoices still to be written into their jobs
/// (bounded, oldest first), then the reminders due by the server's
/// injectable clock.
pub async fn housekeeping(state: &AppState) {
    match state
        .store
        .jobs_with_pending_invoices(WRITE_BACK_JOBS_PER_ROUND)
        .await
    {
        Ok(jobs) => {
            for job in jobs {
                if let Err(e) = write_into_job(state, job).await {
                    tracing::warn!(%job, error = %e, "writing a pending invoice failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "listing pending invoices failed"),
    }
    let days = state.settings.invoices.reminder_days();
    let attempts = state.settings.feedback.outbox_max_attempts;
    match state
        .store
        .queue_invoice_reminders(state.clock.now(), &days, attempts)
        .await
    {
        Ok(0) => {}
        Ok(n) => tracing::info!(invoices = n, "invoice reminders queued"),
        Err(e) => tracing::warn!(error = %e, "queuing invoice reminders failed"),
    }
}

/// The billing of a completed job whose document does not hold its issued
/// invoice yet (the write after the commit is pending): the stored frozen
/// invoice, settled by the job. `None` when there is none.
pub async fn stored_billing(
    state: &AppState,
    job: &Job,
) -> Result<Option<fieldsync_core::billing::Invoice>, ApiError> {
    if job.invoice.is_some() || job.status != Status::Completed {
        return Ok(None);
    }
    let Some(r) = state.store.invoice(&InvoiceKey::Job(job.id)).await? else {
        return Ok(None);
    };
    fieldsync_core::billing::settle(&r.body, Some(&r.number), job)
        .map(Some)
        .map_err(ApiError::internal)
}
