//! `POST /v1/devices/{id}/revoke`.

use axum::extract::{Path, State};
use fieldsync_core::{Permission, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extractor::AuthUser;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::store::{Device, DeviceId, StoreError, now_utc};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(revoke_device))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    #[schema(value_type = String, format = Uuid)]
    pub id: DeviceId,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    pub name: String,
    /// The device's automerge actor id (32 hexadecimal digits).
    pub actor_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        Self {
            id: d.id,
            user_id: d.user_id,
            name: d.name.clone(),
            actor_id: d.actor.to_string(),
            registered_at: d.registered_at,
            revoked_at: d.revoked_at,
        }
    }
}

/// Revoke a device (lost or stolen): its tokens stop working at once and
/// nothing it sends afterwards is accepted.
///
/// Admins and supervisors may revoke any device, other users their own.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/revoke",
    tag = "devices",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "Device id")),
    responses(
        (status = 200, description = "Revoked (or already revoked)", body = DeviceView),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such device visible to the caller", body = ErrorBody),
    )
)]
async fn revoke_device(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let id: DeviceId = id.parse().map_err(|_| ApiError::NotFound)?;
    let device = state.store.device(id).await?;
    let may = auth.role.can(Permission::RevokeAnyDevice) || device.user_id == auth.user_id;
    if !may {
        // Someone else's device: indistinguishable from a missing one.
        return Err(ApiError::NotFound);
    }
    let device = match state.store.revoke_device(id, now_utc()).await {
        Ok(d) => d,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(device_id = %id, by = %auth.user_id, "device revoked");
    Ok(Json((&device).into()))
}
