//! A technician's own feedback: the answered requests about their visits,
//! as `GET /v1/me/feedback` (the mobile library's `myFeedback`) and the
//! console page `/console/my-feedback`. Only the answers and the job: never
//! the customer's name, contact (email, phone), channel or address, and
//! never another technician's visits.

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use fieldsync_core::{JobId, UserId};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::questions::{COMMENT, QUESTIONS, Value, question};
use super::{FeedbackRequest, FeedbackStore, RequestFilter};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::Permission;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::store::StoreError;
use crate::web::layout;
use crate::web::{WebError, WebUser};

/// Visits per page unless `limit` says otherwise, and the most it may say.
const PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

pub fn console_router() -> Router<AppState> {
    Router::new().route("/console/my-feedback", get(page))
}

/// Paging of `GET /v1/me/feedback`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Visits per page, 1-100 (default 20).
    pub limit: Option<u32>,
    /// Visits to skip (`next_offset` of the previous page).
    pub offset: Option<u32>,
}

/// One answer, with the question's short label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MyAnswer {
    /// The question's key (`fixed`, `rating`, `courtesy`, `recommend`).
    pub question: String,
    /// Its label as reports show it (`Fixed`, `Rating`, ...).
    pub label: String,
    /// `yes`/`no` or the score, as text.
    pub value: String,
    /// The score (yes = 1, no = 0).
    pub score: Option<i64>,
    /// The scale's lowest and highest score, for a scored question.
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// What a customer said about one of the caller's visits.
/// Holds no customer contact data: no name, email, phone, channel or address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MyFeedback {
    #[schema(value_type = String, format = Uuid)]
    pub job_id: JobId,
    /// `YYYY-MM-DD`, the day of the visit.
    pub visit_date: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub answered_at: OffsetDateTime,
    /// The scored answers, in the form's order.
    pub answers: Vec<MyAnswer>,
    /// The customer's comment as typed (empty if none).
    pub comment: String,
    /// A result the supervisor follows up (not fixed, or a low rating).
    pub low: bool,
}

/// A page of the caller's feedback, newest visit first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyFeedbackPage {
    pub items: Vec<MyFeedback>,
    /// `offset` for the next page, when there is one.
    pub next_offset: Option<u32>,
}

fn mine(r: FeedbackRequest) -> Option<MyFeedback> {
    let answer = r.answer?;
    let answers = QUESTIONS
        .iter()
        .filter(|q| q.key != COMMENT)
        .filter_map(|q| {
            let v = answer.get(q.key)?;
            let score = match v {
                Value::Yes(b) => Some(i64::from(*b)),
                Value::Score(n) => Some(*n),
                Value::Text(_) => None,
            };
            let (min, max) = match question(q.key).map(|q| q.kind) {
                Some(super::questions::Kind::Scale { min, max, .. }) => {
                    (Some(i64::from(min)), Some(i64::from(max)))
                }
                _ => (None, None),
            };
            Some(MyAnswer {
                question: q.key.to_owned(),
                label: q.label.to_owned(),
                value: v.to_string(),
                score,
                min,
                max,
            })
        })
        .collect();
    Some(MyFeedback {
        job_id: r.job_id,
        visit_date: r.visit_date,
        answered_at: answer.answered_at,
        comment: answer.text(COMMENT).to_owned(),
        low: answer.is_low(),
        answers,
    })
}

/// One page (`limit` visits from `offset`) of `technician`'s answered feedback.
async fn page_of(
    store: &dyn FeedbackStore,
    technician: UserId,
    limit: u32,
    offset: u32,
) -> Result<MyFeedbackPage, StoreError> {
    // One more than the page, to know whether another follows.
    let rows = store
        .feedback_requests(&RequestFilter {
            technician: Some(technician),
            answered_only: true,
            limit: Some(limit + 1),
            offset: Some(offset),
            ..RequestFilter::default()
        })
        .await?;
    let more = rows.len() > limit as usize;
    let items = rows
        .into_iter()
        .take(limit as usize)
        .filter_map(mine)
        .collect();
    Ok(MyFeedbackPage {
        items,
        next_offset: more.then_some(offset + limit),
    })
}

/// The calling technician's own feedback: what customers answered about
/// their visits (scores with the questions' labels, the comment), newest
/// visit first, paged. Never another technician's visits, and no customer
/// contact data (no name, email, phone, channel or address).
#[utoipa::path(
    get,
    path = "/v1/me/feedback",
    tag = "feedback",
    params(Paging),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of the caller's feedback", body = MyFeedbackPage),
        (status = 400, description = "Bad limit or offset", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only technicians (field roles) have visits", body = ErrorBody),
    )
)]
pub async fn my_feedback(
    State(state): State<AppState>,
    user: AuthUser,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<MyFeedbackPage>, ApiError> {
    user.require(Permission::WorkAssignedJobs)?;
    let Query(paging) = paging.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = paging.limit.unwrap_or(PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: expected 1 to {MAX_PAGE}"
        )));
    }
    let offset = paging.offset.unwrap_or(0);
    Ok(Json(
        page_of(state.store.as_ref(), user.user_id, limit, offset).await?,
    ))
}

async fn page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Markup, WebError> {
    user.require(Permission::WorkAssignedJobs)?;
    // A bad `offset` in a hand-edited link shows the first page.
    let offset = q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let page = page_of(state.store.as_ref(), user.user_id, PAGE, offset).await?;
    let labels: Vec<_> = QUESTIONS.iter().filter(|q| q.key != COMMENT).collect();
    Ok(layout::page(
        &user,
        "My feedback",
        html! {
            p { "What customers said about your visits, newest first. Their names and contact details are not shown." }
            @if page.items.is_empty() {
                p.muted { "No answered feedback yet." }
            } @else {
                div.scroll {
                    table id="my-feedback" {
                        caption { "Answered feedback about your visits" }
                        thead {
                            tr {
                                th scope="col" { "Visit" }
                                th scope="col" { "Job" }
                                @for q in &labels { th.num scope="col" { (q.label) } }
                                th scope="col" { "Comment" }
                            }
                        }
                        tbody {
                            @for f in &page.items {
                                tr.low[f.low] {
                                    th scope="row" { (f.visit_date) }
                                    td { code { (f.job_id.to_string()) } }
                                    @for q in &labels {
                                        td.num {
                                            @match f.answers.iter().find(|a| a.question == q.key) {
                                                Some(a) => {
                                                    (a.value)
                                                    @if let Some(max) = a.max { "/" (max) }
                                                }
                                                None => "–",
                                            }
                                        }
                                    }
                                    td { (f.comment) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = page.next_offset {
                p { a href={ "/console/my-feedback?offset=" (next) } { "Older visits" } }
            }
        },
    ))
}
