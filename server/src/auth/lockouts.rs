//! The login throttle as the two login forms use it: begin an attempt
//! (refused while the account or the client address must wait or is
//! locked out, here or in the audit another process wrote), then finish
//! it, auditing every lockout that starts.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::store::LoginLockout;
use super::throttle::{Attempt, Lockout, Refused, account_key};
use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::store::now_utc;

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

impl std::str::FromStr for Surface {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "api" => Ok(Surface::Api),
            "console" => Ok(Surface::Console),
            other => Err(format!("unknown login surface {other:?}")),
        }
    }
}

/// Starts a login attempt for the typed `username` from `client`.
pub async fn begin(
    state: &AppState,
    username: &str,
    client: ClientAddr,
) -> Result<Result<Attempt, Refused>, ApiError> {
    // A lockout another server process started holds here too.
    let now = now_utc();
    let live = state
        .store
        .live_login_lockout(&account_key(username), &client.limit_key().to_string(), now)
        .await?;
    if let Some((scope, until)) = live {
        let left = Duration::try_from(until - now).unwrap_or_default();
        return Ok(Err(Refused {
            scope,
            locked: true,
            retry_after: left,
        }));
    }
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
    state: &AppState,
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
    let locked_at = now_utc();
    state
        .store
        .record_login_lockout(&LoginLockout {
            id: Uuid::new_v4(),
            scope: lockout.scope,
            subject: lockout.subject.clone(),
            surface,
            client: client.0.to_string(),
            failures: lockout.failures,
            locked_at,
            locked_until: locked_at + lockout.duration,
        })
        .await?;
    Ok(())
}
