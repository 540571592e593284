//! What the `fieldsync` binary does for each command.

use std::io::BufRead as _;

use fieldsync_core::{Role, UserId};
use tokio::net::TcpListener;

use crate::app::{self, ServeError};
use crate::auth::jwt::new_signing_key;
use crate::auth::password::{self, PasswordError};
use crate::config::{AdminCommand, Cli, Command, Settings};
use crate::store::{DeviceId, StoreError, User, UserCredentials, Username, now_utc};
use crate::users;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid username: {0}")]
    Username(#[from] crate::store::InvalidUsername),
    #[error("username {0} is taken")]
    UsernameTaken(Username),
    #[error("invalid email: {0}")]
    Email(String),
    #[error(transparent)]
    Invalid(#[from] fieldsync_core::InvalidValue),
    #[error("no user {0}")]
    NoSuchUser(Username),
    #[error(transparent)]
    User(#[from] users::service::UserError),
    #[error("no device {0}")]
    NoSuchDevice(DeviceId),
    #[error(transparent)]
    Team(#[from] crate::desk::service::TeamError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("cannot read the password from standard input: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("no password given: set FIELDSYNC_PASSWORD or write it on standard input")]
    NoPassword,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
}

/// Runs the command line's command (serve if none).
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = cli.settings;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Demo => Ok(crate::demo::run(settings, app::shutdown_signal()).await?),
        Command::Admin { command } => admin(settings, command).await,
    }
}

async fn serve(settings: Settings) -> Result<(), CliError> {
    // A bad logo stops the start before anything is bound or opened.
    crate::brand::Brand::load(&settings.brand).map_err(ServeError::from)?;
    let addr = settings.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    tracing::info!(settings = ?settings, "starting");
    app::serve(settings, listener, app::shutdown_signal()).await?;
    Ok(())
}

async fn admin(settings: Settings, command: AdminCommand) -> Result<(), CliError> {
    let store = app::open_store(&settings).await?;
    match command {
        AdminCommand::CreateUser {
            username,
            role,
            display_name,
            email,
        } => {
            let username: Username = username.parse()?;
            // Customers see the display name: it is free text like any other.
            if let Some(name) = &display_name {
                fieldsync_core::card::refuse_card_number("display-name", name)?;
            }
            let email = email
                .map(|e| e.parse::<fieldsync_core::ids::Email>())
                .transpose()
                .map_err(|e| CliError::Email(e.to_string()))?;
            let password = read_password()?;
            let id = create_user(store.as_ref(), username, role, password).await?;
            if display_name.is_some() || email.is_some() {
                let display_name = display_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty());
                store
                    .set_user_profile(id, display_name, email.as_ref().map(|e| e.as_str()))
                    .await?;
            }
            println!("{id}");
        }
        AdminCommand::RevokeDevice { device } => {
            match store.revoke_device(device, now_utc()).await {
                Ok(d) => println!("revoked device {} of user {}", d.id, d.user_id),
                Err(StoreError::NotFound) => return Err(CliError::NoSuchDevice(device)),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::DisableUser { username } => {
            let id = user_named(store.as_ref(), &username).await?;
            users::service::set_disabled(store.as_ref(), id, true).await?;
            println!("disabled user {username}; every device of theirs is revoked");
        }
        AdminCommand::EnableUser { username } => {
            let id = user_named(store.as_ref(), &username).await?;
            users::service::set_disabled(store.as_ref(), id, false).await?;
            println!("enabled user {username}");
        }
        AdminCommand::ResetPassword { username } => {
            let id = user_named(store.as_ref(), &username).await?;
            let password = read_password()?;
            users::service::reset_password_unchecked(store.as_ref(), id, password).await?;
            println!("new password set for {username}; every device of theirs is revoked");
        }
        AdminCommand::SetTeam {
            team,
            supervisor,
            members,
        } => {
            let mut ids = Vec::with_capacity(members.len());
            for name in &members {
                ids.push(user_named(store.as_ref(), name).await?);
            }
            let supervisor = match &supervisor {
                Some(name) => Some(user_named(store.as_ref(), name).await?),
                None => None,
            };
            crate::desk::service::replace_team(store.as_ref(), team, supervisor, &ids).await?;
            println!("team {team}: {} members", ids.len());
        }
        AdminCommand::RotateKey => {
            let key = new_signing_key();
            store.rotate_signing_key(&key).await?;
            println!("new signing key {}", key.kid);
        }
    }
    Ok(())
}

/// The id of the user called `name`.
async fn user_named(store: &dyn crate::app::AppStore, name: &str) -> Result<UserId, CliError> {
    let username: Username = name.parse()?;
    match store.user_credentials(&username).await {
        Ok(c) => Ok(c.user.id),
        Err(StoreError::NotFound) => Err(CliError::NoSuchUser(username)),
        Err(e) => Err(e.into()),
    }
}

/// Creates a user with an argon2id hash of `password`.
pub async fn create_user(
    store: &dyn crate::store::Store,
    username: Username,
    role: Role,
    password: String,
) -> Result<UserId, CliError> {
    let password_hash = password::hash_password(password).await?;
    let user = User {
        id: UserId::from_uuid(uuid::Uuid::new_v4()),
        username: username.clone(),
        role,
        created_at: now_utc(),
    };
    match store
        .create_user(&UserCredentials {
            user,
            password_hash,
        })
        .await
    {
        Ok(u) => Ok(u.id),
        Err(StoreError::Conflict(_)) => Err(CliError::UsernameTaken(username)),
        Err(e) => Err(e.into()),
    }
}

/// FIELDSYNC_PASSWORD if set, else the first line of standard input.
fn read_password() -> Result<String, CliError> {
    if let Ok(p) = std::env::var("FIELDSYNC_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CliError::Stdin)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(CliError::NoPassword);
    }
    Ok(password)
}
