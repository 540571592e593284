//! The console's job page, `/console/jobs/{id}`: the whole job as the
//! office needs it — summary, status history and conflicts (with who wrote
//! each value), part lines, labour, notes, checklist with answers, the bill
//! (billed with the current price book, as `GET /v1/jobs/{id}` answers),
//! payments, refunds, signature, attachments with thumbnails, and every
//! change of the document with its writer (device and user, or office
//! user) and the server's time it was stored (device clocks are shown as
//! such, never trusted). Scope as for the API: a job the user does not see
//! is a 404 page.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use fieldsync_core::billing::bill;
use fieldsync_core::{DocId, JobId, Timestamp, UserId};
use maud::{Markup, html};
use time::OffsetDateTime;
use uuid::Uuid;

use super::views::ConflictWriter;
use crate::app::AppState;
use crate::attachments::media::Media;
use crate::documents;
use crate::store::{DeviceId, StoreError};
use crate::web::layout;
use crate::web::{WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/jobs/{id}", get(job_page))
}

/// A job time in milliseconds (a window, or a device clock where the
/// column says so), to the minute.
fn time_of(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .map_or_else(|_| "?".to_owned(), layout::date_time)
}

/// Who wrote what, by actor, for this page.
struct Writers {
    by_actor: BTreeMap<String, ConflictWriter>,
    device_names: BTreeMap<Uuid, String>,
    usernames: BTreeMap<UserId, String>,
}

impl Writers {
    fn actor(&self, actor: &str) -> String {
        let Some(w) = self.by_actor.get(actor) else {
            return "unknown".into();
        };
        let user = w.username.as_deref().unwrap_or("unknown user");
        match w.kind.as_str() {
            "device" => {
                let device = w
                    .device_id
                    .and_then(|d| self.device_names.get(&d))
                    .map_or("a device", String::as_str);
                format!("{user} on {device:?}")
            }
            "office_api" => format!("{user} (office)"),
            "server" => "the server".into(),
            _ => format!("unknown actor {}", &actor[..actor.len().min(8)]),
        }
    }

