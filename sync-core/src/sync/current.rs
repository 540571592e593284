//! Answering again for a server-authored document the server wrote after
//! the response was built.
//!
//! A sync that stores a technician's part lines moves the ledger, and the
//! server then writes the van's stock document (perhaps as a fresh
//! generation). The response was built from the document as loaded before,
//! and the device now counts those parts as acknowledged (no longer its own
//! pending use): with the old stock it would count them nowhere until the
//! next sync. [`answer_current`] replaces the response's replies for that
//! document with ones from its current state, so the consumption is counted
//! exactly once when the response is applied.

use std::collections::BTreeMap;

use automerge::sync::SyncDoc;
use automerge::{Automerge, ChangeHash};
use serde_bytes::ByteBuf;

use super::guard::decode_message;
use super::server::{heads_only, whole_doc_reply};
use super::wire::{DocReply, Outcome, SyncRequest, SyncResponse};
use super::{Limits, has_change, primed_state, same_heads};
use crate::doc_id::DocId;

/// Replaces the replies in `response` for every generation of the
/// server-authored document `current_id` names with replies from
/// `current` (its latest state), given what `request` said the device holds:
///
/// - an older generation the device named is `removed` (echoing the heads
///   it named, so it drops that copy);
/// - the current generation, if named at heads the server holds, gets only
///   the changes after them (nothing at all when it was only listed as
///   known and nothing changed); otherwise it is sent whole.
///
/// Leaves the response as it is when any of those replies is not
/// `accepted` or `removed` (held back, say), or when `current_id` is a job.
pub fn answer_current(
    response: &mut SyncResponse,
    request: &SyncRequest,
    limits: &Limits,
    current_id: DocId,
    current: &Automerge,
) {
    let Some((family, _)) = current_id.server_doc() else {
        return;
    };
    let ours = |id: &DocId| id.server_doc().is_some_and(|(f, _)| f == family);
    if response
        .docs
        .iter()
        .any(|r| ours(&r.id) && !matches!(r.outcome, Outcome::Accepted | Outcome::Removed))
    {
        return;
    }
    // What the device said it holds of each generation: (heads, exchanged).
    let mut stated: BTreeMap<DocId, (Vec<ChangeHash>, bool)> = BTreeMap::new();
    for d in request.docs.iter().filter(|d| ours(&d.id)) {
        let Ok(msg) = decode_message(&d.msg, limits) else {
            return;
        };
        stated.insert(d.id, (msg.heads, true));
    }
    for k in request.known.iter().filter(|k| ours(&k.id)) {
        stated.insert(k.id, (k.heads.clone(), false));
    }
    response.docs.retain(|r| !ours(&r.id));
    for (id, (heads, _)) in stated.iter().filter(|(id, _)| **id != current_id) {
        let mut echo = heads_only(current);
        echo.heads = heads.clone();
        response.docs.push(DocReply {
            id: *id,
            outcome: Outcome::Removed,
            msg: Some(ByteBuf::from(echo.encode())),
        });
    }
    let reply = match stated.get(&current_id) {
        Some((heads, exchanged))
            if !heads.is_empty() && heads.iter().all(|h| has_change(current, h)) =>
        {
            let mut state = primed_state(current, heads);
            // Only the new changes, never the whole document again.
            state.their_capabilities = None;
            match current.generate_sync_message(&mut state) {
                Some(msg) => Some(msg),
                None if *exchanged => Some(heads_only(current)),
                None => None,
            }
            .filter(|msg| *exchanged || !same_heads(&msg.heads, heads))
            .map(|msg| DocReply {
                id: current_id,
                outcome: Outcome::Accepted,
                msg: Some(ByteBuf::from(msg.encode())),
            })
        }
        _ => Some(whole_doc_reply(current_id, current)),
    };
    response.docs.extend(reply);
}
