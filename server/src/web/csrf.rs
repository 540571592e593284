//! [`CsrfForm`]: a POSTed console form whose CSRF token matched the session's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::WebError;
use super::session::{WebUser, same_secret};
use crate::app::AppState;
use crate::freetext::{FreeText, refuse_card_numbers};

/// The hidden field every console form carries.
pub const CSRF_FIELD: &str = "csrf";

/// A urlencoded form from a logged-in user, with the session's CSRF token
/// checked (403 page if missing or wrong) before `T` is parsed (400 page if
/// a field is invalid, or a free-text field holds a card number: see
/// [`crate::freetext`]). `T` need not (and should not) declare `csrf`.
pub struct CsrfForm<T> {
    pub user: WebUser,
    pub form: T,
}

/// The form of a button that posts nothing but its CSRF token (take,
/// resolve, disable, log out).
#[derive(Deserialize)]
pub struct NoFields {}

impl FreeText for NoFields {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

#[derive(Deserialize)]
struct Token {
    csrf: Option<String>,
}

impl<T: DeserializeOwned + FreeText> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let user = WebUser::from_request_parts(&mut parts, state).await?;
        let is_form = parts.headers.get(CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes()
                .starts_with(b"application/x-www-form-urlencoded")
        });
        if !is_form {
            return Err(WebError::BadRequest("expected a form".into()));
        }
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| WebError::BadRequest("unreadable form".into()))?;
        if crate::extract::urlencoded_has_nul(&bytes) {
            return Err(WebError::BadRequest(crate::extract::NUL_MESSAGE.into()));
        }
        let token: Token = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| WebError::Forbidden("missing or invalid CSRF token"))?;
        if !token
            .csrf
            .is_some_and(|t| same_secret(&t, &user.csrf_token))
        {
            return Err(WebError::Forbidden("missing or invalid CSRF token"));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::BadRequest(format!("invalid form: {e}")))?;
        refuse_card_numbers(&form).map_err(|e| WebError::BadRequest(e.to_string()))?;
        Ok(CsrfForm { user, form })
    }
}
