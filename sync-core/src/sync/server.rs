//! The server side of a batch, sans-IO: the caller loads the documents the
//! user may hold, calls [`serve`], stores what it returns as accepted, and
//! sends the response. Nothing is kept between requests.

use std::collections::{BTreeMap, BTreeSet};

use automerge::sync::{Capability, Have, Message, MessageFlags, State, SyncDoc};
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use serde_bytes::ByteBuf;

use super::bounds::measure_within;
use super::cursor::{Delta, Unnamed};
use super::guard::{contained, decode_message, receive_copy};
use super::wire::{DocReply, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse};
use super::{Footprint, Limits, Scope, SyncError, exactly, has_change, primed_state, same_heads};
use crate::doc_id::DocId;
use crate::job::Job;
use crate::role::Principal;
use crate::validate::{Context, RejectCode, Rejection, validate_new_changes_in};

/// What the caller may do with a document the server holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A job assigned to the caller (or any job, for the office): read and write.
    Write,
    /// The price book or the caller's van stock: read only.
    ReadOnly,
    /// A document the caller held but may no longer: changes they made
    /// while they could are still merged, then they are told to drop it.
    Removed,
    /// A document the server archived (a job closed long ago): read by
    /// no device and written by nobody. A device that still holds it is
    /// told to drop it as for [`Access::Removed`], but changes it made are
    /// refused (`forbidden`), not merged.
    Archived,
}

/// Why a change to an [`Access::Archived`] document is refused (`forbidden`).
pub const ARCHIVED_REFUSAL: &str =
    "this job is archived (closed long ago): the server takes no more changes to it";

impl Access {
    /// Whether the caller may no longer hold the document (removed or archived).
    pub fn is_gone(self) -> bool {
        matches!(self, Access::Removed | Access::Archived)
    }
}

/// A document as loaded by the server for this request.
#[derive(Clone, Debug)]
pub struct HeldDoc {
    pub doc: Automerge,
    pub access: Access,
}

/// The authenticated sender of a batch.
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    pub principal: Principal,
    /// Actors of the caller's device: a new change by any other actor is refused.
    pub device_actors: &'a [ActorId],
    /// What the server's records say that validation needs (the caller's van, ...).
    pub context: &'a Context,
}

/// Changes accepted into one document; store them, then project the document.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub id: DocId,
    pub changes: Vec<Change>,
    /// The job as validation read it after these changes (job documents), so
    /// the caller projects and bills it without reading it again.
    pub job: Option<Job>,
}

#[derive(Clone, Debug)]
pub struct Served {
    pub response: SyncResponse,
    pub accepted: Vec<Accepted>,
    /// Documents answered `needs_another_round` without being looked at
    /// (see [`Pace`]): nothing of theirs was applied.
    pub held_back: Vec<DocId>,
}

/// Lets the caller of [`serve_within`] stop a batch at a deadline or when
/// memory is short. A document held back is answered `needs_another_round`
/// with a message that makes the device send its changes again in the next
/// round; nothing of it is applied. Documents beyond the batch bounds of
/// [`super::ContentLimits`] are held back the same way.
pub trait Pace {
    /// Asked before each document: `false` holds back it and all after it.
    fn keep_going(&mut self) -> bool;
    /// Asked before a document's changes are applied, with what they
    /// expand to: `false` holds that document back.
    fn admit(&mut self, cost: &Footprint) -> bool;
}

/// No deadline, no memory budget: only the batch bounds hold documents back.
struct Unpaced;

impl Pace for Unpaced {
    fn keep_going(&mut self) -> bool {
        true
    }
    fn admit(&mut self, _: &Footprint) -> bool {
        true
    }
}

/// Handles one batch. `docs` holds every document the caller may see
/// (`Write`/`ReadOnly`) plus the documents they named that left their
/// scope (`Removed`); documents that gain changes are updated in place.
/// Documents the request lists as `known` get only what changed since the
/// heads it gives (nothing if nothing did); documents in `docs` the request
/// does not name at all are sent whole.
pub fn serve(
    request: &SyncRequest,
    docs: &mut BTreeMap<DocId, HeldDoc>,
    caller: &Caller<'_>,
    limits: &Limits,
) -> Served {
    serve_within(request, docs, caller, limits, &mut Unpaced)
}

