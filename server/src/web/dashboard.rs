//! The console's home page: the numbers of the day for what the user may
//! see (jobs by status, stock that is low or negative, feedback and its
//! follow-ups, sync health), then the menu. Every number is read the way
//! the API and the other pages read it, so they agree.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use fieldsync_core::Status;
use maud::{Markup, html};

use super::error::WebError;
use super::layout::{self, NAV};
use super::session::WebUser;
use crate::app::AppState;
use crate::authz::Permission;
use crate::feedback::RequestFilter;
use crate::inventory::service::{self, StockStatus};
use crate::store::now_utc;

/// The feedback period counted, as on the API's and the feedback page's default.
const FEEDBACK_DAYS: i64 = 90;

pub fn router() -> Router<AppState> {
    Router::new().route("/console", get(home))
}

fn status_label(s: Status) -> &'static str {
    match s {
        Status::Scheduled => "Scheduled",
        Status::Travelling => "Travelling",
        Status::OnSite => "On site",
        Status::Completed => "Completed",
        Status::UnableToComplete => "Unable to complete",
        Status::Cancelled => "Cancelled",
    }
}

/// One figure: a row whose cell has an id tests and scripts can read.
fn figure(id: &str, label: &str, n: impl std::fmt::Display) -> Markup {
    html! { tr { th scope="row" { (label) } td.num id=(id) { (n) } } }
}

async fn jobs(state: &AppState) -> Result<Markup, WebError> {
    let counts = state.store.count_jobs_by_status().await?;
    let count = |s: Status| counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
    Ok(html! {
        section aria-labelledby="jobs-heading" {
            h2 id="jobs-heading" { "Jobs" }
            table id="jobs-by-status" {
                thead { tr { th scope="col" { "Status" } th.num scope="col" { "Jobs" } } }
                tbody {
                    @for s in Status::ALL {
                        (figure(&format!("jobs-{}", s.as_str()), status_label(s), count(s)))
                    }
                }
            }
        }
    })
}

async fn stock(state: &AppState, user: &WebUser) -> Result<Markup, WebError> {
    let scope = user.scope().locations(state.store.as_ref()).await?;
    let rows = service::stock_rows(state, &scope, None).await?;
    let count = |s: StockStatus| rows.iter().filter(|r| r.status == s).count();
    Ok(html! {
        section aria-labelledby="stock-heading" {
            h2 id="stock-heading" { "Stock" }
            table id="stock-figures" {
                thead { tr { th scope="col" { "Items" } th.num scope="col" { "Count" } } }
                tbody {
                    (figure("stock-low", "Below their reorder point", count(StockStatus::Low)))
                    (figure("stock-negative", "Negative (used more than held)", count(StockStatus::Negative)))
                }
            }
            p { a href="/console/inventory/stock" { "See the stock" } }
        }
    })
}

async fn feedback(state: &AppState, user: &WebUser) -> Result<Markup, WebError> {
    let depots = user.scope().depots(state.store.as_ref()).await?;
    let requests = state
        .store
        .feedback_requests(&RequestFilter {
            from: Some(now_utc() - time::Duration::days(FEEDBACK_DAYS)),
            depots: depots.clone(),
            ..RequestFilter::default()
        })
        .await?;
    let answered = requests.iter().filter(|r| r.answer.is_some()).count();
    let open = state.store.followups(depots.as_deref(), true).await?.len();
    Ok(html! {
        section aria-labelledby="feedback-heading" {
            h2 id="feedback-heading" { "Customer feedback (last " (FEEDBACK_DAYS) " days)" }
            table id="feedback-figures" {
                thead { tr { th scope="col" { "Feedback" } th.num scope="col" { "Count" } } }
                tbody {
                    (figure("feedback-requests", "Asked", requests.len()))
                    (figure("feedback-answers", "Answered", answered))
                    (figure("followups-open", "Low results to follow up", open))
                }
            }
            p { a href="/console/feedback/followups" { "See the follow-ups" } }
        }
    })
}

async fn sync_health(state: &AppState) -> Result<Markup, WebError> {
    let hours = state.settings.stale_device_hours;
    let h = crate::users::service::health(state, hours).await?;
    Ok(html! {
        section aria-labelledby="sync-heading" {
            h2 id="sync-heading" { "Sync" }
            table id="sync-figures" {
                thead { tr { th scope="col" { "Sync health" } th.num scope="col" { "Count" } } }
                tbody {
                    (figure("jobs-rejected", "Jobs with a change sync refused", h.jobs_with_rejections))
                    (figure("devices-stale", &format!("Devices not synced in {hours} hours"), h.stale_devices))
                }
            }
            p { a href="/console/sync-health" { "See sync health" } }
        }
    })
}

async fn home(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let jobs = match user.can(Permission::ManageJobs) {
        true => Some(jobs(&state).await?),
        false => None,
    };
    let stock = match user.can(Permission::ManageStock) {
        true => Some(stock(&state, &user).await?),
        false => None,
    };
    let feedback = match user.can(Permission::ViewFeedback) {
        true => Some(feedback(&state, &user).await?),
        false => None,
    };
    let sync = match user.can(Permission::ManageUsers) {
        true => Some(sync_health(&state).await?),
        false => None,
    };
    Ok(layout::page(
        &user,
        "Console",
        html! {
            div.dashboard {
                @if let Some(m) = jobs { (m) }
                @if let Some(m) = stock { (m) }
                @if let Some(m) = feedback { (m) }
                @if let Some(m) = sync { (m) }
            }
            nav aria-label="Console pages" {
                h2 { "Pages" }
                ul { @for (href, label, permission) in NAV { @if user.can(*permission) {
                    li { a href=(href) { (label) } }
                } } }
                @if !NAV.iter().any(|(_, _, p)| user.can(*p)) {
                    p.muted { "There are no console pages for your role." }
                }
            }
        },
    ))
}
