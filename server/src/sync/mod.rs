//! `POST /v1/sync`: one batch from a device, answered with one batch.
//!
//! The handler is glue around sync-core's sans-IO [`serve`]: it decides the
//! caller's read scope from SQL ([`scope`]), loads those documents, lets
//! sync-core validate and merge what the device sent, then commits the
//! accepted changes (with their projections) and answers. The response is
//! only sent after every accepted change is durably stored, so a device
//! never believes the server holds something it could lose; a retried or
//! duplicated request finds its changes stored and changes nothing.

mod cursor;
pub mod gate;
pub mod held_sets;
pub mod open_jobs;
mod schema;
pub mod scope;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use automerge::Change;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use fieldsync_core::sync::{
    Access, Caller, Footprint, HeldDoc, Limits, Outcome, Pace, Served, SyncError, SyncRequest,
    serve_since,
};
use fieldsync_core::{DocId, ServerDoc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::documents::{self, Derive, Edit, Loaded, WriteError};
use crate::error::ApiError;
use crate::store::now_utc;

pub const CBOR: &str = "application/cbor";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sync))
        .merge(open_jobs::router())
}

/// A sync the gate let in: the caller, and what it holds of the server
/// until the response is sent. Extracted before the body is read, so a
/// refused sync costs no body.
pub struct Admitted {
    pub caller: AuthUser,
    pass: gate::Pass,
}

impl FromRequestParts<AppState> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = AuthUser::from_request_parts(parts, state).await?;
        // Chunked bodies declare nothing: reserve for the largest allowed.
        let body_bytes = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(state.settings.max_body_bytes as u64)
            .min(state.settings.max_body_bytes as u64);
        match state.sync_gate.enter(caller.device_id, body_bytes) {
            Ok(pass) => Ok(Admitted { caller, pass }),
            Err(busy) => {
                metrics::counter!("sync_shed_total", "reason" => busy.reason()).increment(1);
                tracing::info!(device = %caller.device_id, reason = busy.reason(), "sync not admitted");
                Err(match busy {
                    gate::Busy::DeviceSyncing => ApiError::SyncInProgress,
                    gate::Busy::InFlight | gate::Busy::Memory => ApiError::Overloaded,
                })
            }
        }
    }
}

/// Paces the merge: it stops taking documents at the deadline or when the
/// request is abandoned (timeout, client gone), and each document's
/// changes must fit the memory budget before they are applied.
struct ServerPace {
    pass: gate::Pass,
    deadline: Instant,
    abandoned: Arc<AtomicBool>,
}

impl Pace for ServerPace {
    fn keep_going(&mut self) -> bool {
        !self.abandoned.load(Ordering::Relaxed) && Instant::now() < self.deadline
    }

    fn admit(&mut self, cost: &Footprint) -> bool {
        self.pass.reserve(gate::work_bytes(cost))
    }
}

