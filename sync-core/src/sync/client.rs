//! The device side of a batch, sans-IO: [`ClientSession::start`] builds the
//! request, the app sends it however it likes, [`ClientSession::apply`] takes
//! the response. Only the server's acknowledged heads per document need to
//! outlive the process ([`ClientSession::save`]).

use std::collections::{BTreeMap, BTreeSet};

use automerge::sync::{State, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::cursor::held_digest;
use super::guard::{contained, decode_message};
use super::wire::{DocMessage, KnownDoc, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use super::{Limits, SyncError, has_change, primed_state, same_heads, sorted};
use crate::doc_id::{DocId, ServerDoc};
use crate::job::read_job;
use crate::pricebook::read_price_book;
use crate::validate::Rejection;
use crate::vanstock::read_van_stock;

/// The documents a device holds.
pub type DocSet = BTreeMap<DocId, Automerge>;

/// Sync bookkeeping of one device.
#[derive(Clone, Debug)]
pub struct ClientSession {
    actor: ActorId,
    limits: Limits,
    docs: BTreeMap<DocId, Peer>,
    /// The server's cursor from the last response applied in full: with
    /// it, a request names only the documents changed here.
    cursor: Option<Vec<u8>>,
    /// The server could not use the cursor: the next round names every
    /// held document.
    resync: bool,
    /// Whether requests send `held` (and so take a cursor).
    cursors: bool,
}

#[derive(Clone, Debug, Default)]
struct Peer {
    /// Server heads the device knows the server has (and the device has too).
    acked: Vec<ChangeHash>,
    /// Protocol state while a multi-round exchange is under way.
    round: Option<State>,
}

/// What one response did to the device's documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Documents whose content changed (server changes arrived).
    pub changed: BTreeSet<DocId>,
    /// Documents the device did not have before.
    pub added: BTreeSet<DocId>,
    /// Documents the device must no longer hold; already removed from the set.
    pub removed: BTreeSet<DocId>,
    pub rejected: BTreeMap<DocId, Rejection>,
    /// For rejected documents, the first refused change when the server
    /// named one (see [`Outcome::Rejected`]).
    pub rejected_changes: BTreeMap<DocId, ChangeHash>,
    /// Documents the server does not know (or not for this user).
    pub not_found: BTreeSet<DocId>,
    /// Documents that need another round ([`ClientSession::next_round`]).
    pub unfinished: BTreeSet<DocId>,
    /// The server could not use the cursor and answered only the documents
    /// named: another round (naming every held document) is needed.
    pub resync: bool,
}

/// The persisted part of a session.
#[derive(Serialize, Deserialize)]
struct Saved {
    v: u32,
    acked: BTreeMap<DocId, Vec<ByteBuf>>,
    /// Saved with the heads, after the documents: it never claims more
    /// than the documents on disk hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<ByteBuf>,
}

impl ClientSession {
    /// A device with no sync history (`actor` is this install's automerge actor).
    pub fn new(actor: ActorId) -> Self {
        Self {
            actor,
            limits: Limits::default(),
            docs: BTreeMap::new(),
            cursor: None,
            resync: false,
            // Off unless asked for (mobile-ffi turns it on): without it
            // the requests are what a client that knows no cursor sends.
            cursors: false,
        }
    }

    /// Turns the change cursor on (off by default): with it a routine sync
    /// names only the documents changed here, and an idle one none; without
    /// it every request names every held document, as a client that knows no
    /// cursor does. A scope change is answered in the same round when the
    /// server knows the set the device holds (it remembers the sets it gave);
    /// otherwise the response says `resync` and the next round names all.
    pub fn use_cursor(&mut self, on: bool) {
        self.cursors = on;
        if !on {
            self.cursor = None;
            self.resync = false;
        }
    }

    /// Restores the acknowledged heads written by [`Self::save`].
    pub fn restore(actor: ActorId, saved: &[u8]) -> Result<Self, SyncError> {
        let saved: Saved = ciborium::de::from_reader(saved)
            .map_err(|e| SyncError::Malformed(format!("saved session: {e}")))?;
        let mut session = Self::new(actor);
        session.cursor = saved.cursor.map(ByteBuf::into_vec);
        for (id, heads) in saved.acked {
            let heads = heads
                .iter()
                .map(|h| ChangeHash::try_from(h.as_slice()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| SyncError::Malformed("saved session: bad hash".into()))?;
            session.docs.insert(
                id,
                Peer {
                    acked: heads,
                    round: None,
                },
            );
        }
        Ok(session)
    }

    /// What must be persisted after [`Self::apply`]: the acknowledged heads.
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            v: 1,
            acked: self
                .docs
                .iter()
                .map(|(id, p)| {
                    (
                        *id,
                        p.acked
                            .iter()
                            .map(|h| ByteBuf::from(h.as_ref().to_vec()))
                            .collect(),
                    )
                })
                .collect(),
            cursor: self.cursor.clone().map(ByteBuf::from),
        };
        let mut out = Vec::new();
        ciborium::ser::into_writer(&saved, &mut out).expect("CBOR encoding into memory");
        out
    }

    pub fn actor(&self) -> &ActorId {
        &self.actor
    }

    /// Server heads last acknowledged for `id` (empty if never synced).
    pub fn acked(&self, id: &DocId) -> &[ChangeHash] {
        self.docs.get(id).map_or(&[], |p| p.acked.as_slice())
    }

    /// True while some document is in a multi-round exchange.
    pub fn in_progress(&self) -> bool {
        self.resync || self.docs.values().any(|p| p.round.is_some())
    }

    /// The server's cursor this device holds, if any (opaque bytes).
    pub fn cursor(&self) -> Option<&[u8]> {
        self.cursor.as_deref()
    }

    /// Forgets the cursor: the next request names every held document (a
    /// device whose documents were restored apart from this state).
    pub fn forget_cursor(&mut self) {
        self.cursor = None;
    }

    /// The request's cursor and held digest: with a cursor, the documents
    /// not named are answered only if the server changed them.
    fn since(&self, docs: &DocSet) -> (Option<ByteBuf>, Option<ByteBuf>) {
        if !self.cursors {
            return (None, None);
        }
        let held = held_digest(docs.keys()).to_vec();
        (
            self.cursor.clone().map(ByteBuf::from),
            Some(ByteBuf::from(held)),
        )
    }

    /// The first request of a sync: one message per held document.
    ///
    /// Where the server's heads are known, the message already carries every
    /// change made since, so a routine sync is one round trip. Otherwise (new
    /// install, restore, lost state) it is the standard automerge opening.
    pub fn start(&mut self, docs: &DocSet) -> SyncRequest {
        self.start_holding_back(docs, &BTreeSet::new())
    }

    /// [`Self::start`], except that the documents in `held_back` send none
    /// of their changes: they are listed as known at their acknowledged
    /// heads, so the server's new changes still arrive (a job kept frozen
    /// after a rejection, say).
    pub fn start_holding_back(
        &mut self,
        docs: &DocSet,
        held_back: &BTreeSet<DocId>,
    ) -> SyncRequest {
        let mut out = Vec::with_capacity(docs.len());
        let mut known = Vec::new();
        self.resync = false;
        let with_cursor = self.cursor.is_some();
        for (id, doc) in docs {
            let peer = self.docs.entry(*id).or_default();
            if held_back.contains(id) {
                peer.round = None;
                known.push(KnownDoc {
                    id: *id,
                    heads: peer.acked.clone(),
                });
                continue;
            }
            if with_cursor && !peer.acked.is_empty() && same_heads(&doc.get_heads(), &peer.acked) {
                // Nothing new here, and the cursor brings the server's news.
                peer.round = None;
                continue;
            }
            let mut state = primed_state(doc, &peer.acked);
            if let Some(msg) = doc.generate_sync_message(&mut state) {
                out.push(DocMessage {
                    id: *id,
                    msg: ByteBuf::from(msg.encode()),
                });
            }
            peer.round = Some(state);
        }
        let (cursor, held) = self.since(docs);
        SyncRequest {
            v: PROTOCOL_VERSION,
            docs: out,
            known,
            cursor,
            held,
        }
    }

    /// A follow-up request for the documents that are not finished, if any.
    /// Every other held document is listed as known at its acknowledged
    /// heads, so the server sends nothing for it unless it changed since.
    ///
    /// With a cursor the other documents are not listed (the cursor covers
    /// them); after a `resync` every one is.
    pub fn next_round(&mut self, docs: &DocSet) -> Option<SyncRequest> {
        let mut out = Vec::new();
        let mut known = Vec::new();
        let resync = std::mem::take(&mut self.resync);
        for (id, doc) in docs {
            let peer = self.docs.entry(*id).or_default();
            if let Some(state) = peer.round.as_mut() {
                match doc.generate_sync_message(state) {
                    Some(msg) => {
                        out.push(DocMessage {
                            id: *id,
                            msg: ByteBuf::from(msg.encode()),
                        });
                        continue;
                    }
                    None => peer.round = None,
                }
            }
            known.push(KnownDoc {
                id: *id,
                heads: peer.acked.clone(),
            });
        }
        if self.cursor.is_some() {
            known.clear();
        }
        let (cursor, held) = self.since(docs);
        (!out.is_empty() || resync).then_some(SyncRequest {
            v: PROTOCOL_VERSION,
            docs: out,
            known,
            cursor,
            held,
        })
    }

    /// Starts the exchange of one document again, from its acknowledged
    /// heads (after the device rebuilt it following a rejection): the next
    /// [`Self::next_round`] carries its changes since.
    pub fn restart(&mut self, id: DocId, doc: &Automerge) {
        let peer = self.docs.entry(id).or_default();
        peer.round = Some(primed_state(doc, &peer.acked));
    }

    /// Applies a response. Documents are updated in place; a document whose
    /// server message fails to apply, or would leave it unreadable as what
    /// its id says it is, is left exactly as it was (and reported
    /// unfinished): one bad document never breaks the device's job list.
    pub fn apply(&mut self, docs: &mut DocSet, response: &SyncResponse) -> SyncReport {
        let mut report = SyncReport::default();
        for reply in &response.docs {
            let id = reply.id;
            match &reply.outcome {
                Outcome::Removed => {
                    // Drop the copy only if the server stored everything in it:
                    // changes made since the request (or a stale reply) must
                    // still reach the server. It has when the copy is at the
                    // heads the reply echoes, or at the acknowledged heads
                    // (how a device with a cursor holds what it did not name).
                    let heads = docs.get(&id).map(Automerge::get_heads);
                    let echoed = reply
                        .msg
                        .as_ref()
                        .and_then(|m| decode_message(m, &self.limits).ok())
                        .is_some_and(|m| heads.as_ref().is_some_and(|h| same_heads(h, &m.heads)));
                    let acked = self.docs.get(&id).is_some_and(|p| {
                        !p.acked.is_empty()
                            && heads.as_ref().is_some_and(|h| same_heads(h, &p.acked))
                    });
                    let stored = echoed || acked;
                    if stored {
                        docs.remove(&id);
                        self.docs.remove(&id);
                        report.removed.insert(id);
                    } else {
                        if let Some(p) = self.docs.get_mut(&id) {
                            p.round = None;
                        }
                        report.unfinished.insert(id);
                    }
                    continue;
                }
                Outcome::NotFound => {
                    if let Some(p) = self.docs.get_mut(&id) {
                        p.round = None;
                    }
                    report.not_found.insert(id);
                    continue;
                }
                Outcome::Rejected {
                    code,
                    message,
                    change,
                } => {
                    report
                        .rejected
                        .insert(id, Rejection::new(*code, message.clone()));
                    if let Some(change) = change {
                        report.rejected_changes.insert(id, *change);
                    }
                }
                Outcome::Accepted | Outcome::NeedsAnotherRound => {}
            }
            let Some(bytes) = &reply.msg else {
                if let Some(p) = self.docs.get_mut(&id) {
                    p.round = None;
                }
                continue;
            };
            let Ok(msg) = decode_message(bytes, &self.limits) else {
                report.unfinished.insert(id);
                continue;
            };
            let server_heads = msg.heads.clone();
            let server_needs = !msg.need.is_empty();
            let is_new = !docs.contains_key(&id);
            let mut state = match self.docs.get_mut(&id) {
                Some(peer) if !is_new => peer.round.take().unwrap_or_default(),
                _ => State::new(),
            };
            let mut work = docs
                .get(&id)
                .cloned()
                .unwrap_or_else(|| Automerge::new().with_actor(self.actor.clone()));
            let before = work.get_heads();
            if contained(|| work.receive_sync_message(&mut state, msg)).is_err() {
                if !is_new {
                    report.unfinished.insert(id);
                }
                continue;
            }
            let has_all = server_heads.iter().all(|h| has_change(&work, h));
            let acknowledged = has_all && !server_heads.is_empty();
            if is_new && !acknowledged {
                // The server sends a document the device does not hold whole,
                // so this reply answers an exchange of one it has dropped
                // since (a late or duplicated answer from before a
                // `removed`): adopting it would hold an empty or partial
                // copy of a job that is no longer the device's.
                continue;
            }
            if (is_new || work.get_heads() != before) && !reads_as(&id, &work) {
                // Never adopt a document that does not read as what its id
                // says: the copy the device holds stays as it was.
                report.unfinished.insert(id);
                continue;
            }
            let peer = self.docs.entry(id).or_default();
            if acknowledged {
                peer.acked = sorted(server_heads);
            }
            if is_new {
                report.added.insert(id);
            } else if work.get_heads() != before {
                report.changed.insert(id);
            }
            // A rejection ends the exchange: resending the same changes would
            // be refused again. They are resent (and reported) on the next sync.
            let finished = matches!(reply.outcome, Outcome::Rejected { .. })
                || (reply.outcome == Outcome::Accepted && has_all && !server_needs);
            if !finished {
                peer.round = Some(state);
                report.unfinished.insert(id);
            }
            docs.insert(id, work);
        }
        if response.resync {
            self.cursor = None;
            self.resync = true;
            report.resync = true;
        } else if let Some(cursor) = response.cursor.as_ref().filter(|_| self.cursors) {
            // Only a response applied in full moves the cursor: a document
            // left unfinished keeps the older one, which still brings
            // everything after it (again, if need be).
            if report.unfinished.is_empty() {
                self.cursor = Some(cursor.to_vec());
            }
        }
        report
    }
}

/// Whether `doc` reads as the kind of document `id` names.
fn reads_as(id: &DocId, doc: &Automerge) -> bool {
    match id.server_doc() {
        None => read_job(doc, None).is_ok(),
        Some((ServerDoc::PriceBook, _)) => read_price_book(doc, None).is_ok(),
        Some((ServerDoc::VanStock(_), _)) => read_van_stock(doc, None).is_ok(),
    }
}

/// Decodes a response body within the default limits.
pub fn decode_response(bytes: &[u8]) -> Result<SyncResponse, SyncError> {
    SyncResponse::decode(bytes, &Limits::default())
}
