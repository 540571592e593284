//! The API's errors: each variant says which status it answers with.
//!
//! Every error body has one shape, `{"error": {"code": "...", "message": "..."}}`.
//! Internal errors are logged with their cause and answered with an opaque 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{Constraint, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed JSON, or a field that is not valid.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials, or invalid, expired or revoked ones.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: authenticated, but this may not be done.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such route or object (also for objects the caller may not see).
    #[error("not found")]
    NotFound,
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request took longer than the server's timeout.
    #[error("request timed out")]
    Timeout,
    /// 409: the request conflicts with stored state.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the server accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 429: too many failed logins; try again after `retry_after_secs`
    /// (also sent as `Retry-After`).
    #[error("too many failed logins: try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    /// 415: a JSON body without `Content-Type: application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 503: a dependency (the database) does not answer.
    #[error("service unavailable")]
    Unavailable,
    /// 409 with `Retry-After`: this device already has a sync running.
    #[error("a sync from this device is already running; retry when it has finished")]
    SyncInProgress,
    /// 503 with `Retry-After`: the server sheds load (too much work in flight).
    #[error("the server is busy; retry later")]
    Overloaded,
    /// 400 `bad_range`: an upload chunk without a valid `Content-Range`, or
    /// whose body is not exactly the range's bytes.
    #[error("{0}")]
    BadRange(String),
    /// 400 `size_mismatch`: an upload's total is not the referenced size.
    #[error("{0}")]
    SizeMismatch(String),
    /// 413 `too_large`: an attachment over the size limit, or a chunk over 4 MiB.
    #[error("{0}")]
    TooLarge(String),
    /// 415 `media_type`: an attachment's bytes are not an accepted type, or
    /// not the type its reference names; or a sync body's `Content-Encoding`
    /// is not one the server inflates.
    #[error("{0}")]
    MediaType(String),
    /// 422 `hash_mismatch`: an upload's bytes do not have the referenced
    /// SHA-256; its staged bytes were discarded (start again from byte 0).
    #[error("the uploaded bytes do not match the referenced SHA-256; start again from byte 0")]
    HashMismatch,
    /// 500: a bug or an infrastructure failure; logged, never shown.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::SyncInProgress => StatusCode::CONFLICT,
            ApiError::BadRange(_) | ApiError::SizeMismatch(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::HashMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable, machine-readable code (clients switch on this, not on messages).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Timeout => "timeout",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable => "unavailable",
            ApiError::SyncInProgress => "sync_in_progress",
            ApiError::Overloaded => "overloaded",
            ApiError::BadRange(_) => "bad_range",
            ApiError::SizeMismatch(_) => "size_mismatch",
            ApiError::TooLarge(_) => "too_large",
            ApiError::MediaType(_) => "media_type",
            ApiError::HashMismatch => "hash_mismatch",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Seconds a client should wait before trying again, if it should.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::SyncInProgress => Some(1),
            ApiError::Overloaded => Some(2),
            ApiError::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The error for a bare status produced outside a handler (tower-http
    /// layers, axum's router): see `app::json_error_bodies`.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest("bad request".into()),
            StatusCode::UNAUTHORIZED => ApiError::Unauthorized("unauthorized"),
            StatusCode::FORBIDDEN => ApiError::Forbidden("forbidden"),
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable,
            s if s.is_client_error() => {
                ApiError::BadRequest(s.canonical_reason().unwrap_or("bad request").to_lowercase())
            }
            s => ApiError::internal(format!("bare {s} response")),
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code, e.g. `unauthorized`, `bad_request`, `not_found`.
    pub code: String,
    /// Human-readable explanation; never contains internal details.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = %e, source = ?e, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message,
            },
        };
        let mut res = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The body was refused unread: the connection cannot carry another
            // request. Saying so keeps a client from reusing it (and failing
            // its next request on a connection the server closes).
            res.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(secs) = self.retry_after() {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// Documents, on every operation of `doc`, the error answers the shared
/// middleware and extractors give whatever the handler: 401 where a token
/// is required, 400 where a path, query or body is parsed, 413 and (for
/// JSON) 415 where there is a body, 408 everywhere. Handlers document
/// only their own answers.
pub fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let body = op.request_body.as_ref();
            let json_body = body.is_some_and(|b| match b {
                utoipa::openapi::RefOr::T(b) => b.content.keys().any(|k| k.contains("json")),
                utoipa::openapi::RefOr::Ref(_) => true,
            });
            let parsed = body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut add = |status: &str, description: &str, when: bool| {
                if when {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            };
            add("400", "Malformed path, query or body", parsed);
            add("401", "Missing, invalid or expired credentials", secured);
            add(
                "408",
                "The request took longer than the server's timeout",
                true,
            );
            add(
                "413",
                "The body is larger than the server accepts",
                body.is_some(),
            );
            add(
                "415",
                "A JSON body without Content-Type: application/json",
                json_body,
            );
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            // A queue for the database, not a fault: 503 with Retry-After.
            StoreError::Busy => ApiError::Overloaded,
            StoreError::Conflict(Constraint::UsernameTaken) => {
                ApiError::Conflict("username is taken".into())
            }
            StoreError::Conflict(Constraint::ActorIdTaken) => {
                ApiError::Conflict("this device is registered to another user".into())
            }
            e @ StoreError::Conflict(Constraint::Other(_)) | e @ StoreError::Other(_) => {
                ApiError::internal(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_that_times_out_is_a_busy_server_not_a_bug() {
        let e = ApiError::from(StoreError::from(sqlx::Error::PoolTimedOut));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code(), "overloaded");
        assert_eq!(e.retry_after(), Some(2));
        // Other database failures stay opaque 500s.
        let e = ApiError::from(StoreError::from(sqlx::Error::PoolClosed));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
