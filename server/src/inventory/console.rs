//! Console pages for depot managers (see [`crate::web`] for the frame):
//! stock by location, a part's movement history, the transfer form,
//! discrepancies, replenishment and a consumption chart.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fieldsync_core::{LocationId, Sku};
use maud::{Markup, html};
use serde::Deserialize;
use time::Duration;
use uuid::Uuid;

use super::discrepancies::Discrepancy;
use super::model::{Location, LocationKind, MovementFilter, MovementKind, NewMovement, Part};
use super::service::{self, StockStatus};
use crate::app::AppState;
use crate::authz::{Locations, Permission};
use crate::web::layout::{self, csrf_field};
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/inventory/stock", get(stock))
        .route("/console/inventory/parts/{sku}", get(history))
        .route(
            "/console/inventory/transfer",
            get(transfer_form).post(transfer),
        )
        .route("/console/inventory/discrepancies", get(discrepancies))
        .route("/console/inventory/replenishment", get(replenishment))
        .route("/console/inventory/consumption", get(consumption))
}

pub(super) struct Ctx {
    pub(super) scope: Locations,
    pub(super) locations: BTreeMap<LocationId, Location>,
    pub(super) parts: BTreeMap<Sku, Part>,
}

impl Ctx {
    pub(super) async fn load(state: &AppState, user: &WebUser) -> Result<Ctx, WebError> {
        user.require(Permission::ManageStock)?;
        let scope = user.scope().locations(state.store.as_ref()).await?;
        let locations = state
            .store
            .locations()
            .await?
            .into_iter()
            .filter(|l| scope.can_see(l.id))
            .map(|l| (l.id, l))
            .collect();
        let parts = state
            .store
            .parts()
            .await?
            .into_iter()
            .map(|p| (p.sku.clone(), p))
            .collect();
        Ok(Ctx {
            scope,
            locations,
            parts,
        })
    }

    pub(super) fn name(&self, l: LocationId) -> String {
        self.locations
            .get(&l)
            .map_or_else(|| "(other location)".to_owned(), |l| l.name.clone())
    }

    fn part_name(&self, s: &Sku) -> String {
        self.parts
            .get(s)
            .map_or_else(String::new, |p| p.name.clone())
    }

    pub(super) fn sorted(&self) -> Vec<&Location> {
        let mut v: Vec<&Location> = self.locations.values().collect();
        v.sort_by(|a, b| {
            (a.kind != LocationKind::Depot, &a.name).cmp(&(b.kind != LocationKind::Depot, &b.name))
        });
        v
    }
}

#[derive(Deserialize)]
struct LocationQuery {
    location: Option<Uuid>,
    done: Option<String>,
}

async fn stock(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<LocationQuery>,
) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let location = q.location.map(LocationId::from_uuid);
    let rows = service::stock_rows(&state, &ctx.scope, location).await?;
    let mut by_location: BTreeMap<LocationId, Vec<&service::StockRow>> = BTreeMap::new();
    for r in &rows {
        by_location.entry(r.location_id).or_default().push(r);
    }
    Ok(layout::page(
        &user,
        "Stock",
        html! {
            @if let Some(done) = &q.done { p.ok role="status" id="notice" { (match done.as_str() {
                "receipt" => "Receipt recorded.",
                "adjustment" => "Adjustment recorded.",
                _ => "Transfer recorded.",
            }) } }
            form method="get" action="/console/inventory/stock" {
                label { "Location "
                    select name="location" onchange="this.form.submit()" {
                        option value="" { "All my locations" }
                        @for l in ctx.sorted() {
                            option value=(l.id) selected[location == Some(l.id)] { (l.name) " (" (l.kind.as_str()) ")" }
                        }
                    }
                }
                noscript { button { "Show" } }
            }
            @if rows.is_empty() { p.muted { "No stock recorded at these locations." } }
            @for l in ctx.sorted() {
                @if let Some(rows) = by_location.get(&l.id) {
                    h2 { (l.name) " " span.badge { (l.kind.as_str()) } }
                    div.scroll tabindex="0" { table data-location=(l.id) {
                        thead { tr { th { "SKU" } th { "Part" } th.num { "On hand" } th.num { "Reorder at" } th { "Status" } th { span.visually-hidden { "Actions" } } } }
                        tbody { @for r in rows {
                            @let class = match r.status { StockStatus::Ok => "", StockStatus::Low => "low", StockStatus::Negative => "negative" };
                            tr class=(class) data-sku=(r.sku) {
                                td { a href={ "/console/inventory/parts/" (r.sku) } { (r.sku) } }
                                td { (ctx.part_name(&r.sku)) }
                                td.num.qty { (r.quantity) }
                                td.num { @if let Some(p) = r.reorder_point { (p) } }
                                td { @match r.status {
                                    StockStatus::Ok => span.badge { "ok" },
                                    StockStatus::Low => span.badge { "low" },
                                    StockStatus::Negative => span.badge { "negative" },
                                } }
                                td { @if ctx.scope.may_manage() {
                                    a.transfer href={ "/console/inventory/transfer?sku=" (r.sku) "&to=" (r.location_id) } { "Transfer here" }
                                } }
                            }
                        } }
                    } }
                }
            }
        },
    ))
}

