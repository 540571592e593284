//! The desk's console pages: `/console/desk` (the caller's queues),
//! `/console/desk/queues/{team}` (a team's queue, with "Take"),
//! `/console/desk/escalations` (the supervisor's board) and
//! `/console/desk/customers/{id}` (a customer's contact timeline). Each is
//! the same view as its API route, as HTML, through [`super::service`].

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use maud::{Markup, html};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{DeskPriority, Team};
use super::service;
use super::views::{ItemList, ItemUpdate, ItemView, QueuePage};
use crate::app::AppState;
use crate::web::layout;
use crate::web::{CsrfForm, NoFields, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/desk", get(desk_page))
        .route("/console/desk/queues/{team}", get(queue_page))
        .route("/console/desk/items/{id}/take", post(take))
        .route("/console/desk/items/{id}/priority", post(set_priority))
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

fn items_table(user: &WebUser, list: &ItemList, take: bool, now: OffsetDateTime) -> Markup {
    html! {
        div.scroll tabindex="0" {
            table.items {
                thead { tr {
                    th { "Due" } th { "Age" } th { "Priority" } th { "Category" } th { "Customer" }
                    th { "Summary" } th { "Owner" } th { "State" }
                    @if take { th { span.muted { "Action" } } } @else { th { "Escalation" } }
                } }
                tbody {
                    @for i in &list.items {
                        (row(user, i, take, now))
                    }
                }
            }
        }
        @if list.items.is_empty() { p.muted.empty { "Nothing open." } }
    }
}

/// How long ago `at` was, in the largest whole unit: "5 min", "3 h", "2 d".
fn age(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = (now - at).max(time::Duration::ZERO);
    if d.whole_days() > 0 {
        format!("{} d", d.whole_days())
    } else if d.whole_hours() > 0 {
        format!("{} h", d.whole_hours())
    } else {
        format!("{} min", d.whole_minutes())
    }
}

fn row(user: &WebUser, i: &ItemView, take: bool, now: OffsetDateTime) -> Markup {
    html! {
        tr class=(if i.overdue { "low" } else { "" }) data-item=(i.id) {
            td.due { (i.due_at.date()) " " (format!("{:02}:{:02}", i.due_at.hour(), i.due_at.minute()))
                @if i.overdue { " " span.badge { "overdue" } } }
            td.age { time datetime=(i.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()) { (age(i.created_at, now)) } }
            td.priority {
                @if take {
                    // A closed choice posted with its CSRF token: works
                    // without JavaScript.
                    form.priority method="post" action=(format!("/console/desk/items/{}/priority", i.id)) {
                        (layout::csrf_field(user))
                        select name="priority" aria-label="Priority" {
                            @for p in PRIORITIES {
                                option value=(p) selected[p == i.priority] { (p) }
                            }
                        }
                        " " button type="submit" { "Set" }
                    }
                } @else { (i.priority) }
            }
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
                        form.take method="post" action=(format!("/console/desk/items/{}/take", i.id)) {
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

const PRIORITIES: [DeskPriority; 4] = [
    DeskPriority::Urgent,
    DeskPriority::High,
    DeskPriority::Normal,
    DeskPriority::Low,
];

async fn queue_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(team): Path<String>,
    page: Result<Query<QueuePage>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, WebError> {
    let team: Team = team.parse().map_err(|_| WebError::NotFound)?;
    // A mangled link starts from the first page.
    let page = page.map(|Query(p)| p).unwrap_or_default();
    let list = service::queue(&state, user.principal(), team, &page).await?;
    Ok(layout::page(
        &user,
        &format!("Queue: {team}"),
        html! {
            (items_table(&user, &list, true, state.clock.now()))
            nav.pages aria-label="Queue pages" {
                @if page.after.is_some() {
                    a.first href={ "/console/desk/queues/" (team) } { "First page" }
                }
                @if let Some(next) = &list.next {
                    " " a.next href={ "/console/desk/queues/" (team) "?after=" (next) } { "Next page" }
                }
            }
        },
    ))
}

async fn board_page(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let list = service::board(&state, user.principal()).await?;
    Ok(layout::page(
        &user,
        "Escalation board",
        items_table(&user, &list, false, state.clock.now()),
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
            priority: None,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/console/desk/queues/{}", item.team)))
}

#[derive(serde::Deserialize)]
struct PriorityForm {
    priority: String,
}

/// A closed choice: no free text.
impl crate::freetext::FreeText for PriorityForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// The queue page's priority form: the item's new priority (its due time
/// recomputed); the same priority again changes nothing.
async fn set_priority(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm { user, form }: CsrfForm<PriorityForm>,
) -> Result<Redirect, WebError> {
    let id = Uuid::parse_str(&id).map_err(|_| WebError::NotFound)?;
    let priority: DeskPriority = form
        .priority
        .parse()
        .map_err(|_| WebError::BadRequest("Choose urgent, high, normal or low.".into()))?;
    let item = service::item(&state, user.principal(), id).await?;
    if item.priority != priority {
        service::update(
            &state,
            user.principal(),
            id,
            ItemUpdate {
                take: false,
                owner_id: None,
                state: None,
                team: None,
                priority: Some(priority),
            },
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/console/desk/queues/{}", item.team)))
}
