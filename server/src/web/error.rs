//! Errors of console pages: an HTML page with the status, or a redirect to login.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No (valid) session: 303 to the login page.
    #[error("login required")]
    LoginRequired,
    /// 400: a form field that is not valid (the message is shown).
    #[error("{0}")]
    BadRequest(String),
    /// 403: logged in, but not allowed (also a bad CSRF token).
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such thing, or one this user may not see.
    #[error("not found")]
    NotFound,
    /// 409: the action conflicts with stored state (the message is shown).
    #[error("{0}")]
    Conflict(String),
    /// 500: logged, never shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl WebError {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        WebError::Internal(e.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            WebError::LoginRequired => StatusCode::SEE_OTHER,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebError::NotFound,
            e => WebError::internal(e),
        }
    }
}

impl From<crate::error::ApiError> for WebError {
    fn from(e: crate::error::ApiError) -> Self {
        use crate::error::ApiError as A;
        match e {
            A::BadRequest(m) => WebError::BadRequest(m),
            A::Forbidden(m) => WebError::Forbidden(m),
            A::NotFound => WebError::NotFound,
            A::Conflict(m) => WebError::Conflict(m),
            A::Unauthorized(_) => WebError::LoginRequired,
            other => WebError::internal(other),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            WebError::LoginRequired => return Redirect::to("/console/login").into_response(),
            WebError::Internal(e) => {
                tracing::error!(error = %e, source = ?e, "console internal error");
                "Something went wrong on our side.".to_owned()
            }
            other => other.to_string(),
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · Fieldsync" }
                    style { (maud::PreEscaped(super::layout::CSS)) }
                }
                body { main {
                    h1 { (status.as_u16()) " " (title) }
                    p.error { (message) }
                    p { a href="/console" { "Back to the console" } }
                } }
            }
        };
        (status, body).into_response()
    }
}