async fn history(
    State(state): State<AppState>,
    user: WebUser,
    Path(sku): Path<String>,
) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let sku: Sku = sku.parse().map_err(|_| WebError::NotFound)?;
    let locations: Vec<LocationId> = ctx.locations.keys().copied().collect();
    let moves = if locations.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .movements(&MovementFilter {
                locations: Some(locations),
                sku: Some(sku.clone()),
                job_id: None,
                serial: None,
                limit: Some(500),
            })
            .await?
    };
    let at = |l: Option<LocationId>| l.map_or_else(|| "—".to_owned(), |l| ctx.name(l));
    Ok(layout::page(
        &user,
        &format!("{sku} · {}", ctx.part_name(&sku)),
        html! {
            p { a href={ "/console/inventory/consumption?sku=" (sku) } { "Consumption chart" } }
            @if moves.is_empty() { p.muted { "No movements at your locations." } }
            div.scroll tabindex="0" { table {
                thead { tr { th { "When (UTC)" } th { "Kind" } th.num { "Qty" } th { "From" } th { "To" } th { "Details" } } }
                tbody { @for m in &moves { @let n = &m.movement;
                    tr {
                        td { (layout::date_time(m.created_at)) }
                        td { (n.kind.as_str()) @if let Some(r) = n.reason { " (" (r.as_str()) ")" } }
                        td.num { (n.quantity) }
                        td { (at(n.from)) }
                        td { (at(n.to)) }
                        td { @if let Some(j) = n.job_id { "job " code { (j) } " " } (n.serials.join(", ")) " " (n.note) }
                    }
                } }
            } }
        },
    ))
}

#[derive(Deserialize, Default)]
struct TransferQuery {
    sku: Option<String>,
    from: Option<Uuid>,
    to: Option<Uuid>,
}

fn transfer_page(
    user: &WebUser,
    ctx: &Ctx,
    q: &TransferQuery,
    quantity: &str,
    serials: &str,
    error: Option<&str>,
) -> Markup {
    let movable: Vec<&Location> = ctx
        .sorted()
        .into_iter()
        // Transit holdings move by their shipments only.
        .filter(|l| ctx.scope.can_manage(l.id) && l.kind != LocationKind::Transit)
        .collect();
    layout::page(
        user,
        "Transfer",
        html! {
            @if let Some(e) = error { p.error role="alert" id="error" { (e) } }
            form.stack method="post" action="/console/inventory/transfer" aria-describedby=[error.map(|_| "error")] {
                (csrf_field(user))
                // A fresh id per rendered form: a double submit records once.
                input type="hidden" name="id" value=(Uuid::new_v4());
                label { "Part" select name="sku" id="sku" required {
                    @for p in ctx.parts.values() {
                        option value=(p.sku) selected[q.sku.as_deref() == Some(p.sku.as_str())] { (p.sku) " · " (p.name) }
                    }
                } }
                label { "From" select name="from" id="from" required {
                    @for l in &movable {
                        option value=(l.id) selected[q.from == Some(l.id.as_uuid()) || (q.from.is_none() && l.kind == LocationKind::Depot && q.to != Some(l.id.as_uuid()))] { (l.name) " (" (l.kind.as_str()) ")" }
                    }
                } }
                label { "To" select name="to" id="to" required {
                    @for l in &movable {
                        option value=(l.id) selected[q.to == Some(l.id.as_uuid())] { (l.name) " (" (l.kind.as_str()) ")" }
                    }
                } }
                label { "Quantity" input type="number" name="quantity" id="quantity" min="1" max="1000000" value=(quantity) required; }
                label { "Serials (serialized parts; comma-separated)" input name="serials" id="serials" value=(serials); }
                button type="submit" id="submit" { "Record transfer" }
            }
        },
    )
}

async fn transfer_form(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<TransferQuery>,
) -> Result<Markup, WebError> {
    // Ctx::load has checked the permission to manage stock.
    let ctx = Ctx::load(&state, &user).await?;
    Ok(transfer_page(&user, &ctx, &q, "1", "", None))
}

