//! The invoice API (bearer auth, office roles): the list finance works
//! from and one invoice by number or job id.

use axum::extract::{Path, Query, State};
use fieldsync_core::Permission;
use fieldsync_core::billing::Invoice;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::service::{self, age_days, state_of};
use super::store::InvoiceRecord;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invoices))
        .routes(routes!(get_invoice))
}

/// One issued invoice, without its lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceSummary {
    pub number: String,
    pub job_id: Uuid,
    pub customer_name: String,
    pub currency: String,
    /// The price book version it was billed with (pinned at completion).
    pub price_book_version: i64,
    pub total_minor: i64,
    /// Collected on site (the job's payments).
    pub paid_minor: i64,
    /// Approved credit notes.
    pub credited_minor: i64,
    /// Approved refunds (paid back: they add to what is open).
    pub refunded_minor: i64,
    /// `total - credited - paid + refunded`; settled at or below zero.
    pub open_minor: i64,
    /// `unpaid`, `partly_paid` or `settled`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: OffsetDateTime,
    /// Whole days since issue (server clock).
    pub age_days: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub settled_at: Option<OffsetDateTime>,
    /// The largest reminder age (days) sent so far; 0: none.
    pub reminded_days: i64,
}

impl InvoiceSummary {
    fn of(r: &InvoiceRecord, now: OffsetDateTime) -> Self {
        Self {
            number: r.number.clone(),
            job_id: r.job_id.as_uuid(),
            customer_name: r.customer_name.clone(),
            currency: r.currency.clone(),
            price_book_version: r.price_book_version,
            total_minor: r.total_minor,
            paid_minor: r.paid_minor,
            credited_minor: r.credited_minor,
            refunded_minor: r.refunded_minor,
            open_minor: r.open_minor,
            state: state_of(r).into(),
            issued_at: r.issued_at,
            age_days: age_days(r, now),
            settled_at: r.settled_at,
            reminded_days: r.reminded_days,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceList {
    pub invoices: Vec<InvoiceSummary>,
}

/// One invoice with its frozen lines and totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceView {
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    /// sync-core's Invoice as frozen at completion.
    #[schema(value_type = Object)]
    pub invoice: Invoice,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListInvoicesQuery {
    /// `open` (the default: unpaid and partly paid) or `all`.
    pub state: Option<String>,
    /// At most this many, oldest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Issued invoices, oldest first (office roles).
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(ListInvoicesQuery),
    responses((status = 200, body = InvoiceList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_invoices(
    State(state): State<AppState>,
    caller: AuthUser,
    query: Result<Query<ListInvoicesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<InvoiceList>, ApiError> {
    caller.require(Permission::ManageJobs)?;
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let open_only = match q.state.as_deref() {
        None | Some("open") => true,
        Some("all") => false,
        Some(_) => return Err(ApiError::BadRequest("state: open or all".into())),
    };
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    let now = state.clock.now();
    let rows = state.store.list_invoices(open_only, limit).await?;
    Ok(axum::Json(InvoiceList {
        invoices: rows.iter().map(|r| InvoiceSummary::of(r, now)).collect(),
    }))
}

/// One invoice by its number (`INV-2026-000042`) or its job's id (office roles).
#[utoipa::path(get, path = "/v1/invoices/{key}", tag = "invoices",
    params(("key" = String, Path, description = "invoice number or job id")),
    responses((status = 200, body = InvoiceView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_invoice(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(key): Path<String>,
) -> Result<axum::Json<InvoiceView>, ApiError> {
    caller.require(Permission::ManageJobs)?;
    let r = service::find(&state, &key).await?;
    Ok(axum::Json(InvoiceView {
        summary: InvoiceSummary::of(&r, state.clock.now()),
        invoice: r.body,
    }))
}
