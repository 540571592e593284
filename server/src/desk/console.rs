//! The desk's console pages: `/console/desk` (the caller's queues),
//! `/console/desk/queues/{team}` (a team's queue, with "Take"),
//! `/console/desk/escalations` (the supervisor's board) and
//! `/console/desk/customers/{id}` (a customer's contact timeline). Each is
//! the same view as its API route, as HTML, through [`super::service`].

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use maud::{Markup, html};
use uuid::Uuid;

use super::model::Team;
use super::service;
use super::views::{ItemList, ItemUpdate, ItemView};
use crate::app::AppState;
use crate::web::layout;
use crate::web::{CsrfForm, NoFields, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/desk", get(desk_page))
        .route("/console/desk/queues/{team}", get(queue_page))
        .route("/console/desk/items/{id}/take", post(take))
        .route("/console/desk/escalations", get(board_page))
        .route("/console/desk/customers/{id}", get(timeline_page))
}

async fn desk_page(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let teams = service::teams(&state, user.principal()).await?;
    let visible = teams.visible();
    Ok(layout::page(
        &user,
        "Service desk",
        html! {
            ul.queues {
                @for t in &visible {
                    li { a href={ "/console/desk/queues/" (t) } { "Queue: " (t) } }
                }
                @if visible.iter().any(|t| teams.supervises(*t)) {
                    li { a href="/console/desk/escalations" { "Escalation board" } }
                }
            }
            @if visible.is_empty() {
                p.muted { "You belong to no team yet: an admin adds you to one." }
            }
        },
    ))
}

fn items_table(user: &WebUser, list: &ItemList, take: bool) -> Markup {
    html! {
        div.scroll tabindex="0" {
            table.items {
                thead { tr {
                    th { "Due" } th { "Priority" } th { "Category" } th { "Customer" }
                    th { "Summary" } th { "Owner" } th { "State" }
                    @if take { th { span.muted { "Action" } } } @else { th { "Escalation" } }
                } }
                tbody {
                    @for i in &list.items {
                        (row(user, i, take))
                    }
                }
            }
        }
        @if list.items.is_empty() { p.muted.empty { "Nothing open." } }
    }
}

fn row(user: &WebUser, i: &ItemView, take: bool) -> Markup {
    html! {
        tr class=(if i.overdue { "low" } else { "" }) data-item=(i.id) {
            td.due { (i.due_at.date()) " " (format!("{:02}:{:02}", i.due_at.hour(), i.due_at.minute()))
                @if i.overdue { " " span.badge { "overdue" } } }
            td { (i.priority) }
            td.category { (i.category) }
            td.customer {
                @if let Some(c) = i.customer_id {
                    a href={ "/console/desk/customers/" (c) } { (i.customer_name) }
                } @else { (i.customer_name) }
            }
            td.summary { (i.summary) }
            td.owner { (i.owner_name.as_deref().unwrap_or("–")) }
            td.state { (i.state) }
            @if take {
                td {
                    @if i.owner_id != Some(user.user_id) {
                        form method="post" action=(format!("/console/desk/items/{}/take", i.id)) {
                            (layout::csrf_field(user))
                            button type="submit" { "Take" }
                        }
                    }
                }
            } @else {
                td.reason { (i.escalation_reason.as_deref().unwrap_or("")) }
            }
        }
    }
}

async fn queue_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(team): Path<String>,
) -> Result<Markup, WebError> {
    let team: Team = team.parse().map_err(|_| WebError::NotFound)?;
    let list = service::queue(&state, user.principal(), team).await?;
    Ok(layout::page(
        &user,
        &format!("Queue: {team}"),
        items_table(&user, &list, true),
    ))
}

async fn board_page(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let list = service::board(&state, user.principal()).await?;
    Ok(layout::page(
        &user,
        "Escalation board",
        items_table(&user, &list, false),
    ))
}

async fn timeline_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Markup, WebError> {
    let id = Uuid::parse_str(&id).map_err(|_| WebError::NotFound)?;
    let (customer, list) = service::timeline(&state, user.principal(), id).await?;
    Ok(layout::page(
        &user,
        &format!("Contacts: {}", customer.name),
        html! {
            ol.timeline {
                @for c in &list.contacts {
                    li data-contact=(c.id) {
                        time { (c.created_at.date()) " " (format!("{:02}:{:02}", c.created_at.hour(), c.created_at.minute())) }
                        " " span.badge.channel { (c.channel) } " " span.direction { (c.direction) }
                        " " span.badge.category { (c.category) }
                        " → " span.team { (c.team) } " (" span.state { (c.state) } ")"
                        p.summary { (c.summary) }
                        p.muted { "Logged by " (c.logged_by_name.as_deref().unwrap_or("the server")) }
                    }
                }
            }
            @if list.contacts.is_empty() { p.muted.empty { "No contacts yet." } }
        },
    ))
}

async fn take(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm {
        user,
        form: NoFields {},
    }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    let id = Uuid::parse_str(&id).map_err(|_| WebError::NotFound)?;
    let item = service::update(
        &state,
        user.principal(),
        id,
        ItemUpdate {
            take: true,
            owner_id: None,
            state: None,
            team: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/console/desk/queues/{}", item.team)))
}