/// [`serve`], asking `pace` as it goes.
pub fn serve_within(
    request: &SyncRequest,
    docs: &mut BTreeMap<DocId, HeldDoc>,
    caller: &Caller<'_>,
    limits: &Limits,
    pace: &mut dyn Pace,
) -> Served {
    serve_since(request, docs, caller, limits, pace, &Unnamed::Whole)
}

/// [`serve_within`], answering the held documents the request does not
/// name as `unnamed` says (the change cursor: only those changed since).
pub fn serve_since(
    request: &SyncRequest,
    docs: &mut BTreeMap<DocId, HeldDoc>,
    caller: &Caller<'_>,
    limits: &Limits,
    pace: &mut dyn Pace,
    unnamed: &Unnamed,
) -> Served {
    let mut replies = Vec::with_capacity(docs.len().max(request.docs.len()));
    let mut accepted = Vec::new();
    let mut gauge = Gauge {
        pace,
        limits,
        spent: Footprint::default(),
        measured: 0,
        stopped: false,
        full: false,
        held_back: Vec::new(),
    };
    for item in &request.docs {
        let (reply, stored) = serve_doc(
            item.id,
            docs.get_mut(&item.id),
            &item.msg,
            caller,
            &mut gauge,
        );
        accepted.extend(stored);
        replies.push(reply);
    }
    let exchanged: BTreeSet<DocId> = request.docs.iter().map(|d| d.id).collect();
    let known: BTreeMap<DocId, &[ChangeHash]> = request
        .known
        .iter()
        .map(|k| (k.id, k.heads.as_slice()))
        .collect();
    for (id, held) in docs.iter() {
        if gauge.stopped {
            // Past the deadline: they come with the next sync.
            break;
        }
        if exchanged.contains(id) {
            continue;
        }
        let reply = match known.get(id) {
            Some(heads) => known_reply(*id, held, heads),
            None if held.access.is_gone() => match unnamed {
                // Held unchanged by a device whose set the server knows.
                Unnamed::Since(changed) if changed.get(id) == Some(&Delta::Removed) => {
                    Some(removed_unnamed_reply(*id, &held.doc))
                }
                _ => None,
            },
            None => match unnamed {
                Unnamed::Whole => Some(whole_doc_reply(*id, &held.doc)),
                Unnamed::Nothing => None,
                Unnamed::Since(changed) => changed.get(id).map(|d| delta_reply(*id, &held.doc, d)),
            },
        };
        replies.extend(reply);
    }
    Served {
        response: SyncResponse {
            v: PROTOCOL_VERSION,
            docs: replies,
            cursor: None,
            resync: false,
        },
        accepted,
        held_back: gauge.held_back,
    }
}

/// What a batch has taken so far, and whether it may take more.
struct Gauge<'a> {
    pace: &'a mut dyn Pace,
    limits: &'a Limits,
    /// What the documents applied so far expand to.
    spent: Footprint,
    /// Bytes read or inflated measuring, refused documents included: no
    /// batch measures more than its decompressed bound.
    measured: u64,
    /// The deadline passed: hold back everything after.
    stopped: bool,
    /// A document did not fit the batch bounds: hold back the rest with changes.
    full: bool,
    held_back: Vec<DocId>,
}

/// What to do with one document's changes.
enum Verdict {
    Apply,
    Refuse(SyncError),
    HoldBack,
}

impl Gauge<'_> {
    /// Whether to look at another document at all.
    fn may_start(&mut self) -> bool {
        if !self.stopped && !self.pace.keep_going() {
            self.stopped = true;
        }
        !self.stopped
    }

    /// Measures `msg`'s changes and decides whether they are applied now.
    fn weigh(&mut self, msg: &Message) -> Verdict {
        if msg.changes.is_empty() {
            return Verdict::Apply;
        }
        if self.full {
            return Verdict::HoldBack;
        }
        let room = self
            .limits
            .content
            .decompressed_bytes
            .batch
            .saturating_sub(self.measured);
        let measured = measure_within(msg, self.limits, room);
        self.measured = self.measured.saturating_add(measured.consumed);
        let cost = match measured.result {
            Ok(cost) => cost,
            Err(SyncError::OverLimit {
                scope: Scope::Batch,
                ..
            }) => {
                self.full = true;
                return Verdict::HoldBack;
            }
            Err(e) => return Verdict::Refuse(e),
        };
        // The first document applied always fits the batch bounds (its own
        // were checked), so every round makes progress.
        if !self.spent.is_empty() && !self.spent.batch_fits(&cost, &self.limits.content) {
            self.full = true;
            return Verdict::HoldBack;
        }
        if !self.pace.admit(&cost) {
            return Verdict::HoldBack;
        }
        self.spent = self.spent.plus(&cost);
        Verdict::Apply
    }
}

