//! The cycle-count sheet of one location (depot or van): printable, or
//! filled in on a tablet (a number input per part, a checkbox per serial).
//! Posting it records the differences as `adjustment` movements with reason
//! `cycle_count`, through [`service::record_movement`] like any other
//! movement.
//!
//! - Idempotent: the sheet carries a batch id and every movement id derives
//!   from batch id + sku (+ serial), so re-posting the same sheet replays
//!   and moves nothing twice; posting it changed is a 409.
//! - The sheet records the quantities and serials it showed. If a line's
//!   stock changed between printing and posting (a transfer, a van's
//!   consumption), the post is refused (409, nothing written): whether the
//!   count saw that movement is unknowable. Otherwise it adjusts by
//!   counted - shown (= counted - current).
//! - Serialized parts: a listed serial left unticked goes out (missing), a
//!   serial typed under "other serials found" comes in, unless the ledger has
//!   it at another location (then it should be transferred: refused).
//! - A blank count means "not counted": that line is left alone.
//! - Everything is checked before the first movement is written; should the
//!   ledger refuse one mid-way, re-posting the sheet records the rest.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fieldsync_core::{LocationId, Sku};
use maud::{Markup, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::console::Ctx;
use super::model::{
    AdjustReason, LocationKind, MovementFilter, MovementKind, NewMovement, Recorded,
};
use super::service;
use crate::app::AppState;
use crate::error::ApiError;
use crate::web::layout::{self, csrf_field};
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/inventory/count", get(sheet).post(post))
}

/// The id of the cycle-count movement of `sku` (and `serial`, for a
/// serialized unit) in `batch`.
pub fn count_movement_id(batch: Uuid, sku: &Sku, serial: Option<&str>) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"fieldsync/cycle-count/");
    h.update(batch.as_bytes());
    for part in [sku.as_str(), serial.unwrap_or("")] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

#[derive(Deserialize)]
struct SheetQuery {
    location: Option<Uuid>,
    posted: Option<u32>,
}

/// A line of the sheet: a plain part with its expected quantity, or a
/// serialized part with the serials the ledger has here.
enum Line {
    Plain { sku: Sku, expected: i64 },
    Serialized { sku: Sku, serials: Vec<String> },
}

async fn lines(state: &AppState, ctx: &Ctx, location: LocationId) -> Result<Vec<Line>, WebError> {
    let rows = service::stock_rows(state, &ctx.scope, Some(location)).await?;
    let mut plain: BTreeMap<Sku, i64> = BTreeMap::new();
    let mut serialized: BTreeMap<Sku, Vec<String>> = BTreeMap::new();
    for r in rows {
        match ctx.parts.get(&r.sku) {
            Some(p) if p.serialized => {
                serialized.entry(r.sku).or_default();
            }
            _ => {
                plain.insert(r.sku, r.quantity);
            }
        }
    }
    for u in state.store.serial_units(None).await? {
        if u.location_id == Some(location) {
            serialized.entry(u.sku).or_default().push(u.serial);
        }
    }
    let mut out: Vec<Line> = plain
        .into_iter()
        .map(|(sku, expected)| Line::Plain { sku, expected })
        .collect();
    out.extend(serialized.into_iter().map(|(sku, mut serials)| {
        serials.sort();
        Line::Serialized { sku, serials }
    }));
    Ok(out)
}

