//! Console sessions: the `fs_session` cookie and the [`WebUser`] extractor.

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use fieldsync_core::{Principal, Role, UserId};
use sha2::{Digest, Sha256};
use time::Duration;

use super::error::WebError;
use super::store::{NewWebSession, WebSessionStore};
use crate::app::AppState;
use crate::authz::{self, Permission, Scope};
use crate::store::{TokenHash, User, now_utc};

pub const SESSION_COOKIE: &str = "fs_session";
/// How long a console login lasts.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// The logged-in console user of a request.
///
/// Extracting it reads the `fs_session` cookie, looks up the hashed token and
/// the user's current role (one query). Without a valid session the request
/// is answered with a redirect to `/console/login` ([`WebError::LoginRequired`]).
#[derive(Clone, Debug)]
pub struct WebUser {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    /// Put it in every form with [`super::layout::csrf_field`].
    pub csrf_token: String,
    pub(crate) token_hash: TokenHash,
}

impl WebUser {
    pub fn principal(&self) -> Principal {
        Principal::new(self.user_id, self.role)
    }

    /// What the user may see (see [`crate::authz`]).
    pub fn scope(&self) -> Scope {
        Scope::of(self.principal())
    }

    /// `Forbidden` (a 403 page) unless the user's role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), WebError> {
        Ok(authz::require(self.principal(), p)?)
    }

    pub fn can(&self, p: Permission) -> bool {
        self.role.can(p)
    }

    fn from_user(user: User, csrf_token: String, token_hash: TokenHash) -> Self {
        Self {
            user_id: user.id,
            username: user.username.to_string(),
            role: user.role,
            csrf_token,
            token_hash,
        }
    }
}

impl FromRequestParts<AppState> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        if let Some(user) = parts.extensions.get::<WebUser>() {
            return Ok(user.clone());
        }
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(WebError::LoginRequired)?;
        let hash = hash_token(&token);
        let session = state
            .store
            .web_session(&hash, now_utc())
            .await?
            .ok_or(WebError::LoginRequired)?;
        let user = WebUser::from_user(session.user, session.csrf_token, hash);
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// A new random token (256 bits, hex).
pub(crate) fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub(crate) fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A `Set-Cookie` value for the console (`max_age` 0 deletes the cookie).
pub(crate) fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::try_from(format!(
        "{name}={value}; Path=/console; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    ))
    .expect("cookie values are hex")
}

/// Starts a session for `user`; returns the `Set-Cookie` header to send.
pub(crate) async fn start(
    store: &dyn WebSessionStore,
    user: &User,
    secure: bool,
) -> Result<(HeaderMap, WebUser), WebError> {
    let token = random_token();
    let now = now_utc();
    let session = NewWebSession {
        token_hash: hash_token(&token),
        user_id: user.id,
        csrf_token: random_token(),
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    store.create_web_session(&session).await?;
    let mut headers = HeaderMap::new();
    headers.append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, SESSION_TTL.whole_seconds(), secure),
    );
    Ok((
        headers,
        WebUser::from_user(user.clone(), session.csrf_token, session.token_hash),
    ))
}

/// Ends the session; returns the `Set-Cookie` header that clears the cookie.
pub(crate) async fn end(
    store: &dyn WebSessionStore,
    user: &WebUser,
    secure: bool,
) -> Result<HeaderMap, WebError> {
    store
        .delete_web_session(&user.token_hash, now_utc())
        .await?;
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, secure));
    Ok(headers)
}

/// Constant-time comparison for secrets of equal length.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
