//! `POST /v1/auth/login`, `POST /v1/auth/refresh`, `GET /v1/me`.

use fieldsync_core::{Role, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::devices::DeviceView;
use super::extractor::AuthUser;
use super::lockouts::{self, Surface};
use super::{password, refresh};
use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::freetext::FreeText;
use crate::store::{
    Device, DeviceActor, DeviceId, NewRefreshToken, RefreshOutcome, StoreError, User, Username,
    now_utc,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(refresh_tokens))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    pub device: DeviceInfo,
}

/// The device logging in. Logging in again with the same actor id reuses
/// the device (same user only).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// Shown to the user and to admins, e.g. "Ana's tablet" (1-100 characters).
    pub name: String,
    /// The device's automerge actor id: 32 hexadecimal digits.
    #[schema(example = "0123456789abcdef0123456789abcdef")]
    pub actor_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The device's name is stored; username and password are not free text.
impl FreeText for LoginRequest {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        vec![("device.name", &self.device.name)]
    }
}

impl FreeText for RefreshRequest {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always "Bearer".
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use: trade it at /v1/auth/refresh for a new pair.
    pub refresh_token: String,
    #[schema(value_type = String, format = Uuid)]
    pub device_id: DeviceId,
    pub user: UserView,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    pub username: String,
    #[schema(value_type = String, example = "technician")]
    pub role: Role,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.to_string(),
            role: u.role,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    pub device: DeviceView,
}

const BAD_CREDENTIALS: ApiError = ApiError::Unauthorized("invalid username or password");

/// Log in with a password from a device; returns an access and a refresh token.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "This device was revoked, or the account is disabled", body = ErrorBody),
        (status = 409, description = "The actor id belongs to another user's device", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this account or address: wait `Retry-After` seconds", body = ErrorBody),
    )
)]
async fn login(
    state: axum::extract::State<AppState>,
    client: ClientAddr,
    Json(req): Json<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let name = req.device.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "device.name must have 1-100 characters".into(),
        ));
    }
    let actor: DeviceActor =
        req.device
            .actor_id
            .parse()
            .map_err(|e: crate::store::InvalidActor| {
                ApiError::BadRequest(format!("device.actor_id: {e}"))
            })?;

    let attempt = lockouts::begin(&state, &req.username, client)
        .await?
        .map_err(|r| ApiError::TooManyRequests {
            retry_after_secs: r.retry_after_secs(),
        })?;
    let credentials = match req.username.parse::<Username>() {
        Ok(username) => match state.store.user_credentials(&username).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        },
        Err(_) => None,
    };
    let phc = credentials.as_ref().map(|c| c.password_hash.clone());
    let verified = password::verify_password(req.password, phc).await && credentials.is_some();
    lockouts::finish(&state, attempt, verified, client, Surface::Api).await?;
    let user = match credentials {
        Some(c) if verified => c.user,
        _ => return Err(BAD_CREDENTIALS),
    };
    // Told only to someone who knows the password.
    if state.store.user_disabled(user.id).await? {
        return Err(ApiError::Forbidden("this account is disabled"));
    }

    let now = now_utc();
    let device = state
        .store
        .register_device(&Device {
            id: DeviceId::new_random(),
            user_id: user.id,
            name: name.to_owned(),
            actor,
            registered_at: now,
            revoked_at: None,
        })
        .await?;
    if device.is_revoked() {
        return Err(ApiError::Forbidden(
            "this device was revoked: reinstall the app to register it again",
        ));
    }
    let (refresh_token, hash) = refresh::generate();
    state
        .store
        .insert_refresh_token(&NewRefreshToken {
            hash,
            family_id: Uuid::new_v4(),
            device_id: device.id,
            user_id: user.id,
            issued_at: now,
            expires_at: now + state.settings.refresh_ttl(),
        })
        .await?;
    tracing::info!(user_id = %user.id, device_id = %device.id, "login");
    token_response(&state, &user, device.id, refresh_token, now)
}

/// Trade a refresh token for a new access and refresh token.
///
/// Each refresh token works once. Presenting one that was already used
/// revokes every token descended from the same login (the device must log
/// in again), except for the latest used token presented again within the
/// reuse grace (`--refresh-reuse-grace-secs`): a device whose answer was
/// lost gets a new pair, and the pair it missed stops working.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New token pair", body = TokenResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 401, description = "Unknown, expired, reused or revoked refresh token", body = ErrorBody),
    )
)]
async fn refresh_tokens(
    state: axum::extract::State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("invalid or expired refresh token");
    let presented = refresh::parse(&req.refresh_token).ok_or(INVALID)?;
    let (next_token, next_hash) = refresh::generate();
    let now = now_utc();
    let outcome = state
        .store
        .rotate_refresh_token(
            &presented,
            &next_hash,
            now + state.settings.refresh_ttl(),
            now,
            state.settings.refresh_reuse_grace(),
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated {
            user_id, device_id, ..
        } => {
            let user = state.store.user(user_id).await?;
            token_response(&state, &user, device_id, next_token, now)
        }
        RefreshOutcome::Reused { family_id } => {
            tracing::warn!(%family_id, "refresh token reused: token family revoked");
            Err(ApiError::Unauthorized(
                "refresh token already used: all tokens of this login are revoked",
            ))
        }
        RefreshOutcome::Invalid => Err(INVALID),
    }
}

fn token_response(
    state: &AppState,
    user: &User,
    device_id: DeviceId,
    refresh_token: String,
    now: OffsetDateTime,
) -> Result<Json<TokenResponse>, ApiError> {
    let access_token = state.keys.issue(user.id, user.role, device_id, now)?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.keys.access_ttl().as_secs(),
        refresh_token,
        device_id,
        user: user.into(),
    }))
}

/// The caller's user and device.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    )
)]
async fn me(
    state: axum::extract::State<AppState>,
    auth: AuthUser,
) -> Result<Json<MeResponse>, ApiError> {
    let user = state.store.user(auth.user_id).await?;
    let device = state.store.device(auth.device_id).await?;
    Ok(Json(MeResponse {
        user: (&user).into(),
        device: (&device).into(),
    }))
}
