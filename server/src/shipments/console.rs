//! The "parts to send" section of the shipping queue: the open shipments
//! from the caller's depots with their actions (mark picked, dispatch with
//! a carrier and tracking reference, mark delivered). [`parts_to_send`]
//! renders the section for the one shipping queue page, `/console/shipping`
//! (`returns::console`), beside the RMAs to receive. The section's old
//! address, `/console/shipping/parts`, redirects there (bookmarks keep
//! working). The forms post to `/console/shipping/parts/{id}/{step}` and
//! come back to the page they were on (`back`, a `/console/shipping` path).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{Shipment, ShipmentStatus, Step};
use super::service;
use super::views::{ShipmentQuery, TrackingBody};
use crate::app::AppState;
use crate::web::layout;
use crate::web::{CsrfForm, WebError, WebUser};

/// The shipping queue, which holds the section.
pub const PAGE: &str = "/console/shipping";
/// Where the section was served on its own before the queue held it.
const OLD_PAGE: &str = "/console/shipping/parts";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(OLD_PAGE, get(Redirect::permanent(PAGE)))
        .route("/console/shipping/parts/{id}/{step}", post(take_step))
}

fn status_label(s: ShipmentStatus) -> &'static str {
    match s {
        ShipmentStatus::Ordered => "ordered",
        ShipmentStatus::Picked => "picked",
        ShipmentStatus::InTransit => "in transit",
        ShipmentStatus::Delivered => "delivered",
        ShipmentStatus::Cancelled => "cancelled",
    }
}

/// The section: open shipments (ordered, picked, in transit) from the
/// depots the caller manages, oldest first, each with its next actions.
/// `back` is the page the forms return to.
pub async fn parts_to_send(
    state: &AppState,
    user: &WebUser,
    back: &str,
) -> Result<Markup, WebError> {
    let mut list = service::list(
        state,
        user.principal(),
        ShipmentQuery {
            depot: None,
            customer: None,
            status: Some("ordered,picked,in_transit".into()),
            limit: Some(500),
        },
    )
    .await?
    .shipments;
    list.reverse();
    let mut rows = Vec::with_capacity(list.len());
    for s in list {
        let customer = state.store.customer(s.customer_id).await?.name;
        let site = state.store.site(s.site_id).await?;
        let to = match &site.name {
            Some(n) => format!("{customer}, {n}: {}", site.address),
            None => format!("{customer}: {}", site.address),
        };
        rows.push((s, to));
    }
    Ok(html! {
        section #parts-to-send {
            h2 { "Parts to send" }
            @if rows.is_empty() {
                p.empty { "Nothing to send." }
            } @else {
                table.shipments {
                    thead { tr {
                        th { "To" } th { "Part" } th { "Qty" } th { "Serials" }
                        th { "Status" } th { "Tracking" } th { "Action" }
                    } }
                    tbody {
                        @for (s, to) in &rows {
                            tr data-shipment=(s.id) {
                                td.to { (to) }
                                td.sku { (s.sku) }
                                td.quantity { (s.quantity) }
                                td.serials { (s.serials.join(", ")) }
                                td.status { (status_label(s.status)) }
                                td.tracking {
                                    @if let Some(t) = &s.tracking { (t.carrier) " " (t.reference) }
                                }
                                td.actions { (actions(user, s, back)) }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// A customer's shipments, for the customer's page of the console (the
/// single view): part, status, tracking and when it left and arrived.
pub fn customer_shipments(list: &[Shipment]) -> Markup {
    let day = |t: Option<time::OffsetDateTime>| t.map(|t| t.date().to_string()).unwrap_or_default();
    html! {
        @if list.is_empty() {
            p.muted id="no-shipments" { "No parts shipped." }
        } @else {
            div.scroll tabindex="0" { table #shipments {
                thead { tr {
                    th scope="col" { "Part" } th scope="col" { "Qty" } th scope="col" { "Serials" }
                    th scope="col" { "Status" } th scope="col" { "Tracking" }
                    th scope="col" { "Dispatched" } th scope="col" { "Delivered" }
                } }
                tbody { @for s in list {
                    tr data-shipment=(s.id) {
                        td.sku { (s.sku) }
                        td.quantity { (s.quantity) }
                        td.serials { (s.serials.join(", ")) }
                        td.status { (status_label(s.status)) }
                        td.tracking { @if let Some(t) = &s.tracking { (t.carrier) " " (t.reference) } }
                        td.dispatched { (day(s.dispatched_at)) }
                        td.delivered { (day(s.delivered_at)) }
                    }
                } }
            } }
        }
    }
}

fn actions(user: &WebUser, s: &Shipment, back: &str) -> Markup {
    let action = |step: &str| format!("/console/shipping/parts/{}/{step}", s.id);
    html! {
        @if s.status == ShipmentStatus::Ordered {
            form.pick method="post" action=(action("pick")) {
                (layout::csrf_field(user))
                input type="hidden" name="back" value=(back);
                button type="submit" { "Mark picked" }
            }
        }
        @if matches!(s.status, ShipmentStatus::Ordered | ShipmentStatus::Picked) {
            form.dispatch method="post" action=(action("dispatch")) {
                (layout::csrf_field(user))
                input type="hidden" name="back" value=(back);
                label { "Carrier " input type="text" name="carrier" required maxlength="100"; }
                label { "Tracking " input type="text" name="reference" required maxlength="100"; }
                button type="submit" { "Dispatch" }
            }
        }
        @if s.status == ShipmentStatus::InTransit {
            form.deliver method="post" action=(action("deliver")) {
                (layout::csrf_field(user))
                input type="hidden" name="back" value=(back);
                button type="submit" { "Mark delivered" }
            }
        }
    }
}

#[derive(Deserialize)]
struct StepForm {
    back: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    reference: String,
}

/// The carrier's name is free text; the reference an identifier.
impl crate::freetext::FreeText for StepForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("carrier", &self.carrier)]
    }
}

async fn take_step(
    State(state): State<AppState>,
    Path((id, step)): Path<(Uuid, String)>,
    CsrfForm { user, form }: CsrfForm<StepForm>,
) -> Result<Redirect, WebError> {
    let (step, tracking) = match step.as_str() {
        "pick" => (Step::Pick, None),
        "dispatch" => (
            Step::Dispatch,
            Some(TrackingBody {
                carrier: form.carrier,
                reference: form.reference,
            }),
        ),
        "deliver" => (Step::Deliver, None),
        _ => return Err(WebError::NotFound),
    };
    service::step(&state, user.principal(), id, step, tracking).await?;
    // Only back to a shipping page (no open redirect).
    let back = if form.back.starts_with("/console/shipping") && !form.back.contains("//") {
        form.back
    } else {
        PAGE.to_owned()
    };
    Ok(Redirect::to(&back))
}
