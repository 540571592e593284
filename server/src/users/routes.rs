//! `/v1/users`: user administration (admins only). Thin adapters over
//! [`super::service`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use fieldsync_core::{LocationId, Role, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{self, NewUser};
use super::store::{DeviceStatus, UserAccount};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::freetext::FreeText;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(reset_password))
        .routes(routes!(put_role))
        .routes(routes!(put_depots))
}

/// A user as administrators see them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserAccountView {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    pub username: String,
    #[schema(value_type = String, example = "technician")]
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Set while the user is disabled.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disabled_at: Option<OffsetDateTime>,
    /// The depots they staff.
    #[schema(value_type = Vec<String>)]
    pub depots: Vec<LocationId>,
}

impl From<UserAccount> for UserAccountView {
    fn from(a: UserAccount) -> Self {
        Self {
            id: a.id,
            username: a.username.to_string(),
            role: a.role,
            created_at: a.created_at,
            disabled_at: a.disabled_at,
            depots: a.depots,
        }
    }
}

/// A device and what it reported at its last sync.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceStatusView {
    #[schema(value_type = String, format = Uuid)]
    pub id: crate::store::DeviceId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_sync_at: Option<OffsetDateTime>,
    pub app_version: Option<String>,
    /// Changes the device held unacknowledged when its last sync started.
    pub pending_changes: Option<u32>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_rejected_at: Option<OffsetDateTime>,
    pub last_rejection: Option<String>,
}

impl From<DeviceStatus> for DeviceStatusView {
    fn from(d: DeviceStatus) -> Self {
        let (last_rejected_at, last_rejection) = d.last_rejection.unzip();
        Self {
            id: d.id,
            name: d.name,
            registered_at: d.registered_at,
            revoked_at: d.revoked_at,
            last_sync_at: d.last_sync_at,
            app_version: d.app_version,
            pending_changes: d.pending_changes,
            last_rejected_at,
            last_rejection,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserAccountView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserDetail {
    pub user: UserAccountView,
    /// Newest first.
    pub devices: Vec<DeviceStatusView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    #[schema(value_type = String, example = "technician")]
    pub role: Role,
    /// At least 8 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// At least 8 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    #[schema(value_type = String, example = "supervisor")]
    pub role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepotsRequest {
    /// Every depot the user staffs (replaces the current list).
    #[schema(value_type = Vec<String>)]
    pub depots: Vec<LocationId>,
}

/// Passwords are secrets, not free text; names are checked as usernames.
impl FreeText for CreateUserRequest {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

macro_rules! no_free_text {
    ($($t:ty),*) => {$(
        impl FreeText for $t {
            fn free_text(&self) -> Vec<(&'static str, &str)> {
                Vec::new()
            }
        }
    )*};
}
no_free_text!(PasswordRequest, RoleRequest, DepotsRequest);

fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Every user, by username.
#[utoipa::path(get, path = "/v1/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: AuthUser,
) -> Result<Json<UserList>, ApiError> {
    let users = service::list(state.store.as_ref(), caller.principal()).await?;
    Ok(Json(UserList {
        users: users.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a user with a password.
#[utoipa::path(post, path = "/v1/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses((status = 201, body = UserAccountView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(req): Json<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserAccountView>), ApiError> {
    let new = NewUser {
        username: req.username,
        role: req.role,
        password: req.password,
    };
    let account = service::create(state.store.as_ref(), caller.principal(), new).await?;
    Ok((StatusCode::CREATED, Json(account.into())))
}

/// A user and their devices (last sync, app version, pending changes,
/// last rejection).
#[utoipa::path(get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = UserDetail), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    let (user, devices) =
        service::get(state.store.as_ref(), caller.principal(), user_id(&id)?).await?;
    Ok(Json(UserDetail {
        user: user.into(),
        devices: devices.into_iter().map(Into::into).collect(),
    }))
}

/// Disables a user: every device, refresh token and console session of
/// theirs stops working at once, and login is refused until re-enabled.
#[utoipa::path(post, path = "/v1/users/{id}/disable", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = UserAccountView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "An admin cannot disable themselves", body = ErrorBody)))]
async fn disable_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserAccountView>, ApiError> {
    let a = service::disable(state.store.as_ref(), caller.principal(), user_id(&id)?).await?;
    Ok(Json(a.into()))
}

/// Re-enables a user: they may log in again (their old devices stay revoked).
#[utoipa::path(post, path = "/v1/users/{id}/enable", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = UserAccountView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn enable_user(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserAccountView>, ApiError> {
    let a = service::enable(state.store.as_ref(), caller.principal(), user_id(&id)?).await?;
    Ok(Json(a.into()))
}

/// Sets a new password; every device of the user is revoked.
#[utoipa::path(post, path = "/v1/users/{id}/password", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = PasswordRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    service::reset_password(
        state.store.as_ref(),
        caller.principal(),
        user_id(&id)?,
        req.password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the user's role (it applies from their next request).
#[utoipa::path(put, path = "/v1/users/{id}/role", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = RoleRequest,
    responses((status = 200, body = UserAccountView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "An admin cannot demote themselves", body = ErrorBody)))]
async fn put_role(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<RoleRequest>,
) -> Result<Json<UserAccountView>, ApiError> {
    let a = service::set_role(
        state.store.as_ref(),
        caller.principal(),
        user_id(&id)?,
        req.role,
    )
    .await?;
    Ok(Json(a.into()))
}

/// Replaces the depots the user staffs.
#[utoipa::path(put, path = "/v1/users/{id}/depots", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = DepotsRequest,
    responses((status = 200, body = UserAccountView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn put_depots(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<DepotsRequest>,
) -> Result<Json<UserAccountView>, ApiError> {
    let a = service::set_depots(
        state.store.as_ref(),
        caller.principal(),
        user_id(&id)?,
        &req.depots,
    )
    .await?;
    Ok(Json(a.into()))
}