pub(super) fn whole_doc_reply(id: DocId, doc: &Automerge) -> DocReply {
    DocReply {
        id,
        outcome: Outcome::Accepted,
        msg: Some(ByteBuf::from(whole_doc_message(doc).encode())),
    }
}

/// `removed` for a document a device with a cursor holds unchanged (it did
/// not name it) and that left its scope. `msg` carries no content, only
/// the server's heads: the device drops its copy when that copy is at its
/// acknowledged heads (all of it is on the server) or at these heads.
fn removed_unnamed_reply(id: DocId, doc: &Automerge) -> DocReply {
    DocReply {
        id,
        outcome: Outcome::Removed,
        msg: Some(ByteBuf::from(heads_only(doc).encode())),
    }
}

/// The answer for a document a device with a cursor holds, which the
/// server changed since: those changes alone, in one V1 message with the
/// server's heads. When the device lacks something they depend on, it
/// cannot apply them all and runs the standard exchange next round.
fn delta_reply(id: DocId, doc: &Automerge, delta: &Delta) -> DocReply {
    let changes = match delta {
        Delta::Changes(hashes) => hashes
            .iter()
            .map(|h| doc.get_change_by_hash(h).map(|c| c.raw_bytes().to_vec()))
            .collect::<Option<Vec<_>>>(),
        Delta::Whole => None,
        Delta::Removed => return removed_unnamed_reply(id, doc),
    };
    // A change the loaded document lacks (it cannot: its commit came
    // before the load) or rows pruned since the cursor: send it whole.
    let Some(changes) = changes else {
        return whole_doc_reply(id, doc);
    };
    let mut msg = heads_only(doc);
    msg.changes = automerge::sync::ChunkList::from(changes);
    DocReply {
        id,
        outcome: Outcome::Accepted,
        msg: Some(ByteBuf::from(msg.encode())),
    }
}

/// The answer for a document the device holds at `heads` and is not
/// exchanging: nothing when it has everything, else only what is new.
fn known_reply(id: DocId, held: &HeldDoc, heads: &[ChangeHash]) -> Option<DocReply> {
    let ours = !heads.is_empty() && heads.iter().all(|h| has_change(&held.doc, h));
    if held.access.is_gone() {
        // As for an exchanged document: `removed` echoes the heads it was
        // held at, so the device drops its copy only if it has nothing newer.
        let (outcome, msg) = if ours {
            let mut echo = heads_only(&held.doc);
            echo.heads = heads.to_vec();
            (Outcome::Removed, Some(ByteBuf::from(echo.encode())))
        } else {
            (Outcome::NotFound, None)
        };
        return Some(DocReply { id, outcome, msg });
    }
    if !ours {
        // Heads we never had (a server restored from backup): start over.
        return Some(whole_doc_reply(id, &held.doc));
    }
    if same_heads(&held.doc.get_heads(), heads) {
        return None;
    }
    let mut state = primed_state(&held.doc, heads);
    // Only the new changes: a whole-document (V2) message would send again
    // what the device already has.
    state.their_capabilities = None;
    let msg = held.doc.generate_sync_message(&mut state)?;
    Some(DocReply {
        id,
        outcome: Outcome::Accepted,
        msg: Some(ByteBuf::from(msg.encode())),
    })
}

/// A message that carries the whole document to a peer that has none of it.
pub fn whole_doc_message(doc: &Automerge) -> Message {
    let mut state = State::new();
    state.their_heads = Some(Vec::new());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have::default()]);
    state.their_capabilities = Some(vec![Capability::MessageV2, Capability::SyncReset]);
    doc.generate_sync_message(&mut state)
        .unwrap_or_else(|| heads_only(doc))
}

/// The smallest message: just our heads (the peer learns we are in sync).
pub(super) fn heads_only(doc: &Automerge) -> Message {
    Message {
        heads: doc.get_heads(),
        need: Vec::new(),
        have: Vec::new(),
        changes: automerge::sync::ChunkList::empty(),
        flags: None,
        version: automerge::sync::MessageVersion::V1,
    }
}

/// Why the changes of one document were refused, and the first change to
/// blame when there is one.
struct Refusal {
    rejection: Rejection,
    change: Option<ChangeHash>,
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            change: None,
        }
    }
}

