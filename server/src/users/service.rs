//! User administration rules, shared by `/v1/users`, the console's users
//! page and `fieldsync admin`: admins only (`ManageUsers`), and an admin
//! may not disable themselves or take away their own admin role (the last
//! way back in).

use fieldsync_core::{LocationId, Principal, Role, UserId};

use super::store::{DeviceStatus, UserAccount};
use crate::app::AppStore;
use crate::auth::password::{self, PasswordError};
use crate::authz::{self, Permission};
use crate::store::{Constraint, StoreError, User, UserCredentials, Username, now_utc};

/// Why an operation was refused (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(transparent)]
    Denied(#[from] authz::Denied),
    #[error("no such user")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("username is taken")]
    UsernameTaken,
    #[error("you cannot {0} your own account")]
    OwnAccount(&'static str),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => UserError::NotFound,
            StoreError::Conflict(Constraint::UsernameTaken) => UserError::UsernameTaken,
            e => UserError::Store(e),
        }
    }
}

impl From<PasswordError> for UserError {
    fn from(e: PasswordError) -> Self {
        UserError::Invalid(format!("password: {e}"))
    }
}

impl From<UserError> for crate::error::ApiError {
    fn from(e: UserError) -> Self {
        use crate::error::ApiError;
        match e {
            UserError::Denied(d) => d.into(),
            UserError::NotFound => ApiError::NotFound,
            UserError::Invalid(m) => ApiError::BadRequest(m),
            UserError::UsernameTaken => ApiError::Conflict("username is taken".into()),
            e @ UserError::OwnAccount(_) => ApiError::Conflict(e.to_string()),
            UserError::Store(e) => e.into(),
        }
    }
}

/// What an admin gives to create a user.
pub struct NewUser {
    pub username: String,
    pub role: Role,
    pub password: String,
}

/// Longer passwords are refused before hashing (argon2 over megabytes is
/// a cheap way to tie up a core).
const MAX_PASSWORD_CHARS: usize = 1024;

fn bounded(password: &str) -> Result<(), UserError> {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(UserError::Invalid(format!(
            "password: at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

fn admin(caller: Principal) -> Result<(), UserError> {
    Ok(authz::require(caller, Permission::ManageUsers)?)
}

pub async fn list(store: &dyn AppStore, caller: Principal) -> Result<Vec<UserAccount>, UserError> {
    admin(caller)?;
    Ok(store.user_accounts().await?)
}

pub async fn get(
    store: &dyn AppStore,
    caller: Principal,
    id: UserId,
) -> Result<(UserAccount, Vec<DeviceStatus>), UserError> {
    admin(caller)?;
    let account = store.user_account(id).await?;
    let devices = store.user_devices(id).await?;
    Ok((account, devices))
}

pub async fn create(
    store: &dyn AppStore,
    caller: Principal,
    new: NewUser,
) -> Result<UserAccount, UserError> {
    admin(caller)?;
    create_unchecked(store, new).await
}

/// [`create`] without the caller check: `fieldsync admin` runs with the
/// database's own authority.
pub async fn create_unchecked(
    store: &dyn AppStore,
    new: NewUser,
) -> Result<UserAccount, UserError> {
    let username: Username = new
        .username
        .parse()
        .map_err(|e| UserError::Invalid(format!("username: {e}")))?;
    bounded(&new.password)?;
    let password_hash = password::hash_password(new.password).await?;
    let user = User {
        id: UserId::from_uuid(uuid::Uuid::new_v4()),
        username,
        role: new.role,
        created_at: now_utc(),
    };
    store
        .create_user(&UserCredentials {
            user: user.clone(),
            password_hash,
        })
        .await?;
    Ok(store.user_account(user.id).await?)
}

/// Disables `id`: every device, refresh token and console session of theirs
/// stops working at once, and logging in is refused.
pub async fn disable(
    store: &dyn AppStore,
    caller: Principal,
    id: UserId,
) -> Result<UserAccount, UserError> {
    admin(caller)?;
    if caller.user == id {
        return Err(UserError::OwnAccount("disable"));
    }
    set_disabled(store, id, true).await
}

pub async fn enable(
    store: &dyn AppStore,
    caller: Principal,
    id: UserId,
) -> Result<UserAccount, UserError> {
    admin(caller)?;
    set_disabled(store, id, false).await
}

/// Disable or re-enable without a caller (`fieldsync admin`).
pub async fn set_disabled(
    store: &dyn AppStore,
    id: UserId,
    disabled: bool,
) -> Result<UserAccount, UserError> {
    let account = store.set_user_disabled(id, disabled.then(now_utc)).await?;
    tracing::info!(user_id = %id, disabled, "user access changed");
    Ok(account)
}

/// Sets a new password; the user's devices are revoked (they log in again
/// with the new one).
pub async fn reset_password(
    store: &dyn AppStore,
    caller: Principal,
    id: UserId,
    new_password: String,
) -> Result<(), UserError> {
    admin(caller)?;
    reset_password_unchecked(store, id, new_password).await
}

pub async fn reset_password_unchecked(
    store: &dyn AppStore,
    id: UserId,
    new_password: String,
) -> Result<(), UserError> {
    // A missing user is a 404 before the (slow) hash.
    store.user_account(id).await?;
    bounded(&new_password)?;
    let hash = password::hash_password(new_password).await?;
    store.reset_password(id, &hash, now_utc()).await?;
    tracing::info!(user_id = %id, "password reset; devices revoked");
    Ok(())
}

pub async fn set_role(
    store: &dyn AppStore,
    caller: Principal,
    id: UserId,
    role: Role,
) -> Result<UserAccount, UserError> {
    admin(caller)?;
    if caller.user == id && !role.can(Permission::ManageUsers) {
        return Err(UserError::OwnAccount("take user administration away from"));
    }
    Ok(store.set_user_role(id, role).await?)
}

pub async fn set_depots(
    store: &dyn AppStore,
    caller: Principal,
    id: UserId,
    depots: &[LocationId],
) -> Result<UserAccount, UserError> {
    admin(caller)?;
    const MAX_DEPOTS: usize = 100;
    if depots.len() > MAX_DEPOTS {
        return Err(UserError::Invalid(format!("depots: at most {MAX_DEPOTS}")));
    }
    match store.set_user_depots(id, depots).await {
        Err(StoreError::Conflict(Constraint::Other(_))) => Err(UserError::Invalid(
            "depots: every id must name a depot".into(),
        )),
        r => Ok(r?),
    }
}

/// Revokes one of `id`'s devices (the console's devices list).
pub async fn revoke_device(
    store: &dyn AppStore,
    caller: Principal,
    user: UserId,
    device: crate::store::DeviceId,
) -> Result<(), UserError> {
    admin(caller)?;
    let d = store.device(device).await?;
    if d.user_id != user {
        return Err(UserError::NotFound);
    }
    store.revoke_device(device, now_utc()).await?;
    tracing::info!(device_id = %device, by = %caller.user, "device revoked");
    Ok(())
}

/// Sync health with devices counted stale after `hours` without a sync
/// (by the server's clock, never a device's).
pub async fn health(
    state: &crate::app::AppState,
    hours: u32,
) -> Result<super::store::SyncHealth, StoreError> {
    let before = state.clock.now() - time::Duration::hours(i64::from(hours));
    state.store.sync_health(before).await
}
