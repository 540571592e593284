//! The invoice as people see it: one renderer ([`invoice_html`]) for the
//! printable page (the office's `/console/invoices/{number}` and the
//! customer's `/invoice/{token}`) and the email; the finance console's
//! list of open invoices (`/console/invoices`).
//!
//! The text lives here, in one place, so company branding and the message
//! catalogues can take it over without touching the rest.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldsync_core::Money;
use fieldsync_core::billing::{Coverage, Invoice};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::InvoiceSettings;
use super::service;
use super::store::{InvoiceKey, InvoiceRecord, InvoiceStore};
use crate::app::AppState;
use crate::feedback::{MessageKind, OutboxMessage, hash_token, new_token};
use crate::outbox::{Composed, SendError};
use crate::web::layout;
use crate::web::{WebError, WebUser};
use fieldsync_core::Permission;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/invoices", get(list_page))
        .route("/console/invoices/{key}", get(office_page))
        .route("/invoice/{token}", get(customer_page))
}

/// Styles of the printable invoice (page and email): plain, high contrast.
const PRINT_CSS: &str = r#"
body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d232a;background:#fff}
main{max-width:48rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:0 0 .5rem}table{width:100%;border-collapse:collapse}
th,td{padding:.4rem .5rem;border-bottom:1px solid #c9ced4;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tfoot th,tfoot td{border-bottom:0}tr.open th,tr.open td{font-weight:700;border-top:2px solid #1d232a}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.muted{color:#4b5560}@media print{.noprint{display:none}main{padding:0}}
"#;

/// The invoice's table inside the console (the frame styles the rest).
const PRINT_CSS_CONSOLE: &str = "article.invoice table{background:#fff}tr.open th,tr.open td{font-weight:700}\
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}";

fn amount(currency: &str, m: i64) -> String {
    format!("{} {currency}", Money(m))
}

/// The invoice itself: number, dates, lines, totals and what is open.
/// `heading`: with its own `h1` (a page or email of its own; inside the
/// console the page's title is the heading).
pub fn invoice_html(r: &InvoiceRecord, heading: bool) -> Markup {
    let inv: &Invoice = &r.body;
    let cur = r.currency.as_str();
    html! {
        article.invoice {
            @if heading { h1 { "Invoice " (r.number) } }
            dl.meta {
                dt { "Invoice number" } dd id="invoice-number" { (r.number) }
                dt { "Customer" } dd { (r.customer_name) }
                dt { "Issued" } dd { (r.issued_at.date()) }
                @if let Some(d) = inv.visit_date { dt { "Visit" } dd { (d) } }
                dt { "Price book" } dd { "version " (r.price_book_version) }
            }
            table.lines {
                caption.muted { "Lines as billed when the visit completed" }
                thead { tr { th scope="col" { "Description" } th.num scope="col" { "Quantity" }
                    th.num scope="col" { "Unit price" } th.num scope="col" { "Amount" } } }
                tbody {
                    @for l in &inv.lines {
                        tr {
                            td { (l.description)
                                @match &l.covered_by {
                                    Some(Coverage::Warranty) => { " (covered by warranty)" }
                                    Some(Coverage::Contract(c)) => { " (covered by contract " (c) ")" }
                                    None => {}
                                }
                            }
                            td.num { (l.quantity) }
                            td.num { (amount(cur, l.unit_price.0)) }
                            td.num { (amount(cur, l.charged.0)) }
                        }
                    }
                }
                tfoot {
                    tr { th scope="row" colspan="3" { "Subtotal" } td.num id="subtotal" { (amount(cur, inv.subtotal.0)) } }
                    tr { th scope="row" colspan="3" { "Tax (" (Money(i64::from(inv.tax_rate_bps))) " %)" } td.num { (amount(cur, inv.tax.0)) } }
                    tr { th scope="row" colspan="3" { "Total" } td.num id="total" { (amount(cur, r.total_minor)) } }
                    @if r.paid_minor != 0 { tr { th scope="row" colspan="3" { "Paid on site" } td.num id="paid" { "-" (amount(cur, r.paid_minor)) } } }
                    @if r.credited_minor != 0 { tr { th scope="row" colspan="3" { "Credit notes" } td.num { "-" (amount(cur, r.credited_minor)) } } }
                    @if r.refunded_minor != 0 { tr { th scope="row" colspan="3" { "Refunded" } td.num { (amount(cur, r.refunded_minor)) } } }
                    tr.open { th scope="row" colspan="3" { "Amount due" } td.num id="open" { (amount(cur, r.open_minor.max(0))) } }
                }
            }
        }
    }
}

/// The customer's printable page of the invoice (no console around it).
fn printable(r: &InvoiceRecord) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Invoice " (r.number) }
                style { (PreEscaped(PRINT_CSS)) }
            }
            body { main { (invoice_html(r, true)) } }
        }
    }
}