fn rejected(r: Refusal) -> Outcome {
    Outcome::Rejected {
        code: r.rejection.code,
        message: r.rejection.message,
        change: r.change,
    }
}

fn malformed(e: SyncError) -> Outcome {
    rejected(Rejection::new(RejectCode::Malformed, e.to_string()).into())
}

fn serve_doc(
    id: DocId,
    held: Option<&mut HeldDoc>,
    bytes: &[u8],
    caller: &Caller<'_>,
    gauge: &mut Gauge<'_>,
) -> (DocReply, Option<Accepted>) {
    let limits = gauge.limits;
    let reply = |outcome, msg: Option<Message>| DocReply {
        id,
        outcome,
        msg: msg.map(|m| ByteBuf::from(m.encode())),
    };
    let Some(held) = held else {
        return (reply(Outcome::NotFound, None), None);
    };
    let msg = match decode_message(bytes, limits) {
        Ok(m) => m,
        Err(e) => return (reply(malformed(e), None), None),
    };
    if held.access.is_gone() && !knows_any(&held.doc, &msg) {
        // They never held it: answer exactly as for an unknown document.
        return (reply(Outcome::NotFound, None), None);
    }
    // What the changes expand to, before automerge applies anything.
    let verdict = if gauge.may_start() {
        gauge.weigh(&msg)
    } else {
        Verdict::HoldBack
    };
    match verdict {
        Verdict::Apply => {}
        Verdict::Refuse(e) => return (reply(malformed(e), None), None),
        Verdict::HoldBack => {
            gauge.held_back.push(id);
            return (
                reply(Outcome::NeedsAnotherRound, Some(resend(held, &msg))),
                None,
            );
        }
    }

    let before = held.doc.get_heads();
    let mut state = State::new();
    let (outcome, stored) = if msg.changes.is_empty() {
        // Nothing to apply: receiving only updates `state`, so no copy is needed.
        match contained(|| held.doc.receive_sync_message(&mut state, msg.clone())) {
            Ok(()) => (Outcome::Accepted, None),
            Err(e) => return (reply(malformed(e), None), None),
        }
    } else {
        match receive_copy(&held.doc, &mut state, msg.clone()) {
            Err(e) => {
                state = State::new();
                (malformed(e), None)
            }
            Ok(work) => {
                let new = received_changes(&held.doc, &work, &msg)
                    .unwrap_or_else(|| work.get_changes(&before));
                match judge(&work, &new, held.access, caller) {
                    Ok(job) => {
                        held.doc = work;
                        let stored = (!new.is_empty()).then_some(Accepted {
                            id,
                            changes: new,
                            job,
                        });
                        (Outcome::Accepted, stored)
                    }
                    Err(r) => {
                        state = State::new();
                        (rejected(r), None)
                    }
                }
            }
        }
    };
    if matches!(outcome, Outcome::Rejected { .. }) {
        // Answer with our own changes, as if their message carried none and
        // named only heads we hold: the reply must not ask for the refused
        // changes (a stock automerge peer would send them again forever).
        let mut stripped = msg.clone();
        stripped.changes = automerge::sync::ChunkList::empty();
        stripped.heads.retain(|h| has_change(&held.doc, h));
        if receive_copy(&held.doc, &mut state, stripped).is_err() {
            return (reply(outcome, None), None);
        }
    }
    let missing = held.doc.get_missing_deps(&msg.heads);
    if held.access.is_gone() {
        // Send no content they may no longer read: only what decides whether
        // their copy can go. `Removed` echoes the device heads now stored
        // here, and the device drops its copy only if it has nothing newer.
        return match outcome {
            Outcome::Accepted if missing.is_empty() => {
                let mut echo = heads_only(&held.doc);
                echo.heads = msg.heads.clone();
                (reply(Outcome::Removed, Some(echo)), stored)
            }
            Outcome::Accepted => {
                // Ask for what is missing; empty heads make the device send its whole copy.
                let mut ask = heads_only(&held.doc);
                ask.heads = Vec::new();
                ask.need = missing;
                (reply(Outcome::NeedsAnotherRound, Some(ask)), stored)
            }
            other => (reply(other, None), stored),
        };
    }
    let missing = !missing.is_empty();
    if !missing && outcome == Outcome::Accepted {
        // We hold every head they sent, so they hold exactly those heads'
        // history: answer with every change outside it. Their bloom filter
        // only guesses, and a false positive (about 1% per change) withholds
        // a change and costs the routine sync a second round.
        state.their_have = Some(exactly(msg.heads.clone()));
    }
    let out_msg = held
        .doc
        .generate_sync_message(&mut state)
        .unwrap_or_else(|| heads_only(&held.doc));
    let outcome = match outcome {
        Outcome::Accepted if missing => Outcome::NeedsAnotherRound,
        o => o,
    };
    (reply(outcome, Some(out_msg)), stored)
}

