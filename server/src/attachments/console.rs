//! The attachment files the console's job page (`crate::jobs::page`) links,
//! under `/console` so the session cookie reaches them. Scope as for the
//! API: a job the user does not see is a 404 page.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use fieldsync_core::JobId;
use uuid::Uuid;

use super::routes::file_response;
use super::service;
use crate::app::AppState;
use crate::web::{WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/jobs/{id}/attachments/{sha256}", get(download))
        .route(
            "/console/jobs/{id}/attachments/{sha256}/thumbnail",
            get(thumbnail),
        )
}

async fn download(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, sha256)): Path<(Uuid, String)>,
) -> Result<Response, WebError> {
    let t = service::target(&state, user.scope(), JobId::from_uuid(id), &sha256).await?;
    let (blob, bytes) = service::download(&state, &t).await?;
    let name = service::file_name(&t.reference.kind, &blob.sha256, &blob.media_type);
    Ok(file_response(&blob.media_type, Some(&name), bytes))
}

async fn thumbnail(
    State(state): State<AppState>,
    user: WebUser,
    Path((id, sha256)): Path<(Uuid, String)>,
) -> Result<Response, WebError> {
    let t = service::target(&state, user.scope(), JobId::from_uuid(id), &sha256).await?;
    let bytes = service::thumbnail(&state, &t).await?;
    Ok(file_response("image/jpeg", None, bytes))
}