/// Customer pages carry no referrer and are not cached (the URL holds a token).
fn private(markup: Markup) -> Response {
    let mut resp = markup.into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn customer_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let found = if token.len() > 100 {
        Ok(None)
    } else {
        state
            .store
            .invoice_by_token(&hash_token(&token), state.clock.now())
            .await
    };
    match found {
        Ok(Some(r)) => private(printable(&r)),
        Ok(None) => (
            axum::http::StatusCode::NOT_FOUND,
            private(layout::bare_page(
                "Invoice not found",
                html! { p { "This link is not valid or has expired. Please contact us for a copy of your invoice." } },
            )),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading an invoice by token failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn office_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(key): Path<String>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageJobs)?;
    let r = service::find(&state, &key).await?;
    // The console's frame prints without its menu (the layout's print styles).
    Ok(layout::page(
        &user,
        &format!("Invoice {}", r.number),
        html! {
            style { (PreEscaped(PRINT_CSS_CONSOLE)) }
            (invoice_html(&r, false))
            p.noprint { a href="/console/invoices" { "Back to open invoices" } }
        },
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list_page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<ListQuery>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageJobs)?;
    let all = q.state.as_deref() == Some("all");
    let rows = state.store.list_invoices(!all, 500).await?;
    let now = state.clock.now();
    Ok(layout::page(
        &user,
        if all { "Invoices" } else { "Open invoices" },
        html! {
            p {
                @if all { a href="/console/invoices" { "Show open invoices only" } }
                @else { a href="/console/invoices?state=all" { "Show all invoices" } }
            }
            @if rows.is_empty() { p id="empty" { "No invoice is open." } }
            div.scroll {
                table.invoices {
                    thead { tr {
                        th scope="col" { "Number" } th scope="col" { "Customer" } th scope="col" { "Issued" }
                        th.num scope="col" { "Age (days)" } th.num scope="col" { "Total" }
                        th.num scope="col" { "Open" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for r in &rows {
                            tr data-invoice=(r.number) {
                                td { a href={ "/console/invoices/" (r.number) } { (r.number) } }
                                td { (r.customer_name) }
                                td { (r.issued_at.date()) }
                                td.num.age { (service::age_days(r, now)) }
                                td.num { (amount(&r.currency, r.total_minor)) }
                                td.num.open { (amount(&r.currency, r.open_minor.max(0))) }
                                td { (service::state_of(r)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The invoice email or a reminder, composed at send time with a fresh
/// link to the printable page (the token is minted per attempt and stored
/// hashed, so no usable token rests in the outbox).
pub async fn compose(
    store: &dyn InvoiceStore,
    settings: &InvoiceSettings,
    public_url: &str,
    message: &OutboxMessage,
    now: OffsetDateTime,
) -> Result<Composed, SendError> {
    let job = message
        .invoice_id
        .ok_or_else(|| SendError::Permanent("invoice message without an invoice".into()))?;
    let r = store
        .invoice(&InvoiceKey::Job(fieldsync_core::JobId::from_uuid(job)))
        .await?
        .ok_or_else(|| SendError::Permanent("invoice not found".into()))?;
    let reminder = message.kind == MessageKind::InvoiceReminder;
    if reminder && r.open_minor <= 0 {
        // Settled since it was queued: nothing to remind of.
        return Err(SendError::Permanent(
            "invoice settled before the reminder went out".into(),
        ));
    }
    let (token, hash) = new_token();
    let expires = now + Duration::days(i64::from(settings.invoice_link_days.max(1)));
    store.insert_invoice_token(r.job_id, &hash, expires).await?;
    let link = format!("{public_url}/invoice/{token}");
    let due = amount(&r.currency, r.open_minor.max(0));
    let total = amount(&r.currency, r.total_minor);
    let subject = if reminder {
        format!("Reminder: invoice {} ({due} due)", r.number)
    } else {
        format!("Your invoice {} ({total})", r.number)
    };
    let intro = if reminder {
        format!(
            "This is a reminder that invoice {} of {} still has {due} to pay.",
            r.number,
            r.issued_at.date()
        )
    } else {
        format!(
            "Thank you for having us. Here is invoice {} for the visit.",
            r.number
        )
    };
    let text =
        format!("{intro}\n\nTotal: {total}\nAmount due: {due}\n\nView or print it: {link}\n");
    let html = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; style { (PreEscaped(PRINT_CSS)) } }
            body {
                p { (intro) }
                (invoice_html(&r, true))
                p { "View or print it: " a href=(link) { (link) } }
            }
        }
    }
    .into_string();
    Ok(Composed {
        sms: subject.clone(),
        subject,
        text,
        html,
    })
}