    fn user(&self, id: UserId) -> String {
        self.usernames
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

async fn job_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
) -> Result<Markup, WebError> {
    let id = JobId::from_uuid(id);
    super::visible_job(&state, &user.scope(), id).await?;
    let doc_id = DocId::Job(id);
    let loaded = documents::load(state.store.as_ref(), &state.docs, &doc_id)
        .await
        .map_err(WebError::internal)?
        .ok_or(WebError::NotFound)?;
    let job = documents::job_of(&state.docs, doc_id, &loaded).map_err(WebError::internal)?;
    let book = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(WebError::internal)?;
    let invoice = book.as_deref().and_then(|b| bill(&job, b).ok());
    let changes = loaded.doc.get_changes_meta(&[]);
    let receipts: BTreeMap<_, _> = state
        .store
        .change_receipts(&doc_id)
        .await?
        .into_iter()
        .map(|r| (r.hash, r.received_at))
        .collect();
    let actors: Vec<String> = changes.iter().map(|c| c.actor.to_hex_string()).collect();
    let mut all_actors = actors.clone();
    for c in &job.conflicts {
        all_actors.extend(c.values.iter().map(|v| v.actor.clone()));
    }
    let listed = super::writers(&state, all_actors).await?;
    let mut writers = Writers {
        by_actor: BTreeMap::new(),
        device_names: BTreeMap::new(),
        usernames: BTreeMap::new(),
    };
    for w in listed {
        if let Some(d) = w.device_id {
            match state.store.device(DeviceId::from_uuid(d)).await {
                Ok(device) => {
                    writers.device_names.insert(d, device.name);
                }
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let (Some(u), Some(name)) = (w.user_id, &w.username) {
            writers.usernames.insert(UserId::from_uuid(u), name.clone());
        }
        writers.by_actor.insert(w.actor.clone(), w);
    }
    // Users the job names (line writers, the technician) who wrote no change here.
    let mut named: Vec<UserId> = job.technician.into_iter().collect();
    named.extend(job.status_history.iter().map(|s| s.by));
    named.extend(job.labour.iter().map(|l| l.by));
    named.extend(job.parts.iter().map(|p| p.by));
    named.extend(job.payments.iter().map(|p| p.by));
    named.extend(job.refunds.iter().map(|r| r.by));
    for u in named {
        if writers.usernames.contains_key(&u) {
            continue;
        }
        match state.store.user(u).await {
            Ok(account) => {
                writers.usernames.insert(u, account.username.to_string());
            }
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let hashes: Vec<String> = job.attachments.iter().map(|a| a.sha256.clone()).collect();
    let stored = state.store.stored_blobs(&hashes).await?;
    let title = format!("Job for {}", job.customer.name);
    let money = |m: fieldsync_core::Money| {
        let currency = invoice.as_ref().map_or("", |i| i.currency.as_str());
        format!("{m} {currency}")
    };
    let w = &writers;
    Ok(layout::page(
        &user,
        &title,
        html! {
            @if user.can(fieldsync_core::Permission::ManageJobs) {
                p { a href="/console/dispatch" { "Dispatch board" } }
            }
            section id="summary" aria-labelledby="summary-h" {
                h2 id="summary-h" { "Summary" }
                dl.job {
                    dt { "Status" } dd id="status" { (job.status.as_str()) }
                    dt { "Technician" } dd id="technician" {
                        (job.technician.map_or_else(|| "unassigned".to_owned(), |t| w.user(t)))
                    }
                    dt { "Window (UTC)" } dd id="window" {
                        (time_of(job.window.start)) " – " (time_of(job.window.end))
                    }
                    dt { "Priority" } dd { (job.priority.as_str()) }
                    dt { "Customer" } dd {
                        @if let Some(c) = job.registry.customer {
                            a href=(format!("/console/customers/{c}")) { (job.customer.name) }
                        } @else { (job.customer.name) }
                    }
                    dt { "Site" } dd { (job.site.address) }
                    dt { "Asset" } dd { (job.asset.product) @if let Some(s) = &job.asset.serial { " (" (s) ")" } }
                    dt { "Problem" } dd { (job.problem) }
                    @if let Some(r) = &job.cancel_reason { dt { "Cancelled because" } dd { (r) } }
                    @if let Some(r) = &job.unable_reason { dt { "Not completed because" } dd { (r) } }
                }
            }

            section id="status-history" aria-labelledby="history-h" {
                h2 id="history-h" { "Status history" }
                @if job.status_history.is_empty() { p.muted { "No status changes yet." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "By" } th scope="col" { "Device clock" } } }
                        tbody { @for s in &job.status_history {
                            tr {
                                td { (s.from.map_or("—", |f| f.as_str())) }
                                td { (s.to.as_str()) }
                                td { (w.user(s.by)) " (" (s.role.as_str()) ")" }
                                td { (time_of(s.device_time)) }
                            }
                        } }
                    } }
                }
                @if !job.status_conflicts.is_empty() {
                    p.error id="status-conflicts" {
                        "Concurrent statuses that lost to " (job.status.as_str()) ": "
                        @for (i, s) in job.status_conflicts.iter().enumerate() {
                            @if i > 0 { ", " } (s.as_str())
                        }
                    }
                }
            }

            section id="conflicts" aria-labelledby="conflicts-h" {
                h2 id="conflicts-h" { "Conflicts" }
                @if job.conflicts.is_empty() { p.muted { "No field holds concurrent values." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Value" } th scope="col" { "Written by" } th scope="col" { "Shown" } } }
                        tbody { @for c in &job.conflicts {
                            @for (i, v) in c.values.iter().enumerate() {
                                tr data-field=(c.field) {
                                    td { (c.field) }
                                    td { code { (v.value.to_string()) } }
                                    td.writer { (w.actor(&v.actor)) }
                                    td { @if i == 0 { "shown" } @else { "lost" } }
                                }
                            }
                        } }
                    } }
                    p.muted { "Keep one value with POST /v1/jobs/" (id) "/conflicts/resolve." }
                }
            }

            section id="parts" aria-labelledby="parts-h" {
                h2 id="parts-h" { "Part lines" }
                @if job.parts.is_empty() { p.muted { "No parts used." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Part" } th scope="col" class="num" { "Quantity" } th scope="col" { "Serials" } th scope="col" { "By" } th scope="col" { "Device clock" } } }
                        tbody { @for p in &job.parts {
                            tr class=(if p.voided { "voided" } else { "" }) {
                                td { (p.sku) @if p.voided { " " span.badge { "voided" } } }
                                td.num { (p.quantity.get()) }
                                td { (p.serials.join(", ")) }
                                td { (w.user(p.by)) }
                                td { (time_of(p.device_time)) }
                            }
                        } }
                    } }
                }
            }

            section id="labour" aria-labelledby="labour-h" {
                h2 id="labour-h" { "Labour" }
                @if job.labour.is_empty() { p.muted { "No labour recorded." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Description" } th scope="col" class="num" { "Minutes" } th scope="col" { "Rate" } th scope="col" { "By" } th scope="col" { "Device clock" } } }
                        tbody { @for l in &job.labour {
                            tr {
                                td { (l.description) @if l.voided { " " span.badge { "voided" } } }
                                td.num { (l.minutes) }
                                td { (l.rate) }
                                td { (w.user(l.by)) }
                                td { (time_of(l.device_time)) }
                            }
                        } }
                    } }
                }
            }

            section id="notes" aria-labelledby="notes-h" {
                h2 id="notes-h" { "Notes" }
                @if job.notes.is_empty() { p.muted { "No notes." } } @else { pre.notes { (job.notes) } }
            }

            section id="checklist" aria-labelledby="checklist-h" {
                h2 id="checklist-h" { "Checklist" }
                @if job.checklist.is_empty() { p.muted { "No checklist." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Question" } th scope="col" { "Answer" } th scope="col" { "By" } } }
                        tbody { @for q in &job.checklist {
                            tr {
                                td { (q.question) @if q.required { " " span.badge { "required" } } }
                                @if let Some(a) = &q.answer {
                                    td.answer { (a.value) }
                                    td { (w.user(a.by)) ", device " (time_of(a.device_time)) }
                                } @else {
                                    td.answer.muted { "not answered" } td {}
                                }
                            }
                        } }
                    } }
                }
            }