#[derive(Deserialize)]
struct TransferForm {
    id: Uuid,
    sku: String,
    from: Uuid,
    to: Uuid,
    quantity: String,
    #[serde(default)]
    serials: String,
}

/// A transfer has no free text (serials are identifiers).
impl crate::freetext::FreeText for TransferForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

async fn transfer(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<TransferForm>,
) -> Result<Response, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let q = TransferQuery {
        sku: Some(form.sku.clone()),
        from: Some(form.from),
        to: Some(form.to),
    };
    let again = |status: StatusCode, msg: &str| {
        (
            status,
            transfer_page(&user, &ctx, &q, &form.quantity, &form.serials, Some(msg)),
        )
            .into_response()
    };
    let Ok(sku) = form.sku.parse::<Sku>() else {
        return Ok(again(StatusCode::BAD_REQUEST, "Unknown part."));
    };
    let Ok(quantity) = form.quantity.trim().parse::<i64>() else {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Quantity must be a whole number.",
        ));
    };
    let serials: Vec<String> = form
        .serials
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let m = NewMovement {
        id: form.id,
        kind: MovementKind::Transfer,
        sku,
        quantity,
        from: Some(LocationId::from_uuid(form.from)),
        to: Some(LocationId::from_uuid(form.to)),
        reason: None,
        serials,
        job_id: None,
        line_id: None,
        note: String::new(),
        actor: Some(user.user_id),
    };
    match service::record_movement(&state, user.principal(), m).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "/console/inventory/stock?location={}&done=1",
            form.to
        ))
        .into_response()),
        Err(crate::error::ApiError::BadRequest(msg)) => Ok(again(StatusCode::BAD_REQUEST, &msg)),
        Err(crate::error::ApiError::Conflict(msg)) => Ok(again(StatusCode::CONFLICT, &msg)),
        Err(e) => Err(e.into()),
    }
}

async fn discrepancies(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let list = service::discrepancy_list(&state, &ctx.scope, None).await?;
    Ok(layout::page(
        &user,
        "Discrepancies",
        html! {
            @if list.is_empty() { p.ok { "Nothing needs attention." } }
            div.scroll tabindex="0" { table {
                thead { tr { th { "Location" } th { "What" } th { "SKU" } th { "Details" } } }
                tbody { @for d in &list {
                    tr class=(if matches!(d, Discrepancy::BelowReorderPoint { .. }) { "low" } else { "negative" }) {
                        td { (ctx.name(d.location_id())) }
                        td { (d.kind().replace('_', " ")) }
                        td { @match d {
                            Discrepancy::NegativeStock { sku, .. } | Discrepancy::BelowReorderPoint { sku, .. }
                            | Discrepancy::SerialFittedTwice { sku, .. } | Discrepancy::SerialFromWrongVan { sku, .. }
                            | Discrepancy::UnknownSerial { sku, .. } | Discrepancy::UnappliedLine { sku, .. } => {
                                a href={ "/console/inventory/parts/" (sku) } { (sku) }
                            }
                        } }
                        td { @match d {
                            Discrepancy::NegativeStock { quantity, .. } => { "on hand " (quantity) }
                            Discrepancy::BelowReorderPoint { quantity, reorder_point, .. } => { "on hand " (quantity) ", reorder at " (reorder_point) }
                            Discrepancy::SerialFittedTwice { serial, jobs, .. } => { "serial " code { (serial) } " on " (jobs.len()) " jobs" }
                            Discrepancy::SerialFromWrongVan { serial, ledger_location, .. } => {
                                "serial " code { (serial) } " was at " (ledger_location.map_or_else(|| "—".to_owned(), |l| ctx.name(l)))
                            }
                            Discrepancy::UnknownSerial { serial, .. } => { "serial " code { (serial) } " never received" }
                            Discrepancy::UnappliedLine { problem, job_id, .. } => { (problem) " on job " code { (job_id) } }
                        } }
                    }
                } }
            } }
        },
    ))
}

async fn replenishment(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let list = service::suggestions(&state, &ctx.scope).await?;
    Ok(layout::page(
        &user,
        "Replenishment",
        html! {
            @if list.is_empty() { p.ok { "Every location is above its reorder points." } }
            div.scroll tabindex="0" { table {
                thead { tr { th { "To" } th { "SKU" } th.num { "On hand" } th.num { "Reorder at" } th.num { "Send" } th { "From" } th { span.visually-hidden { "Actions" } } } }
                tbody { @for s in &list {
                    tr class=(if s.quantity < s.wanted { "negative" } else { "" }) {
                        td { (ctx.name(s.to)) }
                        td { (s.sku) }
                        td.num { (s.on_hand) }
                        td.num { (s.reorder_point) }
                        td.num { (s.quantity) @if s.quantity < s.wanted { " of " (s.wanted) " (depot short)" } }
                        td { @match s.from { Some(f) => (ctx.name(f)), None => "order from supplier" } }
                        td { @if let Some(f) = s.from { @if s.quantity > 0 {
                            a href={ "/console/inventory/transfer?sku=" (s.sku) "&from=" (f) "&to=" (s.to) } { "Transfer" }
                        } } }
                    }
                } }
            } }
        },
    ))
}

