//! `/v1/pricebook`: the server-authored price book devices bill with.

use axum::extract::State;
use fieldsync_core::DocId;
use fieldsync_core::pricebook::{PriceBook, read_price_book, write_price_book};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::timestamp;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::Permission;
use crate::documents::{self, Derive, Edit};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;
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
async fn store_book(
    state: &AppState,
    mut book: PriceBook,
    saved_by: Option<fieldsync_core::UserId>,
) -> Result<PriceBook, ApiError> {
    let now = now_utc();
    let derive = Derive {
        price_book: None,
        now,
        projectors: &state.projectors,
    };
    let actor = state.actor.clone();
    let stored = documents::write(
        state.store.as_ref(),
        &state.docs,
        DocId::PriceBook,
        &derive,
        |doc, _| {
            let stored = read_price_book(doc, None).ok();
            if stored.as_ref().is_some_and(|s| {
                PriceBook {
                    version: s.version,
                    ..book.clone()
                } == *s
            }) {
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
        },
    )
    .await
    .map_err(super::routes::write_error)?;
    let stored = read_price_book(&stored.doc, None).map_err(ApiError::internal)?;
    // Once per version: an unchanged book (no new version) records nothing
    // new, and the first save over an older book records that book too.
    state
        .store
        .record_price_book(&stored, saved_by, now)
        .await?;
    Ok(stored)
}
