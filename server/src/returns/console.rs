//! The console's shipping queue, `/console/shipping` (the shipping team:
//! inventory managers for the depots they staff, supervisors, admins): the
//! "RMAs to receive" section with a receipt form per return, the "Parts to
//! send" section of `shipments` (its forms come back here), and each
//! return's printable packing slip.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fieldsync_core::{LocationId, Permission};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{Disposition, ReturnRow, ReturnStatus};
use super::service;
use crate::app::AppState;
use crate::authz::Scope;
use crate::inventory::LocationKind;
use crate::web::layout;
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/shipping", get(queue_page))
        .route("/console/shipping/returns/{id}/receive", post(receive))
        .route("/console/shipping/returns/{id}/slip", get(packing_slip))
}

#[derive(Deserialize)]
struct QueueQuery {
    received: Option<String>,
}

/// The depots the user may receive at, by name.
async fn depots(state: &AppState, user: &WebUser) -> Result<Vec<(LocationId, String)>, WebError> {
    let scope = Scope::of(user.principal())
        .locations(state.store.as_ref())
        .await?;
    let mut out: Vec<(LocationId, String)> = state
        .store
        .locations()
        .await?
        .into_iter()
        .filter(|l| l.kind == LocationKind::Depot && scope.can_manage(l.id))
        .map(|l| (l.id, l.name))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

async fn names(state: &AppState) -> Result<HashMap<LocationId, String>, WebError> {
    Ok(state
        .store
        .locations()
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect())
}

fn queue(
    user: &WebUser,
    open: &[ReturnRow],
    depots: &[(LocationId, String)],
    names: &HashMap<LocationId, String>,
    parts_to_send: Markup,
    message: Option<(&str, &str)>,
) -> Markup {
    layout::page(
        user,
        "Shipping queue",
        html! {
            @if let Some((class, text)) = message {
                p class=(class) id="message" { (text) }
            }
            section id="rmas-to-receive" {
                h2 { "RMAs to receive" }
                @if open.is_empty() {
                    p.muted id="no-rmas" { "No returns to receive." }
                } @else {
                    div.scroll tabindex="0" {
                        table.rmas {
                            thead { tr {
                                th { "RMA" } th { "Part" } th { "Serial" } th { "Condition" }
                                th { "Reason" } th { "To depot" } th { "Opened" } th { "Receive" }
                            } }
                            tbody {
                                @for r in open {
                                    tr data-rma=(r.rma_number) {
                                        td.rma { a href={ "/console/shipping/returns/" (r.ret.id) "/slip" } { (r.rma_number) } }
                                        td { (r.ret.sku) }
                                        td.serial { (r.ret.serial) }
                                        td { (r.ret.condition.as_str()) }
                                        td { (r.ret.reason) }
                                        td { (r.ret.depot_id.and_then(|d| names.get(&d).cloned()).unwrap_or_default()) }
                                        td { (layout::date_time(r.opened_at)) }
                                        td {
                                            form.receive method="post" action={ "/console/shipping/returns/" (r.ret.id) "/receive" } {
                                                (layout::csrf_field(user))
                                                // A fresh id per rendering: submitting twice records once.
                                                input type="hidden" name="movement_id" value=(Uuid::new_v4());
                                                select name="depot_id" aria-label="Depot" {
                                                    @for (id, name) in depots {
                                                        option value=(id) selected[r.ret.depot_id == Some(*id)] { (name) }
                                                    }
                                                }
                                                select name="disposition" aria-label="Disposition" {
                                                    option value="restock" { "Restock" }
                                                    option value="refurbish" { "Refurbish" }
                                                    option value="scrap" { "Scrap" }
                                                }
                                                button type="submit" { "Receive" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (parts_to_send)
        },
    )
}

/// The shipments' "Parts to send" section, its forms coming back here.
async fn parts_to_send(state: &AppState, user: &WebUser) -> Result<Markup, WebError> {
    crate::shipments::console::parts_to_send(state, user, "/console/shipping").await
}

async fn queue_page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<QueueQuery>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageStock)?;
    let open = service::list(&state, user.principal(), Some(ReturnStatus::Open)).await?;
    let depots = depots(&state, &user).await?;
    let names = names(&state).await?;
    let parts = parts_to_send(&state, &user).await?;
    let done = q.received.map(|n| format!("Received {n}."));
    Ok(queue(
        &user,
        &open,
        &depots,
        &names,
        parts,
        done.as_deref().map(|t| ("ok", t)),
    ))
}

#[derive(Deserialize)]
struct ReceiveForm {
    movement_id: Uuid,
    depot_id: Uuid,
    disposition: String,
}

/// Ids and a closed choice: no free text.
impl crate::freetext::FreeText for ReceiveForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

async fn receive(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<ReceiveForm>,
) -> Result<Response, WebError> {
    user.require(Permission::ManageStock)?;
    let again = async |status: StatusCode, msg: &str| -> Result<Response, WebError> {
        let open = service::list(&state, user.principal(), Some(ReturnStatus::Open)).await?;
        let depots = depots(&state, &user).await?;
        let names = names(&state).await?;
        let parts = parts_to_send(&state, &user).await?;
        Ok((
            status,
            queue(&user, &open, &depots, &names, parts, Some(("error", msg))),
        )
            .into_response())
    };
    let Ok(disposition) = form.disposition.parse::<Disposition>() else {
        return again(
            StatusCode::BAD_REQUEST,
            "Choose restock, refurbish or scrap.",
        )
        .await;
    };
    match service::receive(
        &state,
        user.principal(),
        id,
        form.movement_id,
        LocationId::from_uuid(form.depot_id),
        disposition,
    )
    .await
    {
        Ok(row) => Ok(
            Redirect::to(&format!("/console/shipping?received={}", row.rma_number)).into_response(),
        ),
        Err(crate::error::ApiError::BadRequest(msg)) => again(StatusCode::BAD_REQUEST, &msg).await,
        Err(crate::error::ApiError::Conflict(msg)) => again(StatusCode::CONFLICT, &msg).await,
        Err(e) => Err(e.into()),
    }
}

/// Printed and put in the box: big RMA number, what is inside, where it goes.
const SLIP_CSS: &str = r#"
body{font:15px/1.4 system-ui,sans-serif;color:#000;margin:2rem}
.slip{max-width:40rem;border:2px solid #000;padding:1.5rem}
h1{font-size:1.1rem;margin:0 0 .5rem}.number{font:700 2.2rem/1.1 ui-monospace,monospace;letter-spacing:.05em;margin:.2rem 0 1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
.hint{color:#555;margin-top:1rem}
@media print{body{margin:0}.hint{display:none}.slip{border-width:1px}@page{size:A5;margin:12mm}}
"#;

async fn packing_slip(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageStock)?;
    let r = service::get(&state, user.principal(), id).await?;
    let names = names(&state).await?;
    let depot = r
        .ret
        .depot_id
        .and_then(|d| names.get(&d).cloned())
        .unwrap_or_else(|| "(choose at receipt)".into());
    Ok(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Packing slip " (r.rma_number) " · Fieldsync" }
                style { (PreEscaped(SLIP_CSS)) }
            }
            body { main {
                div.slip {
                    h1 { "Return packing slip" }
                    div.number id="rma-number" { (r.rma_number) }
                    dl {
                        dt { "Part" } dd id="sku" { (r.ret.sku) }
                        dt { "Serial" } dd id="serial" { (r.ret.serial) }
                        dt { "Condition" } dd id="condition" { (r.ret.condition.as_str()) }
                        dt { "Reason" } dd id="reason" { (r.ret.reason) }
                        dt { "Ship to" } dd id="depot" { (depot) }
                        @if let Some(job) = r.ret.job_id {
                            dt { "Job" } dd id="job" { (job) }
                        }
                        dt { "Opened" } dd { (layout::date_time(r.opened_at)) " UTC" }
                    }
                }
                p.hint { "Print this page (Ctrl+P) and put it in the box with the unit." }
            } }
        }
    })
}