async fn sheet(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<SheetQuery>,
) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let countable: Vec<_> = ctx
        .sorted()
        .into_iter()
        .filter(|l| ctx.scope.can_manage(l.id) && l.kind != LocationKind::Transit)
        .collect();
    let location = q.location.map(LocationId::from_uuid);
    let picker = html! {
        form.noprint method="get" action="/console/inventory/count" {
            label { "Location "
                select name="location" id="location" {
                    @for l in &countable {
                        option value=(l.id) selected[location == Some(l.id)] { (l.name) " (" (l.kind.as_str()) ")" }
                    }
                }
            }
            button type="submit" id="open" { "Open count sheet" }
        }
    };
    let Some(location) = location else {
        return Ok(layout::page(&user, "Cycle count", picker));
    };
    if !ctx.scope.can_manage(location) || !countable.iter().any(|l| l.id == location) {
        return Err(WebError::NotFound);
    }
    let lines = lines(&state, &ctx, location).await?;
    Ok(layout::page(
        &user,
        &format!("Cycle count · {}", ctx.name(location)),
        html! {
            @if let Some(n) = q.posted {
                p.ok role="status" id="notice" { "Count posted: " (n) " adjustment(s) recorded." }
            }
            (picker)
            p.muted { "Printed " (layout::date_time(time::OffsetDateTime::now_utc())) " UTC. Count every line; leave a count blank to skip that part. Post soon after counting: if stock on a line moves before the post, the post is refused and a fresh sheet is needed." }
            form method="post" action="/console/inventory/count" id="count-sheet" {
                (csrf_field(&user))
                // One batch id per printed sheet: posting it twice records once.
                input type="hidden" name="batch" value=(Uuid::new_v4());
                input type="hidden" name="location" value=(location);
                @if lines.is_empty() { p.muted { "Nothing is recorded at this location." } }
                div.scroll tabindex="0" { table {
                    thead { tr { th { "SKU" } th { "Part" } th.num { "Expected" } th { "Counted" } } }
                    tbody { @for line in &lines { @match line {
                        Line::Plain { sku, expected } => {
                            tr data-sku=(sku) {
                                td { (sku) }
                                td { (ctx.parts.get(sku).map_or("", |p| p.name.as_str())) }
                                td.num.expected { (expected) }
                                td {
                                    input type="hidden" name={ "shown:" (sku) } value=(expected);
                                    input.count type="number" inputmode="numeric" min="0" max="1000000"
                                        name={ "count:" (sku) } id={ "count-" (sku) }
                                        aria-label={ "Counted " (sku) };
                                }
                            }
                        }
                        Line::Serialized { sku, serials } => {
                            tr data-sku=(sku) {
                                td { (sku) }
                                td { (ctx.parts.get(sku).map_or("", |p| p.name.as_str())) " (serialized)" }
                                td.num.expected { (serials.len()) }
                                td {
                                    @for s in serials {
                                        input type="hidden" name={ "serial:" (sku) } value=(s);
                                        label.serial { input type="checkbox" name={ "found:" (sku) } value=(s) id={ "found-" (sku) "-" (s) }; " " (s) }
                                    }
                                    label { "Other serials found (comma-separated)"
                                        input name={ "extra:" (sku) } id={ "extra-" (sku) }; }
                                }
                            }
                        }
                    } } }
                } }
                p { button.noprint type="submit" id="post-count" { "Post count" } }
            }
        },
    ))
}

/// The sheet's fields as posted (names carry the sku: `count:VALVE-22`).
#[derive(Deserialize)]
#[serde(transparent)]
struct SheetForm(Vec<(String, String)>);

/// Counts and serials are numbers and identifiers, no free text.
impl crate::freetext::FreeText for SheetForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Whether movement `id` (of `sku` at `location`) is among the recent ones.
async fn posted(
    state: &AppState,
    location: LocationId,
    sku: &Sku,
    id: Uuid,
) -> Result<bool, WebError> {
    let recent = state
        .store
        .movements(&MovementFilter {
            locations: Some(vec![location]),
            sku: Some(sku.clone()),
            job_id: None,
            serial: None,
            limit: Some(500),
        })
        .await?;
    Ok(recent.iter().any(|m| m.movement.id == id))
}

fn bad(msg: impl Into<String>) -> WebError {
    WebError::BadRequest(msg.into())
}

