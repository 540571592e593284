//! `/v1/jobs/{id}/attachments/...`: resumable uploads, downloads and
//! thumbnails (the contract in docs/attachments.md), and the office's
//! per-job options. Thin adapters over [`super::service`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fieldsync_core::JobId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::ranges::parse_content_range;
use super::service::{self, MAX_CHUNK_BYTES, UploadStatus};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::Permission;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::freetext::FreeText;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_status, put_chunk))
        .routes(routes!(download))
        .routes(routes!(thumbnail))
        .routes(routes!(set_options))
}

/// What the server holds of an upload: the received ranges, and whether
/// the blob is stored (then the device skips it). 404 for a job the
/// caller does not see or a hash the job does not reference. An upload
/// whose every byte is staged but not yet checked (its last chunk got 503)
/// is finished first, with the answers of a last chunk.
#[utoipa::path(get, path = "/v1/jobs/{id}/attachments/{sha256}/upload", tag = "attachments",
    params(("id" = Uuid, Path), ("sha256" = String, Path, description = "SHA-256 the job references, hex")),
    responses((status = 200, body = UploadStatus), (status = 404, body = ErrorBody),
        (status = 415, description = "`media_type`: finishing a fully staged upload refused its type", body = ErrorBody),
        (status = 422, description = "`hash_mismatch`: finishing a fully staged upload refused its hash", body = ErrorBody),
        (status = 503, description = "`overloaded`: too many uploads finishing; retry after `Retry-After`", body = ErrorBody)),
    security(("bearer" = [])))]
async fn upload_status(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, sha256)): Path<(Uuid, String)>,
) -> Result<axum::Json<UploadStatus>, ApiError> {
    let t = service::target(&state, caller.scope(), JobId::from_uuid(id), &sha256).await?;
    Ok(axum::Json(service::query(&state, &t).await?))
}

/// One chunk of an upload: `Content-Range: bytes START-END/TOTAL` (END
/// inclusive), the body exactly those bytes, at most 4 MiB. Repeating
/// received bytes is fine. When the last missing byte arrives the whole is
/// checked (SHA-256, media type from the bytes), JPEG EXIF GPS data is
/// stripped unless the job keeps it, and the blob is stored.
#[utoipa::path(put, path = "/v1/jobs/{id}/attachments/{sha256}/upload", tag = "attachments",
    params(("id" = Uuid, Path), ("sha256" = String, Path, description = "SHA-256 the job references, hex"),
        ("Content-Range" = String, Header, description = "bytes START-END/TOTAL")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = UploadStatus),
        (status = 400, description = "`bad_range`: missing or bad Content-Range, or a body of another length; `size_mismatch`: TOTAL is not the referenced size", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The upload was reset meanwhile: start again", body = ErrorBody),
        (status = 413, description = "`too_large`: the file is over the limit or the chunk over 4 MiB", body = ErrorBody),
        (status = 415, description = "`media_type`: not JPEG, PNG, PDF, HEIC or WebP, or not the referenced type", body = ErrorBody),
        (status = 422, description = "`hash_mismatch`: the whole's SHA-256 differs; staged bytes discarded", body = ErrorBody),
        (status = 503, description = "`overloaded`: the last chunk is staged but too many uploads are finishing; the next status query or chunk finishes it", body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_chunk(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, sha256)): Path<(Uuid, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<UploadStatus>, ApiError> {
    let t = service::target(&state, caller.scope(), JobId::from_uuid(id), &sha256).await?;
    let range = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_content_range)
        .ok_or_else(|| {
            ApiError::BadRange("expected Content-Range: bytes START-END/TOTAL".into())
        })?;
    service::check_range(&state, &t, &range)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n != range.len()) {
        return Err(ApiError::BadRange(format!(
            "the body must be the {} bytes of the range",
            range.len()
        )));
    }
    // At most one byte past the range: enough to tell a longer body.
    let limit = usize::try_from(range.len().min(MAX_CHUNK_BYTES) + 1).unwrap_or(usize::MAX);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::BadRange(format!(
            "the body must be the {} bytes of the range",
            range.len()
        ))
    })?;
    if bytes.len() as u64 != range.len() {
        return Err(ApiError::BadRange(format!(
            "the body must be the {} bytes of the range",
            range.len()
        )));
    }
    Ok(axum::Json(
        service::put_chunk(&state, &t, range, bytes).await?,
    ))
}

/// The stored bytes (for a JPEG: without EXIF GPS data unless the job
/// keeps it, so they may differ from the referenced hash), with the
/// sniffed `Content-Type` and `Content-Disposition: attachment`.
#[utoipa::path(get, path = "/v1/jobs/{id}/attachments/{sha256}", tag = "attachments",
    params(("id" = Uuid, Path), ("sha256" = String, Path, description = "SHA-256 the job references, hex")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "Not visible, or not uploaded yet", body = ErrorBody)),
    security(("bearer" = [])))]
async fn download(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, sha256)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let t = service::target(&state, caller.scope(), JobId::from_uuid(id), &sha256).await?;
    let (blob, bytes) = service::download(&state, &t).await?;
    let name = service::file_name(&t.reference.kind, &blob.sha256, &blob.media_type);
    Ok(file_response(&blob.media_type, Some(&name), bytes))
}

/// A JPEG thumbnail of a stored image, longest side 320 px; 404 for
/// other files.
#[utoipa::path(get, path = "/v1/jobs/{id}/attachments/{sha256}/thumbnail", tag = "attachments",
    params(("id" = Uuid, Path), ("sha256" = String, Path, description = "SHA-256 the job references, hex")),
    responses((status = 200, description = "The thumbnail", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "Not visible, not uploaded yet, or not an image", body = ErrorBody)),
    security(("bearer" = [])))]
async fn thumbnail(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, sha256)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let t = service::target(&state, caller.scope(), JobId::from_uuid(id), &sha256).await?;
    let bytes = service::thumbnail(&state, &t).await?;
    Ok(file_response("image/jpeg", None, bytes))
}

/// A file body: its type, `nosniff`, and a download name if given.
pub fn file_response(media_type: &str, name: Option<&str>, bytes: bytes::Bytes) -> Response {
    let mut res = Body::from(bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    if let Some(name) = name
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The office's attachment options of one job.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentOptions {
    /// Keep EXIF GPS data in this job's JPEGs (default: stripped before
    /// storing). Applies to uploads completed after it is set.
    pub keep_location: bool,
}

impl FreeText for AttachmentOptions {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        Vec::new()
    }
}

/// Sets a job's attachment options (office only).
#[utoipa::path(put, path = "/v1/jobs/{id}/attachments/options", tag = "attachments",
    params(("id" = Uuid, Path)), request_body = AttachmentOptions,
    responses((status = 200, body = AttachmentOptions), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn set_options(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AttachmentOptions>,
) -> Result<axum::Json<AttachmentOptions>, ApiError> {
    caller.require(Permission::ManageJobs)?;
    let job = JobId::from_uuid(id);
    crate::jobs::visible_job(&state, &caller.scope(), job).await?;
    state
        .store
        .set_keep_location(job, body.keep_location)
        .await?;
    Ok(axum::Json(body))
}