            section id="bill" aria-labelledby="bill-h" {
                h2 id="bill-h" { "Bill" }
                @if let Some(i) = &invoice {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Line" } th scope="col" class="num" { "Quantity" } th scope="col" class="num" { "Unit" } th scope="col" class="num" { "Amount" } th scope="col" { "Covered by" } th scope="col" class="num" { "Charged" } } }
                        tbody { @for l in &i.lines {
                            tr {
                                td { (l.description) }
                                td.num { (l.quantity) }
                                td.num { (l.unit_price) }
                                td.num { (l.amount) }
                                td { @match &l.covered_by {
                                    Some(fieldsync_core::billing::Coverage::Warranty) => "warranty",
                                    Some(fieldsync_core::billing::Coverage::Contract(c)) => { "contract " (c) },
                                    None => "",
                                } }
                                td.num { (l.charged) }
                            }
                        } }
                    } }
                    dl.job.totals {
                        dt { "Subtotal" } dd { (money(i.subtotal)) }
                        dt { "Tax" } dd { (money(i.tax)) }
                        dt { "Total" } dd id="total" { (money(i.total)) }
                        dt { "Paid" } dd id="paid" { (money(i.paid)) }
                        dt { "Refunded" } dd id="refunded" { (money(i.refunded)) }
                        dt { "Credited" } dd { (money(i.credited)) }
                        dt { "Refunds pending" } dd { (money(i.pending_refunds)) }
                        dt { "Balance due" } dd id="balance" { (money(i.balance_due)) }
                    }
                    p.muted { "Billed with price book version " (i.price_book_version) "." }
                    @for warning in &i.warnings { p.error { (warning) } }
                } @else {
                    p.muted { "No bill: no price book yet, or the job cannot be billed with it." }
                }
            }

            section id="payments" aria-labelledby="payments-h" {
                h2 id="payments-h" { "Payments" }
                @if job.payments.is_empty() { p.muted { "No payments." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Method" } th scope="col" class="num" { "Amount" } th scope="col" { "Reference" } th scope="col" { "By" } th scope="col" { "Device clock" } } }
                        tbody { @for p in &job.payments {
                            tr {
                                td { (p.method.as_str()) }
                                td.num { (money(p.amount)) }
                                td { (p.reference.as_deref().unwrap_or("")) }
                                td { (w.user(p.by)) }
                                td { (time_of(p.device_time)) }
                            }
                        } }
                    } }
                }
            }

            section id="refunds" aria-labelledby="refunds-h" {
                h2 id="refunds-h" { "Refunds and credit notes" }
                @if job.refunds.is_empty() { p.muted { "No refunds." } } @else {
                    div.scroll { table {
                        thead { tr { th scope="col" { "Kind" } th scope="col" class="num" { "Amount" } th scope="col" { "State" } th scope="col" { "Reason" } th scope="col" { "By" } } }
                        tbody { @for r in &job.refunds {
                            tr {
                                td { (r.kind.as_str()) }
                                td.num { (money(r.amount)) }
                                td.state { (r.state().as_str()) }
                                td { (r.reason) }
                                td { (w.user(r.by)) " (" (r.role.as_str()) ")" }
                            }
                        } }
                    } }
                }
            }

            section id="signature" aria-labelledby="signature-h" {
                h2 id="signature-h" { "Signature" }
                @if let Some(s) = &job.signature {
                    p { "Signed by " strong { (s.signer) } " (device clock " (time_of(s.device_time)) ")." }
                    @if stored.contains(&s.image_sha256) {
                        p { a href=(format!("/console/jobs/{id}/attachments/{}", s.image_sha256)) { "Signature image" } }
                    }
                } @else { p.muted { "Not signed yet." } }
            }

            section id="attachments" aria-labelledby="attachments-h" {
                h2 id="attachments-h" { "Attachments" }
                @if job.attachments.is_empty() {
                    p.muted { "No attachments." }
                }
                div.attachments {
                    @for a in &job.attachments {
                        @let uploaded = stored.contains(&a.sha256);
                        @let base = format!("/console/jobs/{id}/attachments/{}", a.sha256);
                        @let image = Media::from_mime(&a.media_type).is_some_and(Media::has_thumbnail);
                        figure.attachment data-sha256=(a.sha256) {
                            @if uploaded && image {
                                a href=(base) {
                                    img src=(format!("{base}/thumbnail")) alt=(if a.caption.is_empty() { a.kind.as_str() } else { a.caption.as_str() });
                                }
                            } @else if uploaded {
                                a href=(base) { "Download " (a.media_type) }
                            } @else {
                                span.muted.pending { "Not uploaded yet" }
                            }
                            figcaption {
                                span.badge { (a.kind.as_str()) }
                                " " (a.caption)
                            }
                        }
                    }
                }
            }

            section id="changes" aria-labelledby="changes-h" {
                h2 id="changes-h" { "Changes" }
                p.muted { "Every change to the job's document, in the order they apply: what it did, who wrote it on which device, and when the server stored it (its clock; the device's clock is shown apart, never trusted)." }
                div.scroll { table {
                    thead { tr { th scope="col" { "Change" } th scope="col" { "Written by" } th scope="col" { "Synced (server)" } th scope="col" { "Device clock" } } }
                    tbody { @for (c, actor) in changes.iter().zip(&actors) {
                        tr.change data-hash=(c.hash.to_string()) {
                            td.what { (c.message.as_deref().unwrap_or("change")) }
                            td.writer { (w.actor(actor)) }
                            td.synced { (receipts.get(&c.hash).map_or_else(|| "before sync times were kept".to_owned(), |t| layout::date_time(*t))) }
                            td { (time_of(Timestamp(c.timestamp))) }
                        }
                    } }
                } }
            }
        },
    ))
}
