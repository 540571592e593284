//! Console pages for depot managers.

use axum::Router;
use axum::routing::get;
use maud::{Markup, html};

use crate::app::AppState;
use crate::web::layout::{self, INVENTORY_ROLES};
use crate::web::{WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/inventory/stock", get(stock))
}

async fn stock(user: WebUser) -> Result<Markup, WebError> {
    user.require_any(INVENTORY_ROLES)?;
    Ok(layout::page(
        &user,
        "Stock",
        html! { p.muted { "No stock yet." } },
    ))
}
