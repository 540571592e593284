//! Console pages for supervisors (their depots) and admins (all):
//! `/console/feedback` (results, trend chart, comments) and
//! `/console/feedback/followups` (low results to follow up).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use maud::{Markup, html};
use uuid::Uuid;

use super::RequestFilter;
use super::questions::{COMMENT, FIXED, RATING};
use super::stats::{self, Summary};
use crate::app::AppState;
use crate::authz::Permission;
use crate::store::now_utc;
use crate::web::layout;
use crate::web::{CsrfForm, NoFields, WebError, WebUser};

/// Periods offered, in days.
const PERIODS: [i64; 4] = [7, 30, 90, 365];
/// Comments shown on the results page.
const MAX_COMMENTS: usize = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/feedback", get(results))
        .route("/console/feedback/followups", get(followups))
        .route("/console/feedback/followups/{id}/resolve", post(resolve))
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0}%", v * 100.0))
        .unwrap_or_else(|| "–".into())
}

fn num(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into())
}

fn summary_table(id: &str, first: &str, rows: &[Summary]) -> Markup {
    html! {
        div.scroll tabindex="0" {
            table id=(id) {
                thead {
                    tr {
                        th scope="col" {
                            @if first.is_empty() { span.visually-hidden { "Scope" } } @else { (first) }
                        }
                        th.num scope="col" { "Requests" }
                        th.num scope="col" { "Responses" }
                        th.num scope="col" { "Response rate" }
                        th.num scope="col" { "Rating (1-5)" }
                        th.num scope="col" { "Courtesy (1-5)" }
                        th.num scope="col" { "Fixed" }
                        th.num scope="col" { "NPS" }
                    }
                }
                tbody {
                    @for s in rows {
                        tr {
                            th scope="row" { (s.name) }
                            td.num { (s.requests) }
                            td.num { (s.responses) }
                            td.num { (pct(s.response_rate)) }
                            td.num { (num(s.avg_rating)) }
                            td.num { (num(s.avg_courtesy)) }
                            td.num { (pct(s.fixed_rate)) }
                            td.num { (s.nps.map(|n| format!("{n:.0}")).unwrap_or_else(|| "–".into())) }
                        }
                    }
                }
            }
        }
    }
}

async fn results(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, WebError> {
    user.require(Permission::ViewFeedback)?;
    let days = q
        .get("days")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| PERIODS.contains(d))
        .unwrap_or(90);
    let depots = user.scope().depots(state.store.as_ref()).await?;
    let rows = state
        .store
        .feedback_requests(&RequestFilter {
            from: Some(now_utc() - time::Duration::days(days)),
            depots,
            ..RequestFilter::default()
        })
        .await?;
    let overall = stats::summarize(None, "All".into(), &rows);
    let by_tech = stats::by_technician(&rows);
    let by_depot = stats::by_depot(&rows, &state.store.depots().await?);
    let trend = stats::weekly_trend(&rows);
    let comments: Vec<_> = rows
        .iter()
        .filter_map(|r| r.answer.as_ref().map(|a| (r, a)))
        .filter(|(_, a)| !a.text(COMMENT).is_empty())
        .take(MAX_COMMENTS)
        .collect();
    Ok(layout::page(
        &user,
        "Customer feedback",
        html! {
            form method="get" action="/console/feedback" {
                label {
                    "Period"
                    select name="days" {
                        @for d in PERIODS {
                            option value=(d) selected[d == days] { "Last " (d) " days" }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
            p {
                a href="/console/feedback/followups" { "Follow-ups" }
            }
            h2 { "Overall" }
            (summary_table("overall", "", std::slice::from_ref(&overall)))
            h2 { "Per technician" }
            (summary_table("by-technician", "Technician", &by_tech))
            h2 { "Per depot" }
            (summary_table("by-depot", "Depot", &by_depot))
            h2 { "Trend" }
            (stats::trend_svg(&trend))
            h2 { "Comments" }
            @if comments.is_empty() {
                p.muted { "No comments in this period." }
            } @else {
                div.scroll tabindex="0" {
                    table id="comments" {
                        thead { tr {
                            th scope="col" { "Answered" }
                            th scope="col" { "Technician" }
                            th.num scope="col" { "Rating" }
                            th scope="col" { "Fixed" }
                            th scope="col" { "Comment" }
                        } }
                        tbody {
                            @for (r, a) in &comments {
                                tr class=[a.is_low().then_some("low")] {
                                    td { (a.answered_at.date()) }
                                    td { (r.technician_name.as_deref().unwrap_or("–")) }
                                    td.num { (a.score(RATING).map(|n| n.to_string()).unwrap_or_default()) }
                                    td { (a.get(FIXED).map(|v| v.to_string()).unwrap_or_default()) }
                                    td.comment { (a.text(COMMENT)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

async fn followups(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.require(Permission::ViewFeedback)?;
    let depots = user.scope().depots(state.store.as_ref()).await?;
    let open = state.store.followups(depots.as_deref(), true).await?;
    Ok(layout::page(
        &user,
        "Feedback follow-ups",
        html! {
            @if open.is_empty() {
                p.muted id="no-followups" { "No open follow-ups." }
            } @else {
                div.scroll tabindex="0" {
                    table id="followups" {
                        thead { tr {
                            th scope="col" { "Raised" }
                            th scope="col" { "Customer" }
                            th scope="col" { "Technician" }
                            th scope="col" { "Reason" }
                            th scope="col" { "Comment" }
                            th scope="col" { span.muted { "Action" } }
                        } }
                        tbody {
                            @for f in &open {
                                tr.low {
                                    td { (f.created_at.date()) }
                                    td { (f.customer_name) }
                                    td { (f.technician_name.as_deref().unwrap_or("–")) }
                                    td { span.badge { (f.reason) } }
                                    td.comment { (f.comment) }
                                    td {
                                        form method="post" action=(format!("/console/feedback/followups/{}/resolve", f.id)) {
                                            (layout::csrf_field(&user))
                                            button type="submit" { "Mark done" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    CsrfForm {
        user,
        form: NoFields {},
    }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    user.require(Permission::ViewFeedback)?;
    let id = Uuid::parse_str(&id).map_err(|_| WebError::NotFound)?;
    let depots = user.scope().depots(state.store.as_ref()).await?;
    let visible = state
        .store
        .followups(depots.as_deref(), false)
        .await?
        .iter()
        .any(|f| f.id == id);
    if !visible {
        return Err(WebError::NotFound);
    }
    state
        .store
        .resolve_followup(id, user.user_id, now_utc())
        .await?;
    Ok(Redirect::to("/console/feedback/followups"))
}