#[derive(Deserialize)]
struct ChartQuery {
    sku: Option<String>,
    depot: Option<Uuid>,
    days: Option<i64>,
}

async fn consumption(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<ChartQuery>,
) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let days = q.days.unwrap_or(30).clamp(7, 365);
    let sku = match q.sku.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<Sku>()
                .map_err(|_| WebError::BadRequest("unknown part".into()))?,
        ),
        None => None,
    };
    let depot = q.depot.map(LocationId::from_uuid);
    if depot.is_some_and(|d| !ctx.locations.contains_key(&d)) {
        return Err(WebError::NotFound);
    }
    let vans: Vec<LocationId> = ctx
        .locations
        .values()
        .filter(|l| l.kind == LocationKind::Van && depot.is_none_or(|d| l.depot_id == Some(d)))
        .map(|l| l.id)
        .collect();
    let moves = if vans.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .movements(&MovementFilter {
                locations: Some(vans.clone()),
                sku: sku.clone(),
                job_id: None,
                serial: None,
                limit: Some(10_000),
            })
            .await?
    };
    let today = crate::store::now_utc().date();
    let first = today - Duration::days(days - 1);
    let mut per_day = vec![0i64; days as usize];
    for m in moves
        .iter()
        .filter(|m| m.movement.kind == MovementKind::Consumption)
    {
        let d = m.created_at.date();
        if d < first {
            continue;
        }
        let i = (d - first).whole_days() as usize;
        let n = &m.movement;
        // Out of a van counts, a correction back into it takes away.
        if n.from.is_some_and(|f| vans.contains(&f)) {
            per_day[i] += n.quantity;
        } else if n.to.is_some_and(|t| vans.contains(&t)) {
            per_day[i] -= n.quantity;
        }
    }
    let depots: Vec<&Location> = ctx
        .sorted()
        .into_iter()
        .filter(|l| l.kind == LocationKind::Depot)
        .collect();
    let total: i64 = per_day.iter().sum();
    Ok(layout::page(
        &user,
        "Consumption",
        html! {
            form method="get" action="/console/inventory/consumption" {
                label { "Part " select name="sku" {
                    option value="" { "All parts" }
                    @for p in ctx.parts.values() { option value=(p.sku) selected[sku.as_ref() == Some(&p.sku)] { (p.sku) } }
                } }
                " "
                label { "Depot " select name="depot" {
                    option value="" { "All my depots" }
                    @for d in &depots { option value=(d.id) selected[depot == Some(d.id)] { (d.name) } }
                } }
                " " button { "Show" }
            }
            p { (total) " units used in the last " (days) " days (UTC)." }
            (chart(&per_day, first))
        },
    ))
}

/// A bar chart of units per day, drawn on the server (no script).
fn chart(values: &[i64], first: time::Date) -> Markup {
    let (w, h, pad) = (720.0_f64, 240.0_f64, 30.0_f64);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = (w - 2.0 * pad) / values.len().max(1) as f64;
    html! {
        svg id="consumption-chart" xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (w) " " (h) } role="img"
            aria-label="Units consumed per day" {
            line x1=(pad) y1=(h - pad) x2=(w - pad) y2=(h - pad) stroke="#5b6670" {}
            text x="4" y=(pad) font-size="11" { (max as i64) }
            text x="4" y=(h - pad) font-size="11" { "0" }
            @for (i, v) in values.iter().enumerate() {
                @let bh = ((*v).max(0) as f64) / max * (h - 2.0 * pad);
                @let day = first + Duration::days(i as i64);
                rect x=(format!("{:.1}", pad + i as f64 * bw + 1.0)) y=(format!("{:.1}", h - pad - bh))
                    width=(format!("{:.1}", (bw - 2.0).max(1.0))) height=(format!("{:.1}", bh)) fill="#2f5283" {
                    title { (day) ": " (v) }
                }
            }
            text x=(pad) y=(h - 8.0) font-size="11" { (first) }
            text x=(w - pad) y=(h - 8.0) font-size="11" text-anchor="end" { (first + Duration::days(values.len() as i64 - 1)) }
        }
    }
}