/// The changes `msg` added to `doc` (giving `work`), dependencies first,
/// taken from the message itself: automerge's `get_changes` rebuilds them
/// from the operations, walking the whole document, and cost a few percent
/// of a routine sync. Automerge lists a message's changes by hash, not by
/// dependency, so they are put in dependency order here. `None` when the
/// message is not a list of changes `work` holds all of (a bundle, changes
/// it could not apply yet): then ask automerge.
fn received_changes(doc: &Automerge, work: &Automerge, msg: &Message) -> Option<Vec<Change>> {
    let mut pending = Vec::new();
    let mut listed = BTreeSet::new();
    for chunk in msg.changes.iter() {
        let change = Change::try_from(chunk).ok()?;
        let hash = change.hash();
        if listed.insert(hash) && !has_change(doc, &hash) {
            if !has_change(work, &hash) {
                return None;
            }
            pending.push(change);
        }
    }
    // Nothing else came in with them (a change automerge held back earlier).
    let gained = work
        .stats()
        .num_changes
        .checked_sub(doc.stats().num_changes)?;
    if usize::try_from(gained).ok()? != pending.len() {
        return None;
    }
    // Dependencies first (Kahn's order: linear in changes and dependencies).
    let index: BTreeMap<ChangeHash, usize> = pending
        .iter()
        .enumerate()
        .map(|(i, c)| (c.hash(), i))
        .collect();
    let mut waiting_on = vec![0usize; pending.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); pending.len()];
    for (i, change) in pending.iter().enumerate() {
        for dep in change.deps() {
            match index.get(dep) {
                Some(&j) => {
                    waiting_on[i] += 1;
                    dependents[j].push(i);
                }
                None if has_change(doc, dep) => {}
                None => return None,
            }
        }
    }
    let mut ready: Vec<usize> = (0..pending.len()).filter(|&i| waiting_on[i] == 0).collect();
    let mut order = Vec::with_capacity(pending.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &k in &dependents[i] {
            waiting_on[k] -= 1;
            if waiting_on[k] == 0 {
                ready.push(k);
            }
        }
    }
    if order.len() != pending.len() {
        return None;
    }
    let mut slots: Vec<Option<Change>> = pending.into_iter().map(Some).collect();
    let new: Vec<Change> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    debug_assert_eq!(
        new.iter().map(Change::hash).collect::<BTreeSet<_>>(),
        work.get_changes(&doc.get_heads())
            .iter()
            .map(Change::hash)
            .collect::<BTreeSet<_>>(),
        "the message's changes are the ones the document gained"
    );
    Some(new)
}

/// A message asking the device to send its changes again: they were not
/// looked at. A reset makes it forget what it sent.
fn resend(held: &HeldDoc, theirs: &Message) -> Message {
    if held.access.is_gone() {
        // No content, not even a bloom filter: empty heads make the device
        // send its whole copy.
        let mut ask = heads_only(&held.doc);
        ask.heads = Vec::new();
        return ask;
    }
    // When they hold everything we have (nothing here beyond the heads they
    // last synced at), say exactly that: they send every change after our
    // heads. Otherwise a Bloom filter of our changes tells them what we
    // hold, and about 1% of their changes test as held and are not sent.
    let synced: Vec<ChangeHash> = theirs
        .have
        .iter()
        .flat_map(|h| h.last_sync.clone())
        .collect();
    let ours = held.doc.get_heads();
    let they_hold_ours = !ours.is_empty()
        && synced.iter().all(|h| has_change(&held.doc, h))
        && held.doc.get_changes(&synced).is_empty();
    let mut ask = if they_hold_ours {
        let mut ask = heads_only(&held.doc);
        ask.have = exactly(ours);
        ask
    } else {
        held.doc
            .generate_sync_message(&mut State::new())
            .unwrap_or_else(|| heads_only(&held.doc))
    };
    ask.flags
        .get_or_insert_with(MessageFlags::new)
        .set(MessageFlags::SYNC_RESET);
    ask
}

