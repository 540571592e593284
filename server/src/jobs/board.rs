//! The dispatch board, `/console/dispatch`: one day's jobs per technician
//! on a timeline of their windows, the unassigned ones, filters by date,
//! depot and status (GET parameters, so a link is a bookmark), and assign,
//! reschedule and cancel as plain forms (CSRF, POST-redirect-GET) through
//! [`super::service`], the same code as the API routes.
//!
//! It works without JavaScript. `/console/dispatch.js` (served from this
//! file's neighbour, allowed by this page's own Content-Security-Policy)
//! only submits the filters on change and lets a job bar be dragged onto a
//! technician's row, which submits that job's assign form.
//!
//! A job's depot is its technician's van's depot: unassigned jobs have
//! none and show whatever depot is chosen.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use fieldsync_core::job::Window;
use fieldsync_core::{JobId, LocationId, Permission, Role, Status, UserId};
use maud::{Markup, html};
use serde::Deserialize;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use uuid::Uuid;

use super::views::timestamp;
use super::{JobFilter, JobRow};
use crate::app::AppState;
use crate::authz::JobScope;
use crate::error::ApiError;
use crate::freetext::FreeText;
use crate::inventory::LocationKind;
use crate::web::layout::{self, csrf_field};
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/dispatch", get(board_page))
        .route("/console/dispatch.js", get(script))
        .route("/console/dispatch/jobs/{id}/assign", post(assign))
        .route("/console/dispatch/jobs/{id}/reschedule", post(reschedule))
        .route("/console/dispatch/jobs/{id}/cancel", post(cancel))
}

/// The console's policy plus this page's one script, from this server.
const BOARD_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SCRIPT: &str = include_str!("board.js");

