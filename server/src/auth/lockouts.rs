//! The login throttle as the two login forms use it: begin an attempt
//! (refused while the account or the client address must wait or is
//! locked out), then finish it, auditing every lockout that starts.

use std::time::Instant;

use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::error::ApiError;

use super::throttle::{Attempt, Lockout, Refused};

/// Which login form an attempt came through (recorded with a lockout).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    Api,
    Console,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Api => "api",
            Surface::Console => "console",
        }
    }
}

/// Starts a login attempt for the typed `username` from `client`.
pub async fn begin(
    state: &AppState,
    username: &str,
    client: ClientAddr,
) -> Result<Result<Attempt, Refused>, ApiError> {
    Ok(state
        .throttle
        .begin(username, client.limit_key(), Instant::now()))
}

/// Ends an attempt; a lockout it starts is logged and audited.
pub async fn finish(
    state: &AppState,
    attempt: Attempt,
    succeeded: bool,
    client: ClientAddr,
    surface: Surface,
) -> Result<(), ApiError> {
    for lockout in state.throttle.finish(attempt, succeeded, Instant::now()) {
        audit(state, &lockout, client, surface).await?;
    }
    Ok(())
}

async fn audit(
    _state: &AppState,
    lockout: &Lockout,
    client: ClientAddr,
    surface: Surface,
) -> Result<(), ApiError> {
    tracing::warn!(
        scope = lockout.scope.as_str(),
        subject = %lockout.subject,
        client = %client.0,
        surface = surface.as_str(),
        failures = lockout.failures,
        lockout_secs = lockout.duration.as_secs(),
        "login lockout"
    );
    Ok(())
}
