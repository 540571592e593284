//! The web console: server-rendered HTML pages under `/console/...` for
//! depot managers, supervisors and admins (maud templates, auto-escaped).
//!
//! # Building a page (the API other features use)
//!
//! ```text
//! use crate::web::{CsrfForm, WebError, WebUser, layout};
//!
//! // GET: any logged-in user; `WebUser` redirects to the login page otherwise.
//! async fn my_page(user: WebUser) -> Result<maud::Markup, WebError> {
//!     user.require(Permission::ViewFeedback)?;                       // 403 page otherwise
//!     Ok(layout::page(&user, "Title", maud::html! {
//!         form method="post" action="/console/x" {
//!             (layout::csrf_field(&user))                             // every form
//!             button { "Go" }
//!         }
//!     }))
//! }
//!
//! // POST: `CsrfForm<T>` checks the session's CSRF token, then parses T from
//! // the urlencoded body (400 page on bad input, 403 on a bad token).
//! async fn my_post(CsrfForm { user, form }: CsrfForm<MyForm>) -> Result<Redirect, WebError> { .. }
//! ```
//!
//! Add a feature's pages by merging its `Router<AppState>` in [`router`] and
//! its menu entry in [`layout::NAV`] (entries show only to roles with the
//! permission listed). Pages ask [`crate::authz`] exactly as API routes do.
//! Every console GET page is also one line in `PAGES` of
//! `tests/tests/customers/a11y.rs`, which checks it with axe-core at tablet
//! width (a console route missing there fails that test; docs/accessibility.md).
//!
//! # Security
//!
//! - Session cookie `fs_session`: a random 256-bit token, stored as SHA-256 in
//!   `web_sessions` (12 h lifetime), `HttpOnly`, `SameSite=Strict`, `Path=/console`,
//!   `Secure` unless `--console-insecure-cookies` (plain-HTTP development).
//! - CSRF: one random token per session, in a hidden `csrf` field of every
//!   form and compared in constant time on every POST ([`CsrfForm`]). The
//!   login form, which has no session yet, uses a double-submit cookie.
//! - Output: maud escapes every interpolated value.

pub mod csrf;
mod dashboard;
pub mod error;
pub mod layout;
mod login;
pub mod session;
mod store;

use axum::Router;

use crate::app::AppState;

pub use csrf::{CsrfForm, NoFields};
pub use error::WebError;
pub use session::WebUser;
pub use store::{NewWebSession, WebSession, WebSessionStore};

/// Every console route.
pub fn router() -> Router<AppState> {
    login::router()
        .merge(dashboard::router())
        .merge(crate::inventory::console::router())
        .merge(crate::inventory::count::router())
        .merge(crate::inventory::stockforms::router())
        .merge(crate::feedback::console::router())
        .merge(crate::attachments::console::router())
        .merge(crate::jobs::board::router())
        .merge(crate::jobs::page::router())
        .merge(crate::customers::console::router())
        .merge(crate::recalls::console::router())
        .merge(crate::returns::console::router())
        .merge(crate::refunds::console::router())
        .merge(crate::shipments::console::router())
        .merge(crate::users::console::router())
        .merge(crate::desk::console::router())
        .merge(crate::jobs::pricebook_editor::router())
        .merge(crate::invoices::pages::router())
}
