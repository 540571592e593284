//! The console's approvals queue, `/console/refunds`: refunds over their
//! giver's limit, each with approve / decline and a reason (supervisors,
//! for their depots' jobs; admins).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use fieldsync_core::job::Decision;
use fieldsync_core::{JobId, LineId, Money, Permission};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::service;
use crate::app::AppState;
use crate::freetext::FreeText;
use crate::web::layout;
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/refunds", get(queue_page))
        .route("/console/refunds/{job}/{refund}", post(decide))
}

async fn queue_page(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.require(Permission::ApproveRefunds)?;
    let pending = service::queue(&state, user.principal()).await?;
    Ok(layout::page(
        &user,
        "Refunds to approve",
        html! {
            @if pending.is_empty() {
                p id="empty" { "No refund waits for approval." }
            }
            div.scroll tabindex="0" { table.refunds {
                thead { tr { th { "Customer" } th { "Kind" } th { "Amount" } th { "Reason" } th { "Given" } th { "Decision" } } }
                tbody {
                    @for p in &pending {
                        tr data-refund=(p.given.refund_id) {
                            td { (p.customer_name) }
                            td { (p.given.kind) }
                            td.amount { (Money(p.given.amount)) }
                            td { (p.given.reason) }
                            td { (p.given.recorded_at.date()) }
                            td {
                                form method="post" action={ "/console/refunds/" (p.given.job_id) "/" (p.given.refund_id) } {
                                    (layout::csrf_field(&user))
                                    input type="text" name="reason" required placeholder="Reason";
                                    button type="submit" name="decision" value="approved" { "Approve" }
                                    button type="submit" name="decision" value="declined" { "Decline" }
                                }
                            }
                        }
                    }
                }
            } }
        },
    ))
}

#[derive(Deserialize)]
struct DecisionForm {
    decision: String,
    reason: String,
}

impl FreeText for DecisionForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("reason", self.reason.as_str())]
    }
}

async fn decide(
    State(state): State<AppState>,
    Path((job, refund)): Path<(Uuid, Uuid)>,
    CsrfForm { user, form }: CsrfForm<DecisionForm>,
) -> Result<Redirect, WebError> {
    user.require(Permission::ApproveRefunds)?;
    let decision = Decision::parse(&form.decision)
        .ok_or_else(|| WebError::BadRequest("decision: approved or declined".into()))?;
    service::decide(
        &state,
        user.principal(),
        JobId::from_uuid(job),
        LineId::from_uuid(refund),
        decision,
        form.reason,
    )
    .await?;
    Ok(Redirect::to("/console/refunds"))
}