/// The timeline's look (bars placed by inline `left`/`width` percentages).
const BOARD_CSS: &str = "
form.filters label{width:auto}form.filters input,form.filters select{flex:0 1 auto;min-width:0}
table.timeline thead th:last-child{padding:.45rem 0}
table.timeline th[scope=row]{width:11rem;vertical-align:top}
.hours{display:flex}.hours span{flex:1;font-size:.8rem;color:#5b6670;border-left:1px solid #dde1e6;padding-left:2px}
td.lane{position:relative;height:2.6rem;min-width:40rem;padding:0;background:#fbfcfd}
a.bar{position:absolute;top:.3rem;height:2rem;overflow:hidden;white-space:nowrap;font-size:.85rem;padding:.3rem .4rem;border-radius:4px;background:#d6e4f5;color:#102a43;border:1px solid #7a9cc6;text-decoration:none}
a.bar.travelling,a.bar.on_site{background:#fff1c2;border-color:#b8860b}a.bar.completed{background:#c7ebd1;border-color:#3b8a55}
a.bar.cancelled,a.bar.unable_to_complete{background:#eceef1;color:#3d4650;text-decoration:line-through}
tr.drop td.lane{outline:2px dashed #1f3a5f}
td.actions form.inline{display:flex;flex-wrap:wrap;gap:.3rem;align-items:center;margin:.2rem 0}
td.actions label{display:inline}td.actions input[type=text]{width:10rem}
";

/// Jobs shown per day at most (a small company's day is far below it).
const MAX_JOBS: u32 = 1000;

/// The board's filters, as GET parameters and as hidden fields of every
/// action form (so the answer comes back to the same view). Empty means
/// "any" (a form's "Any" option posts an empty value).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filters {
    /// `YYYY-MM-DD` (UTC); today by default.
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    depot: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// [`Filters`] parsed.
struct Parsed {
    date: Date,
    depot: Option<LocationId>,
    status: Option<Status>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Filters {
    fn parse(&self, today: Date) -> Result<Parsed, String> {
        let date = match given(&self.date) {
            Some(d) => Date::parse(d, format_description!("[year]-[month]-[day]"))
                .map_err(|_| format!("date {d:?} is not a YYYY-MM-DD day"))?,
            None => today,
        };
        let depot = given(&self.depot)
            .map(|d| {
                Uuid::parse_str(d)
                    .map(LocationId::from_uuid)
                    .map_err(|_| format!("depot {d:?} is not a depot id"))
            })
            .transpose()?;
        let status = given(&self.status)
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|_| format!("status {s:?} is not a job status"))
            })
            .transpose()?;
        Ok(Parsed {
            date,
            depot,
            status,
        })
    }

    /// The board's URL for these filters, with `done` naming what was done.
    fn url(&self, done: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (k, v) in [
            ("date", &self.date),
            ("depot", &self.depot),
            ("status", &self.status),
        ] {
            if let Some(v) = given(v) {
                pairs.push((k, v));
            }
        }
        if let Some(d) = done {
            pairs.push(("done", d));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/console/dispatch".to_owned()
        } else {
            format!("/console/dispatch?{query}")
        }
    }

    fn hidden(&self) -> Markup {
        html! {
            @for (k, v) in [("date", &self.date), ("depot", &self.depot), ("status", &self.status)] {
                @if let Some(v) = given(v) { input type="hidden" name=(k) value=(v); }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct BoardQuery {
    #[serde(flatten)]
    filters: Filters,
    /// What the last action did (`assigned`, `rescheduled`, `cancelled`).
    #[serde(default)]
    done: Option<String>,
}

/// Only roles that manage every job see the board (the scope service says
/// which jobs a role reaches; the board shows all of a day's).
fn dispatcher(user: &WebUser) -> Result<(), WebError> {
    user.require(Permission::ManageJobs)?;
    match user.scope().jobs() {
        JobScope::All => Ok(()),
        _ => Err(WebError::Forbidden("your role may not manage jobs")),
    }
}

async fn board_page(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<BoardQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, WebError> {
    dispatcher(&user)?;
    let Query(q) = query.map_err(|e| WebError::BadRequest(e.body_text()))?;
    let notice = match q.done.as_deref() {
        Some("assigned") => Some("The job was assigned."),
        Some("rescheduled") => Some("The job was rescheduled."),
        Some("cancelled") => Some("The job was cancelled."),
        _ => None,
    };
    let parsed = q
        .filters
        .parse(state.clock.today())
        .map_err(WebError::BadRequest)?;
    let board = Board::load(&state, &parsed).await?;
    Ok(render(
        &user,
        &q.filters,
        &parsed,
        &board,
        notice,
        None,
        StatusCode::OK,
    ))
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
}

/// A technician's row.
struct Tech {
    id: UserId,
    name: String,
    depot: Option<LocationId>,
}

/// One day's board, filtered.
struct Board {
    depots: Vec<(LocationId, String)>,
    /// Field technicians who can be assigned (not disabled), by name.
    assignable: Vec<(UserId, String)>,
    /// The rows: the filter's technicians, and any other a shown job names.
    rows: Vec<Tech>,
    /// Jobs by technician; unassigned under `None`.
    jobs: BTreeMap<Option<UserId>, Vec<JobRow>>,
}

impl Board {
    async fn load(state: &AppState, f: &Parsed) -> Result<Board, WebError> {
        let day = f.date.midnight().assume_utc();
        let rows = state
            .store
            .list_jobs(&JobFilter {
                status: f.status,
                window_from: Some(day),
                window_until: Some(day + time::Duration::DAY),
                limit: Some(MAX_JOBS),
                ..JobFilter::default()
            })
            .await?;
        let accounts = state.store.user_accounts().await?;
        let locations = state.store.locations().await?;
        let mut depots: Vec<(LocationId, String)> = locations
            .iter()
            .filter(|l| l.kind == LocationKind::Depot)
            .map(|l| (l.id, l.name.clone()))
            .collect();
        depots.sort_by(|a, b| a.1.cmp(&b.1));
        let depot_of: BTreeMap<UserId, LocationId> = locations
            .iter()
            .filter(|l| l.kind == LocationKind::Van)
            .filter_map(|l| Some((l.technician_id?, l.depot_id?)))
            .collect();
        let names: BTreeMap<UserId, String> = accounts
            .iter()
            .map(|a| (a.id, a.username.to_string()))
            .collect();
        let mut assignable: Vec<(UserId, String)> = accounts
            .iter()
            .filter(|a| a.role == Role::Technician && a.disabled_at.is_none())
            .map(|a| (a.id, a.username.to_string()))
            .collect();
        assignable.sort_by(|a, b| a.1.cmp(&b.1));
        let in_depot = |t: &UserId| f.depot.is_none() || depot_of.get(t) == f.depot.as_ref();
        let mut jobs: BTreeMap<Option<UserId>, Vec<JobRow>> = BTreeMap::new();
        for row in rows {
            let tech = row.projection.technician_id;
            if tech.is_none_or(|t| in_depot(&t)) {
                jobs.entry(tech).or_default().push(row);
            }
        }
        let mut shown: BTreeSet<UserId> = assignable
            .iter()
            .map(|(id, _)| *id)
            .filter(|t| in_depot(t))
            .collect();
        shown.extend(jobs.keys().flatten().copied());
        let mut rows: Vec<Tech> = shown
            .into_iter()
            .map(|id| Tech {
                id,
                name: names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                depot: depot_of.get(&id).copied(),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Board {
            depots,
            assignable,
            rows,
            jobs,
        })
    }

    fn depot_name(&self, id: Option<LocationId>) -> &str {
        id.and_then(|id| self.depots.iter().find(|(d, _)| *d == id))
            .map_or("no depot", |(_, n)| n.as_str())
    }

    /// The hours the timeline spans: 06-20 UTC, widened to fit every window.
    fn hours(&self, date: Date) -> (u8, u8) {
        let day = date.midnight().assume_utc();
        let (mut from, mut to) = (6u8, 20u8);
        for row in self.jobs.values().flatten() {
            let p = &row.projection;
            let start = clamp_hours(p.window_start, day).floor();
            let end = clamp_hours(p.window_end, day).ceil();
            from = from.min(start as u8);
            to = to.max(end as u8);
        }
        (from, to.max(from + 1))
    }
}

/// Hours since `day`'s midnight, within the day (0-24).
fn clamp_hours(t: OffsetDateTime, day: OffsetDateTime) -> f64 {
    ((t - day).as_seconds_f64() / 3600.0).clamp(0.0, 24.0)
}

fn hm(t: OffsetDateTime) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// `YYYY-MM-DDTHH:MM`, a `datetime-local` input's value.
fn local_input(t: OffsetDateTime) -> String {
    format!("{}T{}", t.date(), hm(t))
}

fn render(
    user: &WebUser,
    filters: &Filters,
    f: &Parsed,
    board: &Board,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (from, to) = board.hours(f.date);
    let span = f64::from(to - from);
    let day = f.date.midnight().assume_utc();
    let bar_style = |p: &super::JobProjection| {
        let start = clamp_hours(p.window_start, day) - f64::from(from);
        let end = clamp_hours(p.window_end, day) - f64::from(from);
        let left = (start / span * 100.0).max(0.0);
        let width = ((end - start) / span * 100.0).max(1.5);
        format!("left:{left:.2}%;width:{width:.2}%")
    };
    let unassigned = board.jobs.get(&None).map_or(&[][..], Vec::as_slice);
    let content = html! {
        style { (maud::PreEscaped(BOARD_CSS)) }
        form.search.filters method="get" action="/console/dispatch" id="filters" {
            label for="f-date" { "Day (UTC)" }
            input type="date" id="f-date" name="date" value=(f.date);
            label for="f-depot" { "Depot" }
            select id="f-depot" name="depot" {
                option value="" { "Any depot" }
                @for (id, name) in &board.depots {
                    option value=(id) selected[f.depot == Some(*id)] { (name) }
                }
            }
            label for="f-status" { "Status" }
            select id="f-status" name="status" {
                option value="" { "Any status" }
                @for s in Status::ALL {
                    option value=(s.as_str()) selected[f.status == Some(s)] { (s.as_str()) }
                }
            }
            button type="submit" id="apply-filters" { "Show" }
        }
        @if let Some(n) = notice { p.ok id="notice" role="status" { (n) } }
        @if let Some(e) = error { p.error id="form-error" role="alert" { (e) } }

        h2 { "Timeline, " (f.date) }
        div.scroll {
            table.timeline id="timeline" {
                caption.muted { "Each bar is a job's window, " (format!("{from:02}:00")) " to " (format!("{to:02}:00")) " UTC. Follow a bar to the job." }
                thead { tr {
                    th scope="col" { "Technician" }
                    th scope="col" {
                        div.hours { @for h in from..to { span { (format!("{h:02}")) } } }
                    }
                } }
                tbody {
                    @for t in &board.rows {
                        tr.tech data-technician=(t.id) {
                            th scope="row" { (t.name) br; span.muted { (board.depot_name(t.depot)) } }
                            td.lane {
                                @for j in board.jobs.get(&Some(t.id)).map_or(&[][..], Vec::as_slice) {
                                    @let p = &j.projection;
                                    a.bar class=(p.status.as_str()) href=(format!("/console/jobs/{}", p.job_id))
                                        style=(bar_style(p)) draggable="true" data-job=(p.job_id)
                                        title=(format!("{}–{} {} ({})", hm(p.window_start), hm(p.window_end), p.customer_name, p.status)) {
                                        (hm(p.window_start)) " " (p.customer_name)
                                    }
                                }
                            }
                        }
                    }
                    tr.tech.unassigned data-technician="" {
                        th scope="row" { "Unassigned" }
                        td.lane {
                            @for j in unassigned {
                                @let p = &j.projection;
                                a.bar class=(p.status.as_str()) href=(format!("/console/jobs/{}", p.job_id))
                                    style=(bar_style(p)) draggable="true" data-job=(p.job_id)
                                    title=(format!("{}–{} {} ({})", hm(p.window_start), hm(p.window_end), p.customer_name, p.status)) {
                                    (hm(p.window_start)) " " (p.customer_name)
                                }
                            }
                        }
                    }
                }
            }
        }
        @if board.rows.is_empty() { p.muted { "No technicians for this depot." } }

        h2 id="unassigned-heading" { "Unassigned jobs" }
        @if unassigned.is_empty() {
            p.muted id="no-unassigned" { "Every job of the day is assigned." }
        } @else {
            (jobs_table(user, filters, board, unassigned, "unassigned"))
        }
        h2 { "Assigned jobs" }
        @let assigned: Vec<JobRow> = board.jobs.iter().filter(|(t, _)| t.is_some()).flat_map(|(_, v)| v.iter().cloned()).collect();
        @if assigned.is_empty() {
            p.muted { "No assigned jobs on this day." }
        } @else {
            (jobs_table(user, filters, board, &assigned, "assigned"))
        }
        script src="/console/dispatch.js" defer {}
    };
    let mut response = (status, layout::page(user, "Dispatch board", content)).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(BOARD_CSP),
    );
    response
}

fn jobs_table(
    user: &WebUser,
    filters: &Filters,
    board: &Board,
    jobs: &[JobRow],
    id: &str,
) -> Markup {
    let name = |t: Option<UserId>| {
        t.map(|t| {
            board
                .rows
                .iter()
                .find(|r| r.id == t)
                .map_or_else(|| t.to_string(), |r| r.name.clone())
        })
    };
    html! {
        div.scroll { table.jobs.board id=(id) {
            thead { tr {
                th scope="col" { "Window (UTC)" } th scope="col" { "Customer" } th scope="col" { "Status" }
                th scope="col" { "Technician" } th scope="col" { "Change" }
            } }
            tbody { @for j in jobs {
                @let p = &j.projection;
                @let jid = p.job_id;
                tr data-job=(jid) {
                    td.window { (hm(p.window_start)) "–" (hm(p.window_end)) }
                    td { a href=(format!("/console/jobs/{jid}")) { (p.customer_name) } }
                    td.status { (p.status.as_str()) }
                    td.technician { (name(p.technician_id).unwrap_or_else(|| "unassigned".into())) }
                    td.actions {
                        @if p.status.is_final() {
                            span.muted { "closed" }
                        } @else {
                            form.inline.assign method="post" action=(format!("/console/dispatch/jobs/{jid}/assign")) data-assign=(jid) {
                                (csrf_field(user)) (filters.hidden())
                                label for=(format!("tech-{jid}")) { "Technician" }
                                select id=(format!("tech-{jid}")) name="technician" {
                                    option value="" selected[p.technician_id.is_none()] { "Unassigned" }
                                    @for (t, n) in &board.assignable {
                                        option value=(t) selected[p.technician_id == Some(*t)] { (n) }
                                    }
                                }
                                button type="submit" class="assign" { "Assign" }
                            }
                            form.inline.reschedule method="post" action=(format!("/console/dispatch/jobs/{jid}/reschedule")) {
                                (csrf_field(user)) (filters.hidden())
                                label for=(format!("start-{jid}")) { "Start (UTC)" }
                                input type="datetime-local" id=(format!("start-{jid}")) name="start" required value=(local_input(p.window_start));
                                label for=(format!("end-{jid}")) { "End (UTC)" }
                                input type="datetime-local" id=(format!("end-{jid}")) name="end" required value=(local_input(p.window_end));
                                button type="submit" class="reschedule" { "Reschedule" }
                            }
                            form.inline.cancel method="post" action=(format!("/console/dispatch/jobs/{jid}/cancel")) {
                                (csrf_field(user)) (filters.hidden())
                                label for=(format!("reason-{jid}")) { "Reason" }
                                input type="text" id=(format!("reason-{jid}")) name="reason" required maxlength="500";
                                button type="submit" class="cancel" { "Cancel job" }
                            }
                        }
                    }
                }
            } }
        } }
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(flatten)]
    filters: Filters,
    /// A technician's id; empty unassigns.
    #[serde(default)]
    technician: String,
}

#[derive(Deserialize)]
pub struct RescheduleForm {
    #[serde(flatten)]
    filters: Filters,
    start: String,
    end: String,
}

#[derive(Deserialize)]
pub struct CancelForm {
    #[serde(flatten)]
    filters: Filters,
    reason: String,
}

impl FreeText for AssignForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

impl FreeText for RescheduleForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

impl FreeText for CancelForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("reason", &self.reason)]
    }
}

/// Runs a board action: 303 back to the board on success; the board again
/// with the error (and its status) when the input or the job's state does
/// not allow it.
async fn answer(
    state: &AppState,
    user: &WebUser,
    filters: &Filters,
    done: &str,
    result: Result<(), ApiError>,
) -> Result<Response, WebError> {
    let (status, message) = match result {
        Ok(()) => return Ok(Redirect::to(&filters.url(Some(done))).into_response()),
        Err(ApiError::BadRequest(m)) => (StatusCode::BAD_REQUEST, m),
        Err(ApiError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(e) => return Err(e.into()),
    };
    let parsed = filters.parse(state.clock.today()).unwrap_or_else(|_| {
        Filters::default()
            .parse(state.clock.today())
            .expect("no filters")
    });
    let board = Board::load(state, &parsed).await?;
    let message = format!("Not done: {message}");
    Ok(render(
        user,
        filters,
        &parsed,
        &board,
        None,
        Some(&message),
        status,
    ))
}

async fn assign(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<AssignForm>,
) -> Result<Response, WebError> {
    dispatcher(&user)?;
    let result = async {
        let technician = match form.technician.trim() {
            "" => None,
            t => Some(
                Uuid::parse_str(t)
                    .map_err(|_| ApiError::BadRequest(format!("{t:?} is not a technician")))?,
            ),
        };
        super::service::assign(&state, user.principal(), JobId::from_uuid(id), technician).await?;
        Ok(())
    }
    .await;
    answer(&state, &user, &form.filters, "assigned", result).await
}

/// A `datetime-local` value, read as UTC.
fn instant(what: &str, v: &str) -> Result<OffsetDateTime, ApiError> {
    let v = v.trim();
    let with_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    PrimitiveDateTime::parse(v, minutes)
        .or_else(|_| PrimitiveDateTime::parse(v, with_seconds))
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| ApiError::BadRequest(format!("{what} {v:?} is not a date and time")))
}

async fn reschedule(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<RescheduleForm>,
) -> Result<Response, WebError> {
    dispatcher(&user)?;
    let result = async {
        let start = instant("start", &form.start)?;
        let end = instant("end", &form.end)?;
        let window = Window::new(timestamp(start), timestamp(end))
            .map_err(|_| ApiError::BadRequest("the end is before the start".into()))?;
        super::service::reschedule(&state, user.principal(), JobId::from_uuid(id), window).await?;
        Ok(())
    }
    .await;
    answer(&state, &user, &form.filters, "rescheduled", result).await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<CancelForm>,
) -> Result<Response, WebError> {
    dispatcher(&user)?;
    let result = async {
        let reason = form.reason.trim();
        if reason.is_empty() {
            return Err(ApiError::BadRequest("give a reason to cancel".into()));
        }
        super::service::cancel(
            &state,
            user.principal(),
            JobId::from_uuid(id),
            reason.to_owned(),
        )
        .await?;
        Ok(())
    }
    .await;
    answer(&state, &user, &form.filters, "cancelled", result).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(date: &str, depot: &str, status: &str) -> Filters {
        let some = |v: &str| Some(v.to_owned());
        Filters {
            date: some(date),
            depot: some(depot),
            status: some(status),
        }
    }

    #[test]
    fn empty_filters_mean_any_and_today() {
        let today = time::macros::date!(2026 - 11 - 30);
        let p = filters("", " ", "").parse(today).unwrap();
        assert_eq!((p.date, p.depot, p.status), (today, None, None));
        assert_eq!(filters("", "", "").url(None), "/console/dispatch");
    }

    #[test]
    fn bad_filters_name_the_value() {
        let today = time::macros::date!(2026 - 11 - 30);
        let e = filters("30/11/2026", "", "").parse(today).err().unwrap();
        assert!(e.contains("30/11/2026"), "{e}");
        let e = filters("", "north", "").parse(today).err().unwrap();
        assert!(e.contains("not a depot id"), "{e}");
        let e = filters("", "", "done").parse(today).err().unwrap();
        assert!(e.contains("not a job status"), "{e}");
    }

    #[test]
    fn the_redirect_keeps_the_filters_encoded() {
        let f = filters("2026-11-30", "", "on_site");
        assert_eq!(
            f.url(Some("assigned")),
            "/console/dispatch?date=2026-11-30&status=on_site&done=assigned"
        );
        let odd = filters("a&b=c", "", "");
        assert_eq!(odd.url(None), "/console/dispatch?date=a%26b%3Dc");
    }

    #[test]
    fn datetime_local_values_are_utc() {
        let t = instant("start", "2026-11-30T09:05").unwrap();
        assert_eq!(t, time::macros::datetime!(2026-11-30 09:05 UTC));
        let t = instant("start", "2026-11-30T09:05:30").unwrap();
        assert_eq!(t, time::macros::datetime!(2026-11-30 09:05:30 UTC));
        assert!(instant("end", "tomorrow").is_err());
    }

    #[test]
    fn bars_stay_within_the_day() {
        let day = time::macros::datetime!(2026-11-30 00:00 UTC);
        assert_eq!(clamp_hours(day - time::Duration::HOUR, day), 0.0);
        assert_eq!(clamp_hours(day + time::Duration::hours(30), day), 24.0);
        assert_eq!(clamp_hours(day + time::Duration::minutes(90), day), 1.5);
    }
}
