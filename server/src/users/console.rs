//! The console's user administration (admins): `/console/users` (list,
//! create, disable, re-enable), `/console/users/{id}` (role, depots,
//! password reset, the devices with their last sync, revoke) and
//! `/console/sync-health?hours=N`. Plain forms with the session's CSRF
//! token: everything works without JavaScript.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use fieldsync_core::{LocationId, Permission, Role, UserId};
use maud::{Markup, html};
use serde::Deserialize;

use super::service::{self, NewUser, UserError};
use crate::app::AppState;
use crate::freetext::FreeText;
use crate::store::DeviceId;
use crate::web::layout::{self, csrf_field, date_time};
use crate::web::{CsrfForm, NoFields, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/users", get(users_page).post(create_user))
        .route("/console/users/{id}", get(user_page))
        .route("/console/users/{id}/disable", post(disable))
        .route("/console/users/{id}/enable", post(enable))
        .route("/console/users/{id}/password", post(password))
        .route("/console/users/{id}/role", post(role))
        .route("/console/users/{id}/depots", post(depots))
        .route("/console/users/{id}/devices/{device}/revoke", post(revoke))
        .route("/console/sync-health", get(health_page))
}

impl From<UserError> for WebError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Denied(d) => d.into(),
            UserError::NotFound => WebError::NotFound,
            UserError::Invalid(m) => WebError::BadRequest(m),
            e @ (UserError::UsernameTaken | UserError::OwnAccount(_)) => {
                WebError::Conflict(e.to_string())
            }
            UserError::Store(e) => e.into(),
        }
    }
}

fn user_path(id: UserId) -> String {
    format!("/console/users/{id}")
}