/// Whether the message shows its sender holds some of this document.
fn knows_any(doc: &Automerge, msg: &Message) -> bool {
    let known = |h: &ChangeHash| has_change(doc, h);
    msg.heads.iter().any(known) || msg.have.iter().flat_map(|h| &h.last_sync).any(known)
}

/// Decides whether the new changes of one document may be stored; returns
/// the job as validated with them (`None` when there was nothing to judge).
fn judge(
    work: &Automerge,
    new: &[Change],
    access: Access,
    caller: &Caller<'_>,
) -> Result<Option<Job>, Refusal> {
    if new.is_empty() {
        return Ok(None);
    }
    if access == Access::Archived {
        return Err(Refusal {
            rejection: Rejection::new(RejectCode::Forbidden, ARCHIVED_REFUSAL),
            change: Some(new[0].hash()),
        });
    }
    if access == Access::ReadOnly {
        return Err(Refusal {
            rejection: Rejection::new(
                RejectCode::Forbidden,
                "this document is written by the server only",
            ),
            change: Some(new[0].hash()),
        });
    }
    // The batch's sender is wrong, not one change: no change is named.
    if let Some(c) = new
        .iter()
        .find(|c| !caller.device_actors.contains(c.actor_id()))
    {
        return Err(Rejection::new(
            RejectCode::ForeignActor,
            format!(
                "change by actor {} does not belong to your device",
                c.actor_id()
            ),
        )
        .into());
    }
    validate_new_changes_in(work, new, &caller.principal, caller.context)
        .map(Some)
        .map_err(|rejection| Refusal {
            change: first_refused(work, new, &caller.principal, caller.context),
            rejection,
        })
}

/// The first of `changes` (in order, dependencies first) the validator
/// refuses, or `None` when the merged document as a whole does not read.
/// Each change is judged on its own, so a prefix of `changes` is refused
/// exactly when it holds the culprit: a binary search over prefixes finds
/// it in O(log n) validations, paid only on the rejection path.
fn first_refused(
    work: &Automerge,
    changes: &[Change],
    who: &Principal,
    context: &Context,
) -> Option<ChangeHash> {
    let refused = |n: usize| validate_new_changes_in(work, &changes[..n], who, context).is_err();
    if refused(0) {
        return None;
    }
    // Invariant: the prefix of `ok` changes passes, the prefix of `bad` does not.
    let (mut ok, mut bad) = (0, changes.len());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if refused(mid) {
            bad = mid;
        } else {
            ok = mid;
        }
    }
    Some(changes[bad - 1].hash())
}

#[cfg(test)]
mod tests {
    use automerge::sync::{State, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};

    use super::*;

    #[test]
    fn a_messages_changes_come_from_the_message_in_dependency_order() {
        let mut server = AutoCommit::new().with_actor(ActorId::from([1u8; 16]));
        server.put(ROOT, "status", "scheduled").unwrap();
        server.commit();
        let mut device = server.fork().with_actor(ActorId::from([2u8; 16]));
        for n in 0..12 {
            device.put(ROOT, "n", n).unwrap();
            device.commit();
        }
        // What the device's routine sync sends: every change since the heads
        // it shares with the server.
        let mut state = State::new();
        state.shared_heads = server.get_heads();
        state.their_heads = Some(server.get_heads());
        state.their_need = Some(Vec::new());
        state.their_have = Some(exactly(server.get_heads()));
        let msg = device
            .document()
            .generate_sync_message(&mut state)
            .expect("a message");
        let held = server.document().clone();
        let work = receive_copy(&held, &mut State::new(), msg.clone()).unwrap();

        let new = received_changes(&held, &work, &msg).expect("taken from the message");
        let expected = work.get_changes(&held.get_heads());
        assert_eq!(new.len(), 12);
        assert_eq!(
            new.iter().map(Change::hash).collect::<BTreeSet<_>>(),
            expected.iter().map(Change::hash).collect::<BTreeSet<_>>()
        );
        // Dependencies first: each change's dependencies are held or earlier.
        let mut seen: BTreeSet<ChangeHash> = BTreeSet::new();
        for change in &new {
            assert!(
                change
                    .deps()
                    .iter()
                    .all(|d| seen.contains(d) || has_change(&held, d))
            );
            seen.insert(change.hash());
        }
    }
}