fn serial_list(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

async fn post(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<SheetForm>,
) -> Result<Response, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let field = |name: &str| {
        form.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let batch: Uuid = field("batch")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| bad("The sheet has no batch id: open a fresh sheet."))?;
    let location = field("location")
        .and_then(|l| l.parse::<Uuid>().ok())
        .map(LocationId::from_uuid)
        .ok_or_else(|| bad("The sheet names no location."))?;
    if !ctx.scope.can_manage(location)
        || ctx
            .locations
            .get(&location)
            .is_none_or(|l| l.kind == LocationKind::Transit)
    {
        return Err(WebError::NotFound);
    }

    let part = |sku: &str| -> Result<Sku, WebError> {
        sku.parse::<Sku>()
            .ok()
            .filter(|s| ctx.parts.contains_key(s))
            .ok_or_else(|| bad(format!("Unknown part {sku}.")))
    };
    let mut shown: BTreeMap<Sku, i64> = BTreeMap::new();
    let mut counted: BTreeMap<Sku, i64> = BTreeMap::new();
    let mut listed: BTreeMap<Sku, BTreeSet<String>> = BTreeMap::new();
    let mut found: BTreeMap<Sku, BTreeSet<String>> = BTreeMap::new();
    let mut extra: BTreeMap<Sku, BTreeSet<String>> = BTreeMap::new();
    for (k, v) in &form.0 {
        let Some((what, sku)) = k.split_once(':') else {
            continue;
        };
        match what {
            "shown" => {
                let n = v.trim().parse::<i64>().map_err(|_| {
                    bad(format!(
                        "The sheet's expected quantity of {sku} is damaged."
                    ))
                })?;
                shown.insert(part(sku)?, n);
            }
            "count" if v.trim().is_empty() => {}
            "count" => {
                let n = v
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=1_000_000).contains(n))
                    .ok_or_else(|| {
                        bad(format!(
                            "Counted quantity of {sku} must be a whole number from 0 to 1000000 (got \"{v}\")."
                        ))
                    })?;
                counted.insert(part(sku)?, n);
            }
            "serial" => {
                listed.entry(part(sku)?).or_default().insert(v.clone());
            }
            "found" => {
                found.entry(part(sku)?).or_default().insert(v.clone());
            }
            "extra" => {
                let s = part(sku)?;
                extra.entry(s).or_default().extend(serial_list(v));
            }
            _ => return Err(bad(format!("Unknown field {k}."))),
        }
    }

    let adjustment = |sku: &Sku, serial: Option<&str>, delta: i64| NewMovement {
        id: count_movement_id(batch, sku, serial),
        kind: MovementKind::Adjustment,
        sku: sku.clone(),
        quantity: delta.abs(),
        from: (delta < 0).then_some(location),
        to: (delta > 0).then_some(location),
        reason: Some(AdjustReason::CycleCount),
        serials: serial.map(str::to_owned).into_iter().collect(),
        job_id: None,
        line_id: None,
        note: format!("cycle count {batch}"),
        actor: Some(user.user_id),
    };
    let mut moves = Vec::new();
    for (sku, n) in &counted {
        if ctx.parts[sku].serialized {
            return Err(bad(format!("{sku} is serialized: tick its serials.")));
        }
        let Some(was) = shown.get(sku) else {
            return Err(bad(format!("{sku} is not on this sheet.")));
        };
        if n != was {
            moves.push(adjustment(sku, None, n - was));
        }
    }
    let units = state.store.serial_units(None).await?;
    let balances = state.store.balances().await?;
    for sku in listed.keys().chain(extra.keys()).collect::<BTreeSet<_>>() {
        let here = listed.get(sku).cloned().unwrap_or_default();
        let ticked = found.get(sku).cloned().unwrap_or_default();
        if let Some(s) = ticked.difference(&here).next() {
            return Err(bad(format!("Serial {s} of {sku} is not on this sheet.")));
        }
        for s in here.difference(&ticked) {
            moves.push(adjustment(sku, Some(s), -1));
        }
        for s in extra.get(sku).into_iter().flatten() {
            if here.contains(s) {
                continue;
            }
            if s.len() > 100 {
                return Err(bad("Serials have 1-100 characters."));
            }
            let at = units
                .iter()
                .find(|u| &u.sku == sku && &u.serial == s)
                .and_then(|u| u.location_id);
            // Already here: counted in by this sheet's earlier post.
            if at == Some(location) {
                continue;
            }
            if let Some(at) = at {
                return Err(bad(format!(
                    "Serial {s} of {sku} is recorded at {}: transfer it instead of counting it in.",
                    ctx.name(at)
                )));
            }
            moves.push(adjustment(sku, Some(s), 1));
        }
    }

    // Refuse, rather than guess, when stock changed since the sheet was
    // printed: the count may or may not include that movement. A line that
    // differs because this batch already adjusted it is a re-post.
    let here: BTreeMap<&Sku, i64> = balances
        .iter()
        .filter(|b| b.location_id == location)
        .map(|b| (&b.sku, b.quantity))
        .collect();
    let mut changed = Vec::new();
    for (sku, n) in &counted {
        let was = shown[sku];
        if here.get(sku).copied().unwrap_or(0) != was
            && !(*n != was
                && posted(&state, location, sku, count_movement_id(batch, sku, None)).await?)
        {
            changed.push(sku.to_string());
        }
    }
    for (sku, serials) in &listed {
        for s in serials {
            let at = units
                .iter()
                .find(|u| &u.sku == sku && &u.serial == s)
                .and_then(|u| u.location_id);
            if at != Some(location)
                && !posted(
                    &state,
                    location,
                    sku,
                    count_movement_id(batch, sku, Some(s)),
                )
                .await?
            {
                changed.push(format!("{sku} {s}"));
            }
        }
    }
    if !changed.is_empty() {
        return Err(WebError::Conflict(format!(
            "Stock changed since this sheet was printed ({}): nothing was recorded. Open a fresh sheet and count again.",
            changed.join(", ")
        )));
    }

    let mut applied = 0u32;
    for m in moves {
        let sku = m.sku.clone();
        match service::record_movement(&state, user.principal(), m).await {
            Ok(Recorded::Applied(_)) => applied += 1,
            Ok(Recorded::Replayed(_)) => {}
            Err(ApiError::Conflict(_)) => {
                return Err(WebError::Conflict(
                    "This sheet was already posted with other counts: open a fresh sheet to count again."
                        .into(),
                ));
            }
            Err(ApiError::BadRequest(msg)) => {
                return Err(bad(format!(
                    "{sku}: {msg} (adjustments before it were recorded; post the sheet again after fixing)."
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Redirect::to(&format!(
        "/console/inventory/count?location={location}&posted={applied}"
    ))
    .into_response())
}