async fn users_page(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    let users = service::list(state.store.as_ref(), user.principal()).await?;
    Ok(layout::page(
        &user,
        "Users",
        html! {
            p { a href="/console/sync-health" { "Sync health" } }
            div.scroll tabindex="0" { table.users {
                thead { tr { th { "Username" } th { "Role" } th { "State" } th { "Created" } th { "Action" } } }
                tbody {
                    @for u in &users {
                        tr data-username=(u.username.as_str()) {
                            td { a href=(user_path(u.id)) { (u.username.as_str()) } }
                            td { (u.role.as_str()) }
                            td.state { @if u.disabled_at.is_some() { "disabled" } @else { "active" } }
                            td { (date_time(u.created_at)) }
                            td {
                                @if u.id != user.user_id {
                                    form method="post" action={ (user_path(u.id)) @if u.disabled_at.is_some() { "/enable" } @else { "/disable" } } {
                                        (csrf_field(&user))
                                        @if u.disabled_at.is_some() {
                                            button type="submit" class="enable" aria-label={ "Enable " (u.username.as_str()) } { "Enable" }
                                        } @else {
                                            button type="submit" class="disable" aria-label={ "Disable " (u.username.as_str()) } { "Disable" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            h2 { "New user" }
            form.stack method="post" action="/console/users" {
                (csrf_field(&user))
                label { "Username" input name="username" id="new-username" required autocomplete="off"; }
                label { "Role" (role_select(Role::Technician)) }
                label { "Password (at least 8 characters)" input name="password" id="new-password" type="password" required autocomplete="new-password"; }
                button type="submit" id="create-user" { "Create user" }
            }
        },
    ))
}

fn role_select(current: Role) -> Markup {
    html! {
        select name="role" {
            @for r in Role::ALL {
                option value=(r.as_str()) selected[r == current] { (r.as_str()) }
            }
        }
    }
}

#[derive(Deserialize)]
struct CreateForm {
    username: String,
    role: Role,
    password: String,
}

/// Username and password are not free text.
impl FreeText for CreateForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

async fn create_user(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<CreateForm>,
) -> Result<Redirect, WebError> {
    let new = NewUser {
        username: form.username,
        role: form.role,
        password: form.password,
    };
    let account = service::create(state.store.as_ref(), user.principal(), new).await?;
    Ok(Redirect::to(&user_path(account.id)))
}

async fn user_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<UserId>,
) -> Result<Markup, WebError> {
    let (account, devices) = service::get(state.store.as_ref(), user.principal(), id).await?;
    let depots: Vec<_> = state
        .store
        .locations()
        .await?
        .into_iter()
        .filter(|l| l.kind == crate::inventory::model::LocationKind::Depot)
        .collect();
    let base = user_path(id);
    let title = format!("User {}", account.username.as_str());
    Ok(layout::page(
        &user,
        &title,
        html! {
            dl.job {
                dt { "Role" } dd id="role" { (account.role.as_str()) }
                dt { "State" } dd id="state" {
                    @match account.disabled_at {
                        Some(t) => { "disabled since " (date_time(t)) }
                        None => { "active" }
                    }
                }
            }
            h2 { "Devices" }
            div.scroll tabindex="0" { table.devices {
                thead { tr { th { "Name" } th { "Registered" } th { "Last sync" } th { "App version" } th.num { "Pending changes" } th { "Last rejection" } th { "State" } } }
                tbody {
                    @for d in &devices {
                        tr data-device=(d.id) {
                            td { (d.name) }
                            td { (date_time(d.registered_at)) }
                            td.last-sync { (d.last_sync_at.map(date_time).unwrap_or_else(|| "never".into())) }
                            td.app-version { (d.app_version.as_deref().unwrap_or("")) }
                            td.num.pending { (d.pending_changes.map(|p| p.to_string()).unwrap_or_default()) }
                            td.rejection {
                                @if let Some((at, why)) = &d.last_rejection { (date_time(*at)) ": " (why) }
                            }
                            td.state {
                                @if let Some(t) = d.revoked_at {
                                    "revoked " (date_time(t))
                                } @else {
                                    form method="post" action={ (base) "/devices/" (d.id) "/revoke" } {
                                        (csrf_field(&user))
                                        button type="submit" class="revoke" aria-label={ "Revoke " (d.name) } { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            } }
            @if account.id != user.user_id {
                h2 { "Access" }
                form method="post" action={ (base) @if account.disabled_at.is_some() { "/enable" } @else { "/disable" } } {
                    (csrf_field(&user))
                    @if account.disabled_at.is_some() {
                        button type="submit" id="enable" { "Enable user" }
                    } @else {
                        button type="submit" id="disable" { "Disable user (revokes every device)" }
                    }
                }
            }
            h2 { "Role" }
            form.stack method="post" action={ (base) "/role" } {
                (csrf_field(&user))
                label { "Role" (role_select(account.role)) }
                button type="submit" id="set-role" { "Set role" }
            }
            h2 { "Depots" }
            form.stack method="post" action={ (base) "/depots" } {
                (csrf_field(&user))
                fieldset {
                    legend { "Depots this user staffs" }
                    @for d in &depots {
                        label { input type="checkbox" name="depot" value=(d.id) checked[account.depots.contains(&d.id)]; (d.name) }
                    }
                }
                button type="submit" id="set-depots" { "Save depots" }
            }
            h2 { "Reset password" }
            form.stack method="post" action={ (base) "/password" } {
                (csrf_field(&user))
                label { "New password (at least 8 characters; revokes every device)" input name="password" type="password" required autocomplete="new-password"; }
                button type="submit" id="reset-password" { "Reset password" }
            }
        },
    ))
}

async fn disable(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    service::disable(state.store.as_ref(), user.principal(), id).await?;
    Ok(Redirect::to("/console/users"))
}

async fn enable(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    service::enable(state.store.as_ref(), user.principal(), id).await?;
    Ok(Redirect::to("/console/users"))
}

#[derive(Deserialize)]
struct PasswordForm {
    password: String,
}

impl FreeText for PasswordForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

async fn password(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    CsrfForm { user, form }: CsrfForm<PasswordForm>,
) -> Result<Redirect, WebError> {
    service::reset_password(state.store.as_ref(), user.principal(), id, form.password).await?;
    Ok(Redirect::to(&user_path(id)))
}

#[derive(Deserialize)]
struct RoleForm {
    role: Role,
}

impl FreeText for RoleForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

async fn role(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    CsrfForm { user, form }: CsrfForm<RoleForm>,
) -> Result<Redirect, WebError> {
    service::set_role(state.store.as_ref(), user.principal(), id, form.role).await?;
    Ok(Redirect::to(&user_path(id)))
}

/// Checkboxes: `depot` repeated (serde_urlencoded reads a repeated key as
/// a sequence only through this shape).
struct DepotsForm {
    depots: Vec<LocationId>,
}

impl<'de> Deserialize<'de> for DepotsForm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pairs: Vec<(String, String)> = Deserialize::deserialize(d)?;
        let depots = pairs
            .into_iter()
            .filter(|(k, _)| k == "depot")
            .map(|(_, v)| v.parse().map_err(serde::de::Error::custom))
            .collect::<Result<_, _>>()?;
        Ok(Self { depots })
    }
}

impl FreeText for DepotsForm {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

async fn depots(
    State(state): State<AppState>,
    Path(id): Path<UserId>,
    CsrfForm { user, form }: CsrfForm<DepotsForm>,
) -> Result<Redirect, WebError> {
    service::set_depots(state.store.as_ref(), user.principal(), id, &form.depots).await?;
    Ok(Redirect::to(&user_path(id)))
}

async fn revoke(
    State(state): State<AppState>,
    Path((id, device)): Path<(UserId, DeviceId)>,
    CsrfForm { user, .. }: CsrfForm<NoFields>,
) -> Result<Redirect, WebError> {
    service::revoke_device(state.store.as_ref(), user.principal(), id, device).await?;
    Ok(Redirect::to(&user_path(id)))
}

#[derive(Deserialize)]
struct HealthQuery {
    hours: Option<u32>,
}

async fn health_page(
    State(state): State<AppState>,
    user: WebUser,
    q: Result<Query<HealthQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageUsers)?;
    let Query(q) = q.map_err(|e| WebError::BadRequest(format!("hours: {e}")))?;
    let hours = q.hours.unwrap_or(state.settings.stale_device_hours);
    if !(1..=24 * 365).contains(&hours) {
        return Err(WebError::BadRequest("hours: 1 to 8760".into()));
    }
    let h = service::health(&state, hours).await?;
    Ok(layout::page(
        &user,
        "Sync health",
        html! {
            form.search method="get" action="/console/sync-health" {
                label for="hours" { "Devices not synced in this many hours" }
                input id="hours" name="hours" type="number" min="1" max="8760" value=(hours);
                button type="submit" { "Show" }
            }
            table.health {
                tbody {
                    tr { th { "Devices not synced in " (hours) " hours" } td.num id="stale-devices" { (h.stale_devices) } }
                    tr { th { "Jobs with rejected changes" } td.num id="rejected-jobs" { (h.jobs_with_rejections) } }
                    tr { th { "Outbox backlog" } td.num id="outbox-backlog" { (h.outbox_pending) } }
                    tr { th { "Outbox failures" } td.num id="outbox-failed" { (h.outbox_failed) } }
                }
            }
        },
    ))
}
