//! The console's job page, `/console/jobs/{id}` (minimal: the job's
//! essentials and its attachments as thumbnails; the console issue grows
//! it), and the attachment files the page links, under `/console` so the
//! session cookie reaches them. Scope as for the API: a job the user does
//! not see is a 404 page.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use fieldsync_core::JobId;
use maud::{Markup, html};
use uuid::Uuid;

use super::media::Media;
use super::routes::file_response;
use super::service;
use crate::app::AppState;
use crate::web::layout;
use crate::web::{WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/jobs/{id}", get(job_page))
        .route("/console/jobs/{id}/attachments/{sha256}", get(download))
        .route(
            "/console/jobs/{id}/attachments/{sha256}/thumbnail",
            get(thumbnail),
        )
}

async fn job_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<Uuid>,
) -> Result<Markup, WebError> {
    let id = JobId::from_uuid(id);
    let (job, _) = crate::jobs::visible_job_doc(&state, &user.scope(), id).await?;
    let hashes: Vec<String> = job.attachments.iter().map(|a| a.sha256.clone()).collect();
    let stored = state.store.stored_blobs(&hashes).await?;
    let title = format!("Job for {}", job.customer.name);
    Ok(layout::page(
        &user,
        &title,
        html! {
            dl.job {
                dt { "Status" } dd id="status" { (job.status.as_str()) }
                dt { "Site" } dd { (job.site.address) }
                dt { "Asset" } dd { (job.asset.product) }
                dt { "Problem" } dd { (job.problem) }
            }
            h2 { "Attachments" }
            @if job.attachments.is_empty() {
                p.muted { "No attachments." }
            }
            div.attachments {
                @for a in &job.attachments {
                    @let uploaded = stored.contains(&a.sha256);
                    @let base = format!("/console/jobs/{id}/attachments/{}", a.sha256);
                    @let image = Media::from_mime(&a.media_type).is_some_and(Media::has_thumbnail);
                    figure.attachment data-sha256=(a.sha256) {
                        @if uploaded && image {
                            a href=(base) {
                                img src=(format!("{base}/thumbnail")) alt=(if a.caption.is_empty() { a.kind.as_str() } else { a.caption.as_str() });
                            }
                        } @else if uploaded {
                            a href=(base) { "Download " (a.media_type) }
                        } @else {
                            span.muted.pending { "Not uploaded yet" }
                        }
                        figcaption {
                            span.badge { (a.kind.as_str()) }
                            " " (a.caption)
                        }
                    }
                }
            }
        },
    ))
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
