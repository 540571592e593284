//! Extractors whose rejections are [`ApiError`]s, so a bad request always
//! gets the JSON error body. A JSON body's free text is checked for card
//! numbers before any handler sees it ([`crate::freetext`]).

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::freetext::{FreeText, refuse_card_numbers};

/// `axum::Json` with [`ApiError`] rejections: malformed or mistyped JSON is a
/// 400, a missing JSON content type a 415, an oversized body a 413, a NUL
/// character in any string a 400, and a card number in a free-text field
/// a 400 naming the field.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned + FreeText,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest(e.body_text()),
            })?;
        if has_escaped_nul(&bytes) {
            return Err(ApiError::BadRequest(NUL_MESSAGE.into()));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        refuse_card_numbers(&value).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(Json(value))
    }
}

/// What a client hears when its text holds U+0000.
pub const NUL_MESSAGE: &str = "text may not contain the NUL character (U+0000)";

/// `application/json` or `application/*+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON text holds a NUL character. JSON can only carry one as
/// the escape `\u0000` (raw control characters are invalid in strings);
/// an escaped backslash before `u0000` is literal text, not a NUL.
/// PostgreSQL cannot store NUL in text, so the API refuses it for every
/// backend alike, before anything is parsed or stored.
pub fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Whether a URL-encoded text (a query string, a form body) holds a NUL
/// character: `%00`, or the byte itself.
pub fn urlencoded_has_nul(text: &[u8]) -> bool {
    text.contains(&0) || text.windows(3).any(|w| w == b"%00")
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_escapes_and_only_them() {
        assert!(has_escaped_nul(br#"{"a": "x\u0000y"}"#));
        assert!(has_escaped_nul(br#"{"a\u0000": 1}"#));
        assert!(
            !has_escaped_nul(br#"{"a": "x\\u0000y"}"#),
            "an escaped backslash"
        );
        assert!(has_escaped_nul(br#"{"a": "\\\u0000"}"#));
        assert!(!has_escaped_nul(br#"{"a": "\u0001 \n"}"#));
        assert!(urlencoded_has_nul(b"a=x%00y"));
        assert!(urlencoded_has_nul(b"a=x\0y"));
        assert!(!urlencoded_has_nul(b"a=x%2500y"), "a literal %00");
    }
}
