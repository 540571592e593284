//! `POST /v1/sync`: one batch from a device, answered with one batch.
//!
//! The handler is glue around sync-core's sans-IO [`serve`]: it decides the
//! caller's read scope from SQL ([`scope`]), loads those documents, lets
//! sync-core validate and merge what the device sent, then commits the
//! accepted changes (with their projections) and answers. The response is
//! only sent after every accepted change is durably stored, so a device
//! never believes the server holds something it could lose; a retried or
//! duplicated request finds its changes stored and changes nothing.

pub mod scope;

use std::collections::BTreeMap;
use std::time::Instant;

use automerge::Change;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use fieldsync_core::DocId;
use fieldsync_core::sync::{
    Caller, HeldDoc, Limits, Outcome, Served, SyncError, SyncRequest, serve,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::documents::{self, Derive, Edit, Loaded, WriteError};
use crate::error::ApiError;
use crate::store::now_utc;

pub const CBOR: &str = "application/cbor";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sync))
}

/// Size limits for sync bytes, within the server's body limit.
pub fn limits(max_body_bytes: usize) -> Limits {
    let default = Limits::default();
    Limits {
        max_request_bytes: max_body_bytes,
        max_message_bytes: default.max_message_bytes.min(max_body_bytes),
        ..default
    }
}

/// Exchanges every document the device holds in one batch.
///
/// The body is a CBOR `SyncRequest` and the answer a CBOR `SyncResponse`
/// (see docs/sync-protocol.md), each document carrying a standard automerge
/// sync message and, in the answer, its outcome: `accepted`, `rejected`
/// (code and reason; nothing of that document was stored),
/// `needs_another_round`, `removed` (left the caller's scope: drop it) or
/// `not_found`.
#[utoipa::path(
    post,
    path = "/v1/sync",
    tag = "sync",
    request_body(content = Vec<u8>, content_type = "application/cbor",
        description = "CBOR SyncRequest {v, docs: [{id, msg}]}"),
    responses(
        (status = 200, description = "CBOR SyncResponse {v, docs: [{id, outcome, msg}]}",
            content_type = "application/cbor", body = Vec<u8>),
        (status = 400, description = "The body is not a sync request", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, expired or revoked credentials", body = crate::error::ErrorBody),
        (status = 413, description = "The batch is larger than the server accepts", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn sync(
    State(state): State<AppState>,
    caller: AuthUser,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let limits = limits(state.settings.max_body_bytes);
    let request = SyncRequest::decode(&body, &limits).map_err(|e| match e {
        SyncError::TooLarge { .. } => ApiError::PayloadTooLarge,
        e => ApiError::BadRequest(format!("sync request: {e}")),
    })?;
    let now = now_utc();
    let scope = scope::resolve(state.store.as_ref(), &caller, &request, now).await?;

    let mut held = BTreeMap::new();
    // The version each document was loaded at: the base of its commit.
    let mut versions = BTreeMap::new();
    let mut price_book = None;
    for (id, access) in scope {
        let loaded = documents::load(state.store.as_ref(), &state.docs, &id)
            .await
            .map_err(ApiError::internal)?;
        if let Some(loaded) = loaded {
            if id == DocId::PriceBook {
                // Read once per price book version, not once per sync.
                price_book = documents::price_book_of(&state.docs, &loaded);
            }
            versions.insert(id, loaded.version);
            held.insert(
                id,
                HeldDoc {
                    doc: loaded.doc,
                    access,
                },
            );
        }
    }

    // Merging and validating is CPU work on automerge: off the async workers.
    let principal = caller.principal();
    let actor = caller.actor.to_automerge();
    let (served, mut held) = tokio::task::spawn_blocking(move || {
        let actors = [actor];
        let who = Caller {
            principal,
            device_actors: &actors,
        };
        let served = serve(&request, &mut held, &who, &limits);
        (served, held)
    })
    .await
    .map_err(ApiError::internal)?;

    let derive = Derive {
        price_book: price_book.as_deref(),
        now,
        feedback: &state.settings.feedback,
    };
    let Served { response, accepted } = served;
    let mut stored_changes = 0usize;
    let mut touched_vans = Vec::new();
    for accepted in accepted {
        if accepted.changes.is_empty() {
            continue;
        }
        stored_changes += accepted.changes.len();
        let changes: &[Change] = &accepted.changes;
        // Usually nobody wrote the document since it was loaded: commit the
        // document `serve` merged as it is, with the job validation read.
        // Otherwise redo the merge on the latest stored copy.
        if let (Some(merged), Some(&version)) =
            (held.remove(&accepted.id), versions.get(&accepted.id))
        {
            let merged = Loaded {
                version,
                doc: merged.doc,
                parsed: None,
            };
            let committed = documents::commit_applied::<automerge::AutomergeError>(
                state.store.as_ref(),
                &state.docs,
                accepted.id,
                &derive,
                &merged,
                changes,
                accepted.job,
            )
            .await
            .map_err(ApiError::internal)?;
            if let Some(applied) = committed {
                touched_vans.extend(applied.vans);
                continue;
            }
        }
        let written = documents::write(
            state.store.as_ref(),
            &state.docs,
            accepted.id,
            &derive,
            |doc, _| {
                doc.apply_changes(changes.iter().cloned())?;
                Ok::<_, automerge::AutomergeError>(Edit {
                    changes: changes.to_vec(),
                    job: None,
                })
            },
        )
        .await
        .map_err(|e| match e {
            WriteError::Contended(_) => ApiError::Unavailable,
            e => ApiError::internal(e),
        })?;
        touched_vans.extend(written.vans);
    }
    drop(held);
    // The ledger took the parts in the commits above; the vans' stock
    // documents follow (the device gets them on its next sync).
    crate::inventory::vanstock::refresh_known(&state, touched_vans).await;

    record(&response.docs, stored_changes, started);
    tracing::info!(
        user = %caller.user_id,
        device = %caller.device_id,
        docs = response.docs.len(),
        changes = stored_changes,
        "sync"
    );
    Ok(([(header::CONTENT_TYPE, CBOR)], response.encode()).into_response())
}

fn record(replies: &[fieldsync_core::sync::DocReply], changes: usize, started: Instant) {
    metrics::counter!("sync_requests_total").increment(1);
    metrics::counter!("sync_changes_accepted_total").increment(changes as u64);
    for reply in replies {
        let outcome = match &reply.outcome {
            Outcome::Accepted => "accepted",
            Outcome::Rejected { code, .. } => {
                metrics::counter!("sync_rejections_total", "code" => format!("{code:?}"))
                    .increment(1);
                "rejected"
            }
            Outcome::NeedsAnotherRound => "needs_another_round",
            Outcome::Removed => "removed",
            Outcome::NotFound => "not_found",
        };
        metrics::counter!("sync_documents_total", "outcome" => outcome).increment(1);
    }
    metrics::histogram!("sync_request_duration_seconds").record(started.elapsed().as_secs_f64());
}
