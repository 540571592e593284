//! Authentication: passwords, access tokens (JWT), rotating refresh tokens
//! bound to registered devices, device revocation, and the [`AuthUser`]
//! extractor every protected route takes.

mod devices;
mod extractor;
pub mod jwt;
pub mod lockouts;
pub mod password;
pub mod refresh;
mod routes;
mod store;
pub mod throttle;

use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;

pub use devices::DeviceView;
pub use extractor::AuthUser;
pub use routes::{DeviceInfo, LoginRequest, MeResponse, RefreshRequest, TokenResponse, UserView};
pub use store::{LockoutStore, LoginLockout};

/// `/v1/auth/*`, `/v1/me` and `/v1/devices/*`.
pub fn router() -> OpenApiRouter<AppState> {
    routes::router().merge(devices::router())
}
