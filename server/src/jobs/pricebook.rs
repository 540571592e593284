//! `/v1/pricebook`: the server-authored price book devices bill with.

use axum::extract::State;
use fieldsync_core::pricebook::{PriceBook, read_price_book, write_price_book};
use fieldsync_core::{DocId, ServerDoc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::timestamp;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::Permission;
use crate::documents::{self, Derive, Edit, WriteError};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
use crate::generations;
use crate::store::now_utc;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_price_book, put_price_book))
}

/// The current price book (any signed-in user; devices get it by sync).
#[utoipa::path(get, path = "/v1/pricebook", tag = "pricebook",
    responses((status = 200, description = "sync-core's PriceBook", body = Object),
        (status = 404, description = "No price book yet", body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_price_book(
    State(state): State<AppState>,
    _caller: AuthUser,
) -> Result<axum::Json<PriceBook>, ApiError> {
    documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(ApiError::internal)?
        .map(|book| axum::Json(std::sync::Arc::unwrap_or_clone(book)))
        .ok_or(ApiError::NotFound)
}

/// Replaces the price book (roles that may edit it: admin). The server sets `version` to one
/// above the stored one; only what differs is written, so devices download
/// little.
#[utoipa::path(put, path = "/v1/pricebook", tag = "pricebook",
    request_body(content = Object, description = "sync-core's PriceBook; `version` is ignored"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_price_book(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(book): Json<PriceBook>,
) -> Result<axum::Json<PriceBook>, ApiError> {
    Ok(axum::Json(save(&state, caller.principal(), book).await?))
}

/// Saves `book` as the next version (admins: the API's PUT and the
/// console's editor): checked, the server's refund limits carried in,
/// and who saved it recorded in the version history. A book equal to the
/// stored one saves nothing and answers the stored one.
pub(crate) async fn save(
    state: &AppState,
    caller: fieldsync_core::Principal,
    mut book: PriceBook,
) -> Result<PriceBook, ApiError> {
    crate::authz::require(caller, Permission::EditPriceBook)?;
    // The refund limits are the server's settings, carried to devices here.
    book.refund_limits = state.settings.refund_limits();
    book.check()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    store_book(state, book, Some(caller.user)).await
}

/// Writes the server's refund limits into the stored price book when it
/// carries others (the settings changed since it was written), so devices
/// know the limits the validator applies. Nothing without a price book.
pub(crate) async fn carry_refund_limits(state: &AppState) -> Result<(), ApiError> {
    let Some(book) = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(());
    };
    let limits = state.settings.refund_limits();
    if book.refund_limits == limits {
        return Ok(());
    }
    let book = PriceBook {
        refund_limits: limits,
        ..std::sync::Arc::unwrap_or_clone(book)
    };
    store_book(state, book, None).await.map(drop)
}

/// Stores `book` as the next version, when it differs from the stored one,
/// and records it in the version history (`saved_by` `None`: the server).
/// The history row is written after the document's commit: a crash in
/// between leaves that version out of the editor's history, never the
/// price book itself half-written.
///
/// A price book whose history outgrew the bound
/// ([`crate::generations::GenerationSettings`]) gets the new version as a
/// fresh generation: a new document holding the whole book, nothing else.
async fn store_book(
    state: &AppState,
    book: PriceBook,
    saved_by: Option<fieldsync_core::UserId>,
) -> Result<PriceBook, ApiError> {
    let now = now_utc();
    for _ in 0..8 {
        let id = generations::current(state.store.as_ref(), ServerDoc::PriceBook).await?;
        let stored = match fresh_generation(state, id, &book, now).await? {
            Fresh::Started(stored) => stored,
            Fresh::Stale => continue,
            Fresh::NotDue => match write_book(state, id, book.clone(), now).await {
                Ok(stored) => stored,
                // The generation moved on meanwhile: write to the new one.
                Err(WriteError::Contended(_)) => continue,
                Err(e) => return Err(super::routes::write_error(e)),
            },
        };
        // Once per version: an unchanged book (no new version) records nothing
        // new, and the first save over an older book records that book too.
        state
            .store
            .record_price_book(&stored, saved_by, now)
            .await?;
        return Ok(stored);
    }
    Err(ApiError::Unavailable)
}

/// Whether [`fresh_generation`] started one.
enum Fresh {
    Started(PriceBook),
    /// Another writer got in first: read the current generation again.
    Stale,
    /// The book is unchanged, or its history is within the bound.
    NotDue,
}

/// Starts the price book's next generation with `book` when it differs from
/// the stored one and the stored document outgrew the bound.
async fn fresh_generation(
    state: &AppState,
    id: DocId,
    book: &PriceBook,
    now: time::OffsetDateTime,
) -> Result<Fresh, ApiError> {
    let Some(current) = documents::load(state.store.as_ref(), &state.docs, &id)
        .await
        .map_err(ApiError::internal)?
    else {
        return Ok(Fresh::NotDue);
    };
    let Ok(stored) = read_price_book(&current.doc, None) else {
        return Ok(Fresh::NotDue);
    };
    if same_book(&stored, book) {
        return Ok(Fresh::NotDue);
    }
    let book = PriceBook {
        version: stored.version + 1,
        ..book.clone()
    };
    let mut fresh = automerge::Automerge::new().with_actor(state.actor.clone());
    write_price_book(&mut fresh, &book, timestamp(now))
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let bound = &state.settings.generations;
    if !bound.too_many_changes(&current.doc)
        && !bound.too_many_bytes(current.doc.save().len(), fresh.save().len())
    {
        return Ok(Fresh::NotDue);
    }
    match generations::start_next(
        state.store.as_ref(),
        &state.docs,
        id,
        current.version,
        fresh,
    )
    .await?
    {
        Some(_) => Ok(Fresh::Started(book)),
        None => Ok(Fresh::Stale),
    }
}

/// Whether `book` says what `stored` says (whatever their versions).
fn same_book(stored: &PriceBook, book: &PriceBook) -> bool {
    PriceBook {
        version: stored.version,
        ..book.clone()
    } == *stored
}

/// Writes `book` as the next version into the price book document `id`
/// (only what differs); the stored book when nothing does.
async fn write_book(
    state: &AppState,
    id: DocId,
    mut book: PriceBook,
    now: time::OffsetDateTime,
) -> Result<PriceBook, WriteError<ApiError>> {
    let derive = Derive {
        price_book: None,
        now,
        projectors: &state.projectors,
    };
    let actor = state.actor.clone();
    let stored = documents::write(state.store.as_ref(), &state.docs, id, &derive, |doc, _| {
        let stored = read_price_book(doc, None).ok();
        if stored.as_ref().is_some_and(|s| same_book(s, &book)) {
            return Ok(Edit {
                changes: Vec::new(),
                job: None,
            });
        }
        book.version = stored.map_or(1, |s| s.version + 1);
        doc.set_actor(actor.clone());
        let before = doc.get_heads();
        write_price_book(doc, &book, timestamp(now))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(Edit {
            changes: doc.get_changes(&before),
            job: None,
        })
    })
    .await?;
    read_price_book(&stored.doc, None).map_err(|e| WriteError::Edit(ApiError::internal(e)))
}
