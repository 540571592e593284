//! The `AuthUser` extractor: a valid bearer token from a device that is not revoked.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use fieldsync_core::{Principal, Role, UserId};

use crate::app::AppState;
use crate::authz::{self, Permission, Scope};
use crate::error::ApiError;
use crate::store::{DeviceActor, DeviceId, StoreError, now_utc};

/// The authenticated caller of a request.
///
/// Extracting it verifies the JWT, then reads the device and its user's
/// role and state in one primary-key query, on every request. That query is what
/// makes revocation immediate (no cache to expire, also across server
/// processes) and means a role change applies to the next request; it costs
/// one indexed lookup, small next to any request that does real work.
///
/// A missing, malformed, expired or revoked credential is a 401 with a JSON
/// body, never an anonymous caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: UserId,
    /// The user's current role (from the database, not from the token).
    pub role: Role,
    pub device_id: DeviceId,
    /// The automerge actor of the device: changes it sends must carry it.
    pub actor: DeviceActor,
}

impl AuthUser {
    pub fn principal(&self) -> Principal {
        Principal::new(self.user_id, self.role)
    }

    /// What the caller may see (see [`crate::authz`]).
    pub fn scope(&self) -> Scope {
        Scope::of(self.principal())
    }

    /// 403 unless the caller's role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        Ok(authz::require(self.principal(), p)?)
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ApiError::Unauthorized(
                "expected an Authorization: Bearer token",
            ))?;
        let claims = state.keys.verify(token, now_utc()).await?;
        let principal = match state.store.device_principal(claims.device_id).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => {
                return Err(ApiError::Unauthorized("unknown device"));
            }
            Err(e) => return Err(e.into()),
        };
        if principal.device.user_id != claims.user_id {
            return Err(ApiError::Unauthorized("token does not match its device"));
        }
        if principal.device.is_revoked() {
            return Err(ApiError::Unauthorized("device revoked"));
        }
        // Disabling revokes the devices too; this also covers a token
        // issued in the moment between the two.
        if principal.user_disabled {
            return Err(ApiError::Unauthorized("account disabled"));
        }
        Ok(AuthUser {
            user_id: claims.user_id,
            role: principal.role,
            device_id: principal.device.id,
            actor: principal.device.actor,
        })
    }
}
