//! The console's campaign page, `/console/recalls/{id}`: the same view as
//! `GET /v1/recalls/{id}`, as HTML.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use maud::{Markup, html};
use uuid::Uuid;

use super::service;
use super::views::RemedyState;
use crate::app::AppState;
use crate::web::layout;
use crate::web::{WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/recalls", get(campaigns_page))
        .route("/console/recalls/{id}", get(campaign_page))
}

async fn campaigns_page(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let list = service::list(&state, user.principal()).await?;
    Ok(layout::page(
        &user,
        "Recalls",
        html! {
            div.scroll tabindex="0" { table.campaigns {
                thead { tr { th { "Product" } th { "Reason" } th { "Remedy" } th { "Created" } } }
                tbody {
                    @for c in &list.campaigns {
                        tr {
                            td { a href={ "/console/recalls/" (c.id) } { (c.sku) } }
                            td { (c.reason) }
                            td { (c.remedy.as_str()) }
                            td { (c.created_at.date()) }
                        }
                    }
                }
            } }
        },
    ))
}

fn state_label(s: RemedyState) -> &'static str {
    match s {
        RemedyState::Awaiting => "awaiting",
        RemedyState::Pending => "pending",
        RemedyState::Overdue => "overdue",
        RemedyState::Remedied => "remedied",
    }
}

async fn campaign_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
) -> Result<Markup, WebError> {
    let v = service::view(&state, user.principal(), id).await?;
    let names: std::collections::HashMap<_, _> = state
        .store
        .locations()
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    let title = format!("Recall of {}", v.sku);
    Ok(layout::page(
        &user,
        &title,
        html! {
            dl.campaign {
                dt { "Reason" } dd id="reason" { (v.reason) }
                dt { "Remedy" } dd id="remedy" { (v.remedy.as_str()) }
                @if let Some(c) = &v.compensation {
                    dt { "Compensation" } dd id="compensation" { (c) }
                }
                dt { "As of" } dd id="today" { (v.today) }
            }
            div.scroll tabindex="0" { table.counts {
                thead { tr { th { "Affected" } th { "Awaiting" } th { "Pending" } th { "Overdue" } th { "Remedied" } } }
                tbody {
                    tr {
                        td id="affected" { (v.counts.affected) }
                        td id="awaiting" { (v.counts.awaiting) }
                        td id="pending" { (v.counts.pending) }
                        td id="overdue" { (v.counts.overdue) }
                        td id="remedied" { (v.counts.remedied) }
                    }
                }
            } }
            h2 { "Affected assets" }
            div.scroll tabindex="0" { table.assets {
                thead { tr { th { "Serial" } th { "Customer" } th { "Job" } th { "Replacement" } th { "Committed date" } th { "State" } } }
                tbody {
                    @for a in &v.assets {
                        tr class=(state_label(a.state)) data-serial=(a.serial) {
                            td { (a.serial) }
                            td { (a.customer_name) }
                            td { a href={ "/console/jobs/" (a.job_id) } { (a.job_status.as_deref().unwrap_or("")) } }
                            td { (a.replacement.map(|r| r.as_str()).unwrap_or("")) }
                            td { (a.committed_date.as_deref().unwrap_or("")) }
                            td.state { (state_label(a.state)) }
                        }
                    }
                }
            } }
            h2 { "Quarantined stock" }
            div.scroll tabindex="0" { table.quarantined {
                thead { tr { th { "Sku" } th { "Serial" } th { "Location" } } }
                tbody {
                    @for u in &v.quarantined {
                        tr {
                            td { (u.sku) }
                            td { (u.serial) }
                            td { (names.get(&u.location_id).map_or(String::new(), Clone::clone)) }
                        }
                    }
                }
            } }
        },
    ))
}