/// Sets its flag when dropped: the handler's future is dropped when the
/// request times out or the client goes away, and the merge running on a
/// blocking thread sees the flag before its next document.
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
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
        description = "CBOR SyncRequest {v, docs: [{id, msg}], known?, cursor?, held?}"),
    responses(
        (status = 200, description = "CBOR SyncResponse {v, docs: [{id, outcome, msg}], cursor?, resync?}",
            content_type = "application/cbor", body = Vec<u8>),
        (status = 400, description = "The body is not a sync request", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, expired or revoked credentials", body = crate::error::ErrorBody),
        (status = 409, description = "This device already has a sync running (see `Retry-After`)", body = crate::error::ErrorBody),
        (status = 413, description = "The batch is larger than the server accepts", body = crate::error::ErrorBody),
        (status = 503, description = "The server sheds load: too many syncs or too little memory now (see `Retry-After`)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn sync(
    State(state): State<AppState>,
    admitted: Admitted,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let Admitted { caller, pass } = admitted;
    let limits = limits(state.settings.max_body_bytes);
    let request = SyncRequest::decode(&body, &limits).map_err(|e| match e {
        SyncError::TooLarge { .. } => ApiError::PayloadTooLarge,
        e => ApiError::BadRequest(format!("sync request: {e}")),
    })?;
    let now = now_utc();
    let mut scope = scope::resolve(state.store.as_ref(), &caller, &request, now).await?;
    // A device whose set of documents changed since its cursor: what it
    // holds, if the server told it so before (then answered in this round).
    let remembered =
        cursor::remembered(state.store.as_ref(), caller.device_id, &request, &mut scope)
            .await
            .map_err(ApiError::internal)?;
    if scope
        .iter()
        .any(|(id, access)| id.is_price_book() && *access == Access::ReadOnly)
    {
        // Devices learn the refund limits from the price book.
        crate::jobs::carry_refund_limits(&state).await?;
    }
    let mut context = schema::context(&caller, &scope);
    if caller.role.is_field() {
        // A part line may not fit a serial under recall (quarantined).
        context = context.with_recalled(crate::recalls::service::recalled(&state).await?);
    }

    // The caller's van (its stock document is answered again after the
    // commits when they moved its stock).
    let own_van = scope
        .iter()
        .find_map(|(id, access)| (*access == Access::ReadOnly).then(|| id.van()).flatten());
    let mut held = BTreeMap::new();
    // The version each document was loaded at: the base of its commit.
    let mut versions = BTreeMap::new();
    let mut price_book = None;
    // Before the load: every commit stamped up to this is in what it reads.
    let loaded_at = cursor::loaded_at(state.store.as_ref(), &request)
        .await
        .map_err(ApiError::internal)?;
    // Every document of the scope in one read (a few queries in all).
    let ids: Vec<DocId> = scope.keys().copied().collect();
    let mut loaded = documents::load_many(state.store.as_ref(), &state.docs, &ids)
        .await
        .map_err(ApiError::internal)?;
    for (id, access) in scope {
        if let Some(loaded) = loaded.remove(&id) {
            if id.is_price_book() && access == Access::ReadOnly {
                // Read once per price book version, not once per sync.
                price_book = documents::price_book_of(&state.docs, id, &loaded);
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

    // Skus and labour rates are checked against the price book jobs bill with.
    let context = match &price_book {
        Some(book) => context.with_price_book(Arc::clone(book)),
        None => context,
    };
    // Refunds are checked against the server's limits, whatever the book says.
    let context = context.with_refund_limits(state.settings.refund_limits());
    let derive = Derive {
        price_book: price_book.as_deref(),
        now,
        projectors: &state.projectors,
    };
    schema::upgrade_held(&state, &caller, &mut held, &mut versions, &derive, now).await?;
    let cursor::Plan {
        unnamed,
        issue,
        resync,
        holds,
    } = cursor::plan(state.store.as_ref(), &request, &held, loaded_at, remembered)
        .await
        .map_err(ApiError::internal)?;

    // Merging and validating is CPU work on automerge: off the async
    // workers. It takes no new document after half the request's time (the
    // rest is for committing and answering), nor once the request is
    // abandoned; documents it did not take come in the next round.
    let principal = caller.principal();
    let actor = caller.actor.to_automerge();
    let abandoned = Arc::new(AtomicBool::new(false));
    let _abandon = AbandonOnDrop(abandoned.clone());
    let mut pace = ServerPace {
        pass,
        deadline: started + state.settings.request_timeout() / 2,
        abandoned,
    };
    let asked = request.docs.len();
    // `_pace` holds the memory reserved for this sync until the answer is built.
    let (served, mut held, _pace, request) = tokio::task::spawn_blocking(move || {
        let actors = [actor];
        let who = Caller {
            principal,
            device_actors: &actors,
            context: &context,
        };
        let served = serve_since(&request, &mut held, &who, &limits, &mut pace, &unnamed);
        (served, held, pace, request)
    })
    .await
    .map_err(ApiError::internal)?;
    if asked > 0 && served.held_back.len() == asked {
        // Nothing could be done now (memory budget, deadline): back off.
        metrics::counter!("sync_shed_total", "reason" => "held_back").increment(1);
        return Err(ApiError::Overloaded);
    }

    let Served {
        mut response,
        accepted,
        held_back,
    } = served;
    // Documents archived after the scope was read: their changes were not stored.
    let mut archived_meanwhile = Vec::new();
    // Stamps of the commits storing this device's changes: its next
    // cursor says it has them.
    let mut mine = Vec::new();
    let mut stored_changes = 0usize;
    let mut touched_vans = Vec::new();
    // Jobs committed here, for what follows their commits (warranty).
    let mut committed_jobs = Vec::new();
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
            .await;
            let committed = match committed {
                Err(WriteError::Archived(id)) => {
                    archived_meanwhile.push(id);
                    continue;
                }
                other => other.map_err(ApiError::internal)?,
            };
            if let Some(applied) = committed {
                mine.extend(applied.stamp);
                touched_vans.extend(applied.vans);
                committed_jobs.extend(applied.projected.map(|p| p.job));
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
        .await;
        let written = match written {
            Err(WriteError::Archived(id)) => {
                archived_meanwhile.push(id);
                continue;
            }
            Err(WriteError::Contended(_)) => return Err(ApiError::Unavailable),
            Err(e) => return Err(ApiError::internal(e)),
            Ok(written) => written,
        };
        mine.extend(written.stamp);
        touched_vans.extend(written.vans);
        committed_jobs.extend(written.projected.map(|p| p.job));
    }
    drop(held);
    refuse_archived(&mut response.docs, &archived_meanwhile);
    response.resync = resync;
    if held_back.is_empty() && archived_meanwhile.is_empty() {
        // Every document was answered: the device holds all commits up to
        // the stamp read before the load, and its own. (A change refused
        // because its job was archived meanwhile is rolled back by the
        // device: no cursor until it has.)
        response.cursor =
            issue.map(|base| fieldsync_core::sync::ByteBuf::from(cursor::next(base, mine)));
    }
    // A job that completed with a warranty sale extended its asset: the
    // asset's other open jobs follow, after the commits (not in them).
    crate::customers::warranty::refresh_after_commits(
        &state,
        committed_jobs.iter().map(|j| j.as_ref()),
    )
    .await;
    // Returns opened on the visit got their RMA numbers in the commits:
    // they go into the jobs now (the device gets them on its next sync).
    crate::returns::service::number_after_commits(&state, &committed_jobs).await;
    // Invoices issued in the commits (completions) go into the jobs now.
    crate::invoices::service::write_after_commits(&state, &committed_jobs).await;
    // The ledger took the parts in the commits above; the vans' stock
    // documents follow (the device gets them on its next sync).
    let answer_van = own_van.filter(|v| touched_vans.contains(v));
    crate::inventory::vanstock::refresh_known(&state, touched_vans).await;
    if let Some(van) = answer_van {
        // The part lines just stored are acknowledged with this response, so
        // the device no longer counts them as its own pending use: it gets
        // the van as refreshed now, with them, not the copy loaded before.
        answer_van_again(&state, &mut response, &request, &limits, van).await;
    }
    if let (Some(_), Some(holds)) = (&response.cursor, holds) {
        // Not remembering costs only a round on the next scope change.
        let remembered = cursor::remember(
            state.store.as_ref(),
            caller.device_id,
            &request,
            holds,
            &response,
            limits.max_docs,
            now,
        )
        .await;
        if let Err(e) = remembered {
            tracing::warn!(device = %caller.device_id, error = %e, "held set not remembered");
        }
    }
    // The office's record of what was refused (GET /v1/jobs/{id}/rejections).
    // Failing here fails the sync: the device sends the change again and the
    // rejection is recorded then.
    let rejections = crate::jobs::rejections::from_replies(
        &response.docs,
        caller.device_id,
        caller.user_id,
        now,
    );
    state
        .store
        .record_rejections(&rejections)
        .await
        .map_err(ApiError::internal)?;
    // The devices list and sync health: one UPDATE per sync.
    let report = crate::users::store::SyncReport {
        device: caller.device_id,
        at: now,
        app_version: crate::users::sync_report::app_version(&headers),
        pending_changes: crate::users::sync_report::pending_changes(&headers),
    };
    state
        .store
        .record_sync(&report)
        .await
        .map_err(ApiError::internal)?;

    record(&response.docs, stored_changes, started);
    tracing::info!(
        user = %caller.user_id,
        device = %caller.device_id,
        docs = response.docs.len(),
        changes = stored_changes,
        held_back = held_back.len(),
        "sync"
    );
    Ok(([(header::CONTENT_TYPE, CBOR)], response.encode()).into_response())
}

/// Turns the replies for documents archived between the scope read and
/// their commit into the refusal an archived document's changes get (the
/// commit wrote nothing). Without the refused change's hash the device
/// keeps it and sends it again; its next sync finds the job archived and
/// refuses it by name, and the device drops the job.
fn refuse_archived(replies: &mut [fieldsync_core::sync::DocReply], archived: &[DocId]) {
    for reply in replies.iter_mut().filter(|r| archived.contains(&r.id)) {
        reply.outcome = Outcome::Rejected {
            code: fieldsync_core::RejectCode::Forbidden,
            message: fieldsync_core::sync::ARCHIVED_REFUSAL.into(),
            change: None,
        };
        reply.msg = None;
    }
}

/// Replaces the response's replies for the caller's van stock with ones
/// from its current generation as stored now (see
/// [`fieldsync_core::sync::answer_current`]). On a read error the replies
/// stay as built: the next sync brings the van.
async fn answer_van_again(
    state: &AppState,
    response: &mut fieldsync_core::sync::SyncResponse,
    request: &SyncRequest,
    limits: &Limits,
    van: fieldsync_core::LocationId,
) {
    let current = async {
        let id =
            crate::generations::current(state.store.as_ref(), ServerDoc::VanStock(van)).await?;
        let loaded = documents::load(state.store.as_ref(), &state.docs, &id).await?;
        Ok::<_, documents::DocLoadError>(loaded.map(|l| (id, l.doc)))
    };
    match current.await {
        Ok(Some((id, doc))) => {
            fieldsync_core::sync::answer_current(response, request, limits, id, &doc);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(van = %van, error = %e, "van stock not answered again"),
    }
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
