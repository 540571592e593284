//! The receipt and adjustment forms: one movement each, recorded through
//! [`service::record_movement`] like the API's. Each rendered form carries a
//! fresh movement id, so a double submit records once.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fieldsync_core::{LocationId, Sku};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::console::Ctx;
use super::model::{AdjustReason, LocationKind, MovementKind, NewMovement};
use super::service;
use crate::app::AppState;
use crate::error::ApiError;
use crate::web::layout::{self, csrf_field};
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console/inventory/receipt",
            get(receipt_form).post(receipt),
        )
        .route(
            "/console/inventory/adjustment",
            get(adjustment_form).post(adjustment),
        )
}

#[derive(Deserialize, Default)]
struct FormQuery {
    sku: Option<String>,
    location: Option<Uuid>,
}

/// What the user typed, to show the form again with an error.
#[derive(Deserialize, Default)]
struct StockForm {
    id: Option<Uuid>,
    #[serde(default)]
    sku: String,
    location: Option<Uuid>,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    serials: String,
    /// Adjustments: `damage`, `loss` or `cycle_count`.
    reason: Option<String>,
    /// Adjustments: `out` (units leave the location) or `in`.
    direction: Option<String>,
    #[serde(default)]
    note: String,
}

impl crate::freetext::FreeText for StockForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("note", &self.note)]
    }
}

fn page(
    user: &WebUser,
    ctx: &Ctx,
    kind: MovementKind,
    f: &StockForm,
    error: Option<&str>,
) -> Markup {
    let adjust = kind == MovementKind::Adjustment;
    let (title, action) = if adjust {
        ("Adjustment", "/console/inventory/adjustment")
    } else {
        ("Receipt", "/console/inventory/receipt")
    };
    let places: Vec<_> = ctx
        .sorted()
        .into_iter()
        // Receipts arrive at depots; transit holdings move by shipments only.
        .filter(|l| ctx.scope.can_manage(l.id) && l.kind != LocationKind::Transit)
        .filter(|l| adjust || l.kind == LocationKind::Depot)
        .collect();
    let reason = f.reason.as_deref().unwrap_or("damage");
    let direction = f.direction.as_deref().unwrap_or("out");
    layout::page(
        user,
        title,
        html! {
            @if let Some(e) = error { p.error role="alert" id="error" { (e) } }
            // The error, if any, describes the form (read with it by screen readers).
            form.stack method="post" action=(action) aria-describedby=[error.map(|_| "error")] {
                (csrf_field(user))
                // A fresh id per rendered form: a double submit records once.
                input type="hidden" name="id" value=(f.id.unwrap_or_else(Uuid::new_v4));
                label { "Part" select name="sku" id="sku" required {
                    @for p in ctx.parts.values() {
                        option value=(p.sku) selected[f.sku == p.sku.as_str()] { (p.sku) " · " (p.name) }
                    }
                } }
                label { (if adjust { "Location" } else { "Into depot" }) select name="location" id="location" required {
                    @for l in &places {
                        option value=(l.id) selected[f.location == Some(l.id.as_uuid())] { (l.name) " (" (l.kind.as_str()) ")" }
                    }
                } }
                @if adjust {
                    label { "Reason" select name="reason" id="reason" {
                        @for r in [AdjustReason::Damage, AdjustReason::Loss, AdjustReason::CycleCount] {
                            option value=(r.as_str()) selected[reason == r.as_str()] { (r.as_str().replace('_', " ")) }
                        }
                    } }
                    label { "Direction" select name="direction" id="direction" {
                        option value="out" selected[direction == "out"] { "Remove from stock" }
                        option value="in" selected[direction == "in"] { "Add to stock" }
                    } }
                }
                label { "Quantity" input type="number" name="quantity" id="quantity" min="1" max="1000000" value=(f.quantity) required; }
                label { "Serials (serialized parts; comma-separated)" input name="serials" id="serials" value=(f.serials); }
                label { "Note" input name="note" id="note" maxlength="500" value=(f.note); }
                button type="submit" id="submit" { "Record " (title.to_lowercase()) }
            }
        },
    )
}

async fn receipt_form(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<FormQuery>,
) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let f = StockForm {
        sku: q.sku.unwrap_or_default(),
        location: q.location,
        quantity: "1".into(),
        ..StockForm::default()
    };
    Ok(page(&user, &ctx, MovementKind::Receipt, &f, None))
}

async fn adjustment_form(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<FormQuery>,
) -> Result<Markup, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let f = StockForm {
        sku: q.sku.unwrap_or_default(),
        location: q.location,
        quantity: "1".into(),
        ..StockForm::default()
    };
    Ok(page(&user, &ctx, MovementKind::Adjustment, &f, None))
}

async fn receipt(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<StockForm>,
) -> Result<Response, WebError> {
    record(state, user, form, MovementKind::Receipt).await
}

async fn adjustment(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<StockForm>,
) -> Result<Response, WebError> {
    record(state, user, form, MovementKind::Adjustment).await
}

async fn record(
    state: AppState,
    user: WebUser,
    form: StockForm,
    kind: MovementKind,
) -> Result<Response, WebError> {
    let ctx = Ctx::load(&state, &user).await?;
    let again = |status: StatusCode, msg: &str| {
        (status, page(&user, &ctx, kind, &form, Some(msg))).into_response()
    };
    let Some(id) = form.id else {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "The form has no id: reload it.",
        ));
    };
    let Some(location) = form.location.map(LocationId::from_uuid) else {
        return Ok(again(StatusCode::BAD_REQUEST, "Choose a location."));
    };
    let Some(sku) = form
        .sku
        .parse::<Sku>()
        .ok()
        .filter(|s| ctx.parts.contains_key(s))
    else {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            &format!("Unknown part {}.", form.sku),
        ));
    };
    let Some(quantity) = form
        .quantity
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|q| (1..=1_000_000).contains(q))
    else {
        return Ok(again(
            StatusCode::BAD_REQUEST,
            "Quantity must be a whole number from 1 to 1000000.",
        ));
    };
    let (reason, out) = if kind == MovementKind::Adjustment {
        let reason = match form.reason.as_deref().map(str::parse::<AdjustReason>) {
            Some(Ok(r)) => r,
            _ => {
                return Ok(again(
                    StatusCode::BAD_REQUEST,
                    "Reason must be damage, loss or cycle_count.",
                ));
            }
        };
        let out = match form.direction.as_deref() {
            Some("out") => true,
            Some("in") => false,
            _ => {
                return Ok(again(
                    StatusCode::BAD_REQUEST,
                    "Direction must be in or out.",
                ));
            }
        };
        (Some(reason), out)
    } else {
        (None, false)
    };
    let m = NewMovement {
        id,
        kind,
        sku,
        quantity,
        from: out.then_some(location),
        to: (!out).then_some(location),
        reason,
        serials: form
            .serials
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        job_id: None,
        line_id: None,
        note: form.note.trim().to_owned(),
        actor: Some(user.user_id),
    };
    match service::record_movement(&state, user.principal(), m).await {
        Ok(_) => Ok(Redirect::to(&format!(
            "/console/inventory/stock?location={location}&done={}",
            kind.as_str()
        ))
        .into_response()),
        Err(ApiError::BadRequest(msg)) => Ok(again(StatusCode::BAD_REQUEST, &msg)),
        Err(ApiError::Conflict(msg)) => Ok(again(StatusCode::CONFLICT, &msg)),
        Err(e) => Err(e.into()),
    }
}
