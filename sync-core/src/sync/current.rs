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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use automerge::ActorId;

    use super::*;
    use crate::ids::{LocationId, Timestamp, UserId};
    use crate::role::{Principal, Role};
    use crate::sync::{Access, Caller, ClientSession, DocSet, HeldDoc, serve};
    use crate::validate::Context;
    use crate::vanstock::{StockItem, VanStock, read_van_stock, write_van_stock};

    fn van() -> LocationId {
        LocationId::from_bytes([5; 16])
    }

    /// A van document (by the server's actor) holding `quantity` valves.
    fn van_doc(quantity: i64) -> Automerge {
        let mut doc = Automerge::new().with_actor(ActorId::from([200; 16]));
        write(&mut doc, quantity);
        doc
    }

    fn write(doc: &mut Automerge, quantity: i64) {
        let stock = VanStock {
            van: van(),
            as_of: Timestamp(1_000 + quantity),
            items: BTreeMap::from([(
                "VALVE-22".parse().unwrap(),
                StockItem {
                    quantity,
                    ..StockItem::default()
                },
            )]),
        };
        write_van_stock(doc, &stock, stock.as_of).unwrap();
    }

    fn valves(docs: &DocSet, id: DocId) -> i64 {
        read_van_stock(&docs[&id], None).unwrap().items[&"VALVE-22".parse().unwrap()].quantity
    }

    /// One request from `device` answered by the server holding `held`,
    /// then `then` applied to the response before the device applies it.
    fn round(
        session: &mut ClientSession,
        docs: &mut DocSet,
        held: Vec<(DocId, Automerge, Access)>,
        then: impl FnOnce(&mut SyncResponse, &SyncRequest),
    ) -> crate::sync::SyncReport {
        let mut held: BTreeMap<DocId, HeldDoc> = held
            .into_iter()
            .map(|(id, doc, access)| (id, HeldDoc { doc, access }))
            .collect();
        let actors = [ActorId::from([1; 16])];
        let context = Context::default();
        let caller = Caller {
            principal: Principal::new(UserId::from_bytes([1; 16]), Role::Technician),
            device_actors: &actors,
            context: &context,
        };
        let request = session.start(docs);
        let mut response = serve(&request, &mut held, &caller, &Limits::default()).response;
        then(&mut response, &request);
        session.apply(docs, &response)
    }

    #[test]
    fn a_device_switches_to_the_new_generation_in_one_response() {
        let gen1 = DocId::VanStock(van());
        let gen2 = gen1.next_generation().unwrap();
        let mut session = ClientSession::new(ActorId::from([1; 16]));
        let mut docs = DocSet::new();
        round(
            &mut session,
            &mut docs,
            vec![(gen1, van_doc(4), Access::ReadOnly)],
            |_, _| {},
        );
        assert_eq!(valves(&docs, gen1), 4);

        // The server retired generation 1: the device's copy is `removed`
        // and generation 2 arrives whole in the same response.
        let held = vec![
            (gen1, van_doc(4), Access::Removed),
            (gen2, van_doc(9), Access::ReadOnly),
        ];
        let report = round(&mut session, &mut docs, held, |_, _| {});
        assert_eq!(report.removed, [gen1].into());
        assert_eq!(report.added, [gen2].into());
        assert!(report.unfinished.is_empty(), "{report:?}");
        assert_eq!(docs.keys().copied().collect::<Vec<_>>(), vec![gen2]);
        assert_eq!(valves(&docs, gen2), 9);
    }

    #[test]
    fn the_van_is_answered_as_written_after_the_response_was_built() {
        let gen1 = DocId::VanStock(van());
        let mut session = ClientSession::new(ActorId::from([1; 16]));
        let mut docs = DocSet::new();
        let stored = van_doc(4);
        round(
            &mut session,
            &mut docs,
            vec![(gen1, stored.clone(), Access::ReadOnly)],
            |_, _| {},
        );

        // Written after the response was built: the device gets the write.
        let mut written = stored.clone();
        write(&mut written, 2);
        let report = round(
            &mut session,
            &mut docs,
            vec![(gen1, stored.clone(), Access::ReadOnly)],
            |response, request| {
                answer_current(response, request, &Limits::default(), gen1, &written);
            },
        );
        assert!(report.unfinished.is_empty(), "{report:?}");
        assert_eq!(valves(&docs, gen1), 2);
        assert_eq!(session.acked(&gen1), written.get_heads().as_slice());

        // A fresh generation written after the response was built: the old
        // one is removed and the new one arrives whole, in that response.
        let gen2 = gen1.next_generation().unwrap();
        let report = round(
            &mut session,
            &mut docs,
            vec![(gen1, written.clone(), Access::ReadOnly)],
            |response, request| {
                answer_current(response, request, &Limits::default(), gen2, &van_doc(1));
            },
        );
        assert_eq!(report.removed, [gen1].into());
        assert_eq!(report.added, [gen2].into());
        assert_eq!(docs.keys().copied().collect::<Vec<_>>(), vec![gen2]);
        assert_eq!(valves(&docs, gen2), 1);

        // Nothing new: a document listed as known gets no reply at all.
        let current = docs[&gen2].clone();
        let request = SyncRequest {
            v: crate::sync::PROTOCOL_VERSION,
            docs: vec![],
            known: vec![crate::sync::KnownDoc {
                id: gen2,
                heads: current.get_heads(),
            }],
            cursor: None,
            held: None,
        };
        let mut response = SyncResponse {
            v: crate::sync::PROTOCOL_VERSION,
            docs: vec![],
            cursor: None,
            resync: false,
        };
        answer_current(&mut response, &request, &Limits::default(), gen2, &current);
        assert!(response.docs.is_empty(), "{:?}", response.docs);
    }
}
