//! Amplification: real automerge changes that expand far beyond their bytes
//! (compressed chunks, huge splices, many small operations, whole-document
//! messages) are measured and refused before automerge applies them, per
//! change, per message and per batch; honest work is measured exactly and
//! passes; a batch past its bounds, a deadline or a memory budget holds
//! documents back for a later round instead of refusing them.

mod common;

use std::collections::BTreeMap;

use common::*;
use fieldsync_core::automerge::sync::{ChunkList, Have, Message, MessageVersion};
use fieldsync_core::automerge::transaction::{Transactable, Transaction};
use fieldsync_core::automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc, ScalarValue,
};
use fieldsync_core::job::JobAction;
use fieldsync_core::sync::{
    Access, Bound, Caller, ClientSession, ContentLimits, DocMessage, DocSet, Footprint, HeldDoc,
    Limits, Measure, Outcome, PROTOCOL_VERSION, Pace, Scope, SyncError, SyncRequest, SyncResponse,
    measure_changes, serve, serve_within,
};
use fieldsync_core::{DocId, JobDoc, Principal, RejectCode, Timestamp};
use serde_bytes::ByteBuf;

/// A job assigned to technician 1, as the server and the device both hold it.
fn job() -> (DocId, Automerge) {
    let mut ids = Ids::default();
    let id = ids.job();
    (DocId::Job(id), new_job(id, Some(user(1))).into_doc())
}

/// One raw transaction by the device's actor, bypassing the app: what a
/// hostile client can send. Returns the change it made.
fn raw_change(doc: &mut Automerge, edit: impl FnOnce(&mut Transaction<'_>)) -> Change {
    let mut tx = doc.transaction();
    edit(&mut tx);
    tx.commit();
    doc.get_last_local_change().expect("a change")
}

fn notes(doc: &Automerge) -> fieldsync_core::automerge::ObjId {
    doc.get(ROOT, "notes").unwrap().expect("notes").1
}

/// A sync message carrying `chunks` as they are, on top of `base`'s heads.
fn message(base: &Automerge, heads: Vec<ChangeHash>, chunks: Vec<Vec<u8>>) -> Message {
    let mut heads = heads;
    heads.sort();
    Message {
        heads,
        need: Vec::new(),
        have: vec![Have {
            last_sync: base.get_heads(),
            bloom: Default::default(),
        }],
        changes: ChunkList::from(chunks),
        flags: None,
        version: MessageVersion::V1,
    }
}

/// automerge's own compressed form of a change (DEFLATE of its body).
fn compressed(change: &mut Change) -> Vec<u8> {
    change.bytes().to_vec()
}

fn device_copy(doc: &Automerge) -> Automerge {
    doc.fork().with_actor(actor(1))
}

fn refused(result: Result<Footprint, SyncError>, scope: Scope, measure: Measure) {
    match result {
        Err(SyncError::OverLimit {
            scope: s,
            measure: m,
            ..
        }) => assert_eq!((s, m), (scope, measure)),
        other => panic!("expected {scope:?}/{measure:?} to be over its limit, got {other:?}"),
    }
}

/// Serves `msg` for `id` (plus an honest note on a second job in the same
/// batch) and checks the attack is refused for its document only, with a
/// reason that names the limit, and the server's copy is untouched.
fn refused_for_its_document_only(id: DocId, server_doc: &Automerge, msg: Message) {
    let (other, other_doc) = {
        let mut ids = Ids::default();
        ids.job();
        let id = ids.job();
        (DocId::Job(id), new_job(id, Some(user(1))).into_doc())
    };
    let mut honest = JobDoc::from_trusted(device_copy(&other_doc));
    honest
        .apply(
            &JobAction::AddNote {
                text: "Replaced the valve".into(),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    let honest = honest.into_doc();
    let honest_msg = message(
        &other_doc,
        honest.get_heads(),
        honest
            .get_changes(&other_doc.get_heads())
            .into_iter()
            .map(|c| c.raw_bytes().to_vec())
            .collect(),
    );
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![
            DocMessage {
                id,
                msg: ByteBuf::from(msg.encode()),
            },
            DocMessage {
                id: other,
                msg: ByteBuf::from(honest_msg.encode()),
            },
        ],
        cursor: None,
        held: None,
    };
    let mut held = BTreeMap::from([
        (
            id,
            HeldDoc {
                doc: server_doc.clone(),
                access: Access::Write,
            },
        ),
        (
            other,
            HeldDoc {
                doc: other_doc.clone(),
                access: Access::Write,
            },
        ),
    ]);
    let actors = [actor(1)];
    let caller = Caller {
        principal: tech(1),
        device_actors: &actors,
        context: &Default::default(),
    };
    let served = serve(&request, &mut held, &caller, &Limits::default());
    let reply = served.response.docs.iter().find(|d| d.id == id).unwrap();
    match &reply.outcome {
        Outcome::Rejected { code, message, .. } => {
            assert_eq!(*code, RejectCode::Malformed);
            assert!(message.contains("exceeds the server's limit"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(held[&id].doc.get_heads(), server_doc.get_heads());
    assert!(served.accepted.iter().all(|a| a.id != id));
    let other_reply = served.response.docs.iter().find(|d| d.id == other).unwrap();
    assert_eq!(other_reply.outcome, Outcome::Accepted);
    assert_eq!(held[&other].doc.get_heads(), honest.get_heads());
}

#[test]
fn a_huge_splice_in_a_compressed_chunk_is_refused_by_its_operations() {
    let (id, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let text = notes(&device);
    let mut change = raw_change(&mut device, |tx| {
        tx.splice_text(&text, 0, 0, &"a".repeat(1_000_000)).unwrap();
    });
    let chunk = compressed(&mut change);
    // A million characters in about a kilobyte.
    assert!(chunk.len() < 4_096, "{}", chunk.len());
    let msg = message(&server_doc, device.get_heads(), vec![chunk]);
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::Change,
        Measure::Operations,
    );
    refused_for_its_document_only(id, &server_doc, msg);
}

#[test]
fn a_huge_value_in_a_compressed_chunk_stops_inflating_at_the_limit() {
    let (id, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let mut change = raw_change(&mut device, |tx| {
        tx.put(ROOT, "problem", "a".repeat(20_000_000)).unwrap();
    });
    let chunk = compressed(&mut change);
    assert!(chunk.len() < 100_000, "{}", chunk.len());
    let msg = message(&server_doc, device.get_heads(), vec![chunk]);
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::Change,
        Measure::DecompressedBytes,
    );
    refused_for_its_document_only(id, &server_doc, msg);
}

#[test]
fn many_small_operations_are_refused_per_change() {
    let (id, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let mut change = raw_change(&mut device, |tx| {
        let map = tx.put_object(ROOT, "junk", ObjType::Map).unwrap();
        for i in 0..30_000 {
            tx.put(&map, format!("k{i}"), i64::from(i)).unwrap();
        }
    });
    let msg = message(
        &server_doc,
        device.get_heads(),
        vec![compressed(&mut change)],
    );
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::Change,
        Measure::Operations,
    );
    refused_for_its_document_only(id, &server_doc, msg);
}

#[test]
fn many_changes_each_within_bounds_are_refused_per_message() {
    let (id, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let text = notes(&device);
    let mut chunks = Vec::new();
    for _ in 0..6 {
        let mut change = raw_change(&mut device, |tx| {
            tx.splice_text(&text, 0, 0, &"b".repeat(20_000)).unwrap();
        });
        chunks.push(compressed(&mut change));
    }
    let msg = message(&server_doc, device.get_heads(), chunks);
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::Message,
        Measure::Operations,
    );
    refused_for_its_document_only(id, &server_doc, msg);
}

#[test]
fn a_whole_document_message_is_measured_through_its_compressed_columns() {
    let (id, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let text = notes(&device);
    raw_change(&mut device, |tx| {
        tx.splice_text(&text, 0, 0, &"c".repeat(500_000)).unwrap();
    });
    // The form automerge sends when more than a third of a document is new.
    let whole = device.save();
    assert!(whole.len() < 20_000, "{}", whole.len());
    let mut msg = message(&server_doc, device.get_heads(), vec![whole]);
    msg.version = MessageVersion::V2;
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::Message,
        Measure::Operations,
    );
    refused_for_its_document_only(id, &server_doc, msg);
}

#[test]
fn one_long_string_is_refused_even_when_the_change_is_small_enough() {
    let (id, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let change = raw_change(&mut device, |tx| {
        tx.put(ROOT, "problem", "d".repeat(100_000)).unwrap();
    });
    let msg = message(
        &server_doc,
        device.get_heads(),
        vec![change.raw_bytes().to_vec()],
    );
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::String,
        Measure::Bytes,
    );
    refused_for_its_document_only(id, &server_doc, msg);
}

#[test]
fn chunks_packed_into_one_entry_are_all_counted() {
    let (_, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let mut packed = Vec::new();
    for i in 0..11 {
        let change = raw_change(&mut device, |tx| {
            tx.put(ROOT, "problem", format!("edit {i}")).unwrap();
        });
        packed.extend_from_slice(change.raw_bytes());
    }
    // automerge reads the entries of a message as one stream of chunks.
    let msg = message(&server_doc, device.get_heads(), vec![packed]);
    let limits = Limits {
        max_changes_per_message: 10,
        ..Limits::default()
    };
    assert_eq!(msg.changes.len(), 1);
    refused(
        measure_changes(&msg, &limits),
        Scope::Message,
        Measure::Changes,
    );
    let within = Limits {
        max_changes_per_message: 11,
        ..Limits::default()
    };
    assert_eq!(measure_changes(&msg, &within).unwrap().changes, 11);
}

#[test]
fn run_length_claims_are_counted_not_expanded() {
    // A hand-built change chunk whose columns claim 2^40 operations in a
    // few bytes: automerge would iterate them all.
    let mut body = Vec::new();
    uleb(&mut body, 0); // no dependencies
    uleb(&mut body, 16);
    body.extend([1u8; 16]); // actor
    uleb(&mut body, 1); // seq
    uleb(&mut body, 1); // start op
    body.push(0); // time
    uleb(&mut body, 0); // no message
    uleb(&mut body, 0); // no other actors
    let mut key = Vec::new();
    sleb(&mut key, 1 << 40);
    uleb(&mut key, 1);
    key.push(b'k');
    let mut action = Vec::new();
    sleb(&mut action, 1 << 40);
    uleb(&mut action, 1); // put
    uleb(&mut body, 2); // two columns
    uleb(&mut body, (1 << 4) | 5); // key strings
    uleb(&mut body, key.len() as u64);
    uleb(&mut body, (4 << 4) | 2); // actions
    uleb(&mut body, action.len() as u64);
    body.extend(&key);
    body.extend(&action);
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
    uleb(&mut chunk, body.len() as u64);
    chunk.extend(&body);
    assert!(chunk.len() < 80);
    let (_, server_doc) = job();
    let msg = message(&server_doc, Vec::new(), vec![chunk]);
    refused(
        measure_changes(&msg, &Limits::default()),
        Scope::Change,
        Measure::Operations,
    );
}

#[test]
fn bundle_chunks_and_garbage_are_malformed() {
    let (_, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let change = raw_change(&mut device, |tx| {
        tx.put(ROOT, "problem", "x").unwrap();
    });
    let bundle = device.bundle([change.hash()]).unwrap().bytes().to_vec();
    for chunk in [bundle, b"garbage".to_vec()] {
        let msg = message(&server_doc, device.get_heads(), vec![chunk]);
        assert!(
            matches!(
                measure_changes(&msg, &Limits::default()),
                Err(SyncError::Malformed(_))
            ),
            "{:?}",
            measure_changes(&msg, &Limits::default())
        );
    }
}

#[test]
fn honest_changes_are_measured_exactly() {
    let (_, server_doc) = job();
    let mut device = device_copy(&server_doc);
    let text = notes(&device);
    let mut changes = vec![
        raw_change(&mut device, |tx| {
            tx.splice_text(&text, 0, 0, "Replaced the valve, tested twice")
                .unwrap();
        }),
        raw_change(&mut device, |tx| {
            tx.splice_text(&text, 3, 5, "").unwrap();
            tx.put(ROOT, "problem", "Leaking valve").unwrap();
            tx.put(ROOT, "count", ScalarValue::counter(1)).unwrap();
        }),
        raw_change(&mut device, |tx| {
            tx.increment(ROOT, "count", 2).unwrap();
            let list = tx.put_object(ROOT, "lines", ObjType::List).unwrap();
            for i in 0..50 {
                let line = tx.insert_object(&list, i, ObjType::Map).unwrap();
                tx.put(&line, "sku", format!("SKU-{i}")).unwrap();
                tx.put(&line, "qty", 2u64).unwrap();
            }
            tx.delete(&list, 7).unwrap();
        }),
    ];
    for change in &mut changes {
        let plain = message(
            &server_doc,
            device.get_heads(),
            vec![change.raw_bytes().to_vec()],
        );
        let packed = message(&server_doc, device.get_heads(), vec![compressed(change)]);
        let m = measure_changes(&plain, &Limits::default()).unwrap();
        assert_eq!(m.ops, change.len() as u64, "{m:?}");
        assert_eq!(m.changes, 1);
        assert_eq!(m.decompressed_bytes, change.raw_bytes().len() as u64);
        let c = measure_changes(&packed, &Limits::default()).unwrap();
        assert_eq!((c.ops, c.text_bytes), (m.ops, m.text_bytes));
    }
    // The splice: one operation and one byte of text per character.
    let first = measure_changes(
        &message(
            &server_doc,
            Vec::new(),
            vec![changes[0].raw_bytes().to_vec()],
        ),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(first.text_bytes, 32);

    // The whole document: every operation of every change.
    let whole = device.save();
    let all: u64 = device.get_changes(&[]).iter().map(|c| c.len() as u64).sum();
    let m = measure_changes(
        &message(&server_doc, device.get_heads(), vec![whole]),
        &Limits::default(),
    )
    .unwrap();
    // Deletions are stored as successors, counted as operations too: an
    // upper bound, never below what automerge rebuilds.
    assert!(m.ops >= all && m.ops < all + 20, "{} for {all}", m.ops);
    assert_eq!(m.changes, device.get_changes(&[]).len() as u64);
}

#[test]
fn a_ten_thousand_character_note_passes_every_bound() {
    let (id, server_doc) = job();
    let mut device = JobDoc::from_trusted(device_copy(&server_doc));
    device
        .apply(
            &JobAction::AddNote {
                text: "x".repeat(10_000),
            },
            tech(1),
            Timestamp(T0),
        )
        .unwrap();
    let device = device.into_doc();
    let mut session = ClientSession::new(actor(1));
    let mut docs = DocSet::from([(id, server_doc.clone())]);
    // Prime the session with the server's heads, then make the edit.
    let mut held = BTreeMap::from([(
        id,
        HeldDoc {
            doc: server_doc.clone(),
            access: Access::Write,
        },
    )]);
    let first = session.start(&docs);
    let actors = [actor(1)];
    let caller = Caller {
        principal: tech(1),
        device_actors: &actors,
        context: &Default::default(),
    };
    let served = serve(&first, &mut held, &caller, &Limits::default());
    session.apply(&mut docs, &served.response);
    docs.insert(id, device.clone());
    let request = session.start(&docs);
    let served = serve(&request, &mut held, &caller, &Limits::default());
    assert_eq!(served.response.docs[0].outcome, Outcome::Accepted);
    assert_eq!(held[&id].doc.get_heads(), device.get_heads());
}

/// A server holding `n` jobs for technician 1 and the device that synced them.
struct Bench {
    server: BTreeMap<DocId, Automerge>,
    device: DocSet,
    session: ClientSession,
    who: Principal,
    actors: [ActorId; 1],
}

impl Bench {
    fn new(n: usize) -> Self {
        let mut ids = Ids::default();
        let server: BTreeMap<DocId, Automerge> = (0..n)
            .map(|_| {
                let id = ids.job();
                (DocId::Job(id), new_job(id, Some(user(1))).into_doc())
            })
            .collect();
        let mut bench = Self {
            server,
            device: DocSet::new(),
            session: ClientSession::new(actor(1)),
            who: tech(1),
            actors: [actor(1)],
        };
        let (rounds, _) = bench.sync(&Limits::default(), &mut Pacer::default());
        assert_eq!(rounds, 1);
        assert_eq!(bench.device.len(), n);
        bench
    }

    /// The technician adds a note to every job offline.
    fn note_everywhere(&mut self, text: &str) {
        for doc in self.device.values_mut() {
            let mut job = JobDoc::from_trusted(std::mem::take(doc).with_actor(actor(1)));
            job.apply(
                &JobAction::AddNote { text: text.into() },
                self.who,
                Timestamp(T0),
            )
            .unwrap();
            *doc = job.into_doc();
        }
    }

    /// One HTTP request against the stateless server function.
    fn round(&mut self, request: &SyncRequest, limits: &Limits, pace: &mut Pacer) -> SyncResponse {
        let mut held: BTreeMap<DocId, HeldDoc> = self
            .server
            .iter()
            .map(|(id, doc)| {
                (
                    *id,
                    HeldDoc {
                        doc: doc.clone(),
                        access: Access::Write,
                    },
                )
            })
            .collect();
        let caller = Caller {
            principal: self.who,
            device_actors: &self.actors,
            context: &Default::default(),
        };
        let served = serve_within(request, &mut held, &caller, limits, pace);
        for accepted in &served.accepted {
            self.server
                .get_mut(&accepted.id)
                .unwrap()
                .apply_changes(accepted.changes.iter().cloned())
                .unwrap();
        }
        pace.held_back.push(served.held_back.len());
        served.response
    }

    /// A full sync; returns the rounds it took and every outcome seen.
    fn sync(&mut self, limits: &Limits, pace: &mut Pacer) -> (usize, Vec<Outcome>) {
        let mut outcomes = Vec::new();
        let mut request = Some(self.session.start(&self.device));
        let mut rounds = 0;
        while let Some(req) = request.take() {
            rounds += 1;
            assert!(rounds <= 10, "sync did not settle");
            let response = self.round(&req, limits, pace);
            outcomes.extend(response.docs.iter().map(|d| d.outcome.clone()));
            let report = self.session.apply(&mut self.device, &response);
            assert!(report.rejected.is_empty(), "{:?}", report.rejected);
            request = self.session.next_round(&self.device);
        }
        (rounds, outcomes)
    }

    fn converged(&self) -> bool {
        self.server
            .iter()
            .all(|(id, doc)| self.device[id].get_heads() == doc.get_heads())
    }
}

/// A scripted [`Pace`]: how many documents may start, and which costs are admitted.
#[derive(Default)]
struct Pacer {
    /// `Some(n)`: `keep_going` answers yes n times per request, then no.
    starts_per_request: Option<usize>,
    starts: usize,
    /// Refuse this many admissions, then admit everything.
    refuse_admissions: usize,
    admitted: Vec<Footprint>,
    held_back: Vec<usize>,
}

impl Pace for Pacer {
    fn keep_going(&mut self) -> bool {
        self.starts += 1;
        self.starts_per_request.is_none_or(|n| self.starts <= n)
    }
    fn admit(&mut self, cost: &Footprint) -> bool {
        if self.refuse_admissions > 0 {
            self.refuse_admissions -= 1;
            return false;
        }
        self.admitted.push(*cost);
        true
    }
}

#[test]
fn documents_past_the_batch_bounds_wait_for_the_next_round() {
    let mut bench = Bench::new(3);
    bench.note_everywhere(&"n".repeat(40));
    // Room for one document's note per batch, not two.
    let bound = Bound {
        change: 100,
        message: 100,
        batch: 150,
    };
    let limits = Limits {
        content: ContentLimits {
            ops: bound,
            ..ContentLimits::default()
        },
        ..Limits::default()
    };
    let mut pace = Pacer::default();
    let (rounds, outcomes) = bench.sync(&limits, &mut pace);
    assert_eq!(rounds, 3, "{outcomes:?}");
    // Two held back in the first round, one in the second, none after.
    assert_eq!(pace.held_back, vec![2, 1, 0]);
    assert!(outcomes.contains(&Outcome::NeedsAnotherRound));
    assert!(bench.converged());
    let notes = bench
        .server
        .values()
        .map(|d| fieldsync_core::job::read_job(d, None).unwrap().notes)
        .collect::<Vec<_>>();
    assert!(
        notes.iter().all(|n| n.contains(&"n".repeat(40))),
        "{notes:?}"
    );
}

#[test]
fn a_deadline_holds_back_the_rest_and_applies_none_of_it() {
    let mut bench = Bench::new(4);
    let before: Vec<_> = bench.server.values().map(Automerge::get_heads).collect();
    bench.note_everywhere("on my way");
    let request = bench.session.start(&bench.device);
    // The deadline passes after the first document.
    let mut pace = Pacer {
        starts_per_request: Some(1),
        ..Pacer::default()
    };
    let response = bench.round(&request, &Limits::default(), &mut pace);
    assert_eq!(pace.held_back, vec![3]);
    let after: Vec<_> = bench.server.values().map(Automerge::get_heads).collect();
    assert_ne!(before[0], after[0], "the first document was served");
    assert_eq!(before[1..], after[1..], "nothing of the rest was applied");
    assert_eq!(
        response
            .docs
            .iter()
            .filter(|d| d.outcome == Outcome::NeedsAnotherRound)
            .count(),
        3
    );
    // The device carries on; each later round gets one more document done.
    bench.session.apply(&mut bench.device, &response);
    let mut rounds = 1;
    while let Some(next) = bench.session.next_round(&bench.device) {
        rounds += 1;
        assert!(rounds <= 10, "did not settle");
        pace.starts = 0;
        let response = bench.round(&next, &Limits::default(), &mut pace);
        bench.session.apply(&mut bench.device, &response);
    }
    assert!(bench.converged());
}

#[test]
fn a_document_the_memory_budget_cannot_admit_is_held_back_not_refused() {
    let mut bench = Bench::new(2);
    bench.note_everywhere("replaced the pump");
    let mut pace = Pacer {
        refuse_admissions: 1,
        ..Pacer::default()
    };
    let (rounds, outcomes) = bench.sync(&Limits::default(), &mut pace);
    assert_eq!(rounds, 2, "{outcomes:?}");
    assert_eq!(pace.held_back, vec![1, 0]);
    assert!(bench.converged());
    // What the budget was asked for is what the notes expand to.
    assert_eq!(pace.admitted.len(), 2);
    assert!(
        pace.admitted
            .iter()
            .all(|c| c.changes >= 1 && c.ops >= 17 && c.text_bytes >= 17),
        "{:?}",
        pace.admitted
    );
}

fn uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn a_bloom_filter_asking_for_billions_of_probes_is_malformed() {
    // automerge would allocate `probes` entries for each change it checks
    // against the filter while answering: 16 GB per change here.
    let (id, server_doc) = job();
    let mut bloom = Vec::new();
    uleb(&mut bloom, 1); // entries
    uleb(&mut bloom, 10); // bits per entry
    uleb(&mut bloom, u64::from(u32::MAX)); // probes
    bloom.extend([0xff, 0xff]);
    let mut msg = vec![0x42];
    uleb(&mut msg, 0); // heads
    uleb(&mut msg, 0); // need
    uleb(&mut msg, 1); // one "have"
    uleb(&mut msg, 0); // last sync: none
    uleb(&mut msg, bloom.len() as u64);
    msg.extend(&bloom);
    uleb(&mut msg, 0); // no changes
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id,
            msg: ByteBuf::from(msg),
        }],
        cursor: None,
        held: None,
    };
    let mut held = BTreeMap::from([(
        id,
        HeldDoc {
            doc: server_doc,
            access: Access::Write,
        },
    )]);
    let actors = [actor(1)];
    let caller = Caller {
        principal: tech(1),
        device_actors: &actors,
        context: &Default::default(),
    };
    let served = serve(&request, &mut held, &caller, &Limits::default());
    match &served.response.docs[0].outcome {
        Outcome::Rejected { code, message, .. } => {
            assert_eq!(*code, RejectCode::Malformed);
            assert!(message.contains("Bloom filter"), "{message}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_batch_inflates_no_more_than_its_decompressed_bound_even_for_refused_documents() {
    // Six documents, each a compressed change that inflates to 10 KB: over
    // the per-change bound. Refusing each costs inflating up to that bound,
    // so the batch stops measuring once its own bound is used up; the rest
    // wait for a later round.
    let mut ids = Ids::default();
    let mut held = BTreeMap::new();
    let mut docs = Vec::new();
    for _ in 0..6 {
        let id = ids.job();
        let server_doc = new_job(id, Some(user(1))).into_doc();
        let mut device = device_copy(&server_doc);
        let mut change = raw_change(&mut device, |tx| {
            tx.put(ROOT, "problem", "z".repeat(10_000)).unwrap();
        });
        let msg = message(
            &server_doc,
            device.get_heads(),
            vec![compressed(&mut change)],
        );
        docs.push(DocMessage {
            id: DocId::Job(id),
            msg: ByteBuf::from(msg.encode()),
        });
        held.insert(
            DocId::Job(id),
            HeldDoc {
                doc: server_doc,
                access: Access::Write,
            },
        );
    }
    let limits = Limits {
        content: ContentLimits {
            decompressed_bytes: Bound {
                change: 1024,
                message: 1024,
                batch: 3 * 1024,
            },
            ..ContentLimits::default()
        },
        ..Limits::default()
    };
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs,
        cursor: None,
        held: None,
    };
    let actors = [actor(1)];
    let caller = Caller {
        principal: tech(1),
        device_actors: &actors,
        context: &Default::default(),
    };
    let served = serve(&request, &mut held, &caller, &limits);
    let outcomes: Vec<&Outcome> = served.response.docs.iter().map(|d| &d.outcome).collect();
    // Two refusals inflate 2 x 1 KB; the third would pass the batch's 3 KB.
    assert!(
        matches!(
            outcomes[..2],
            [Outcome::Rejected { .. }, Outcome::Rejected { .. }]
        ),
        "{outcomes:?}"
    );
    assert!(
        outcomes[2..]
            .iter()
            .all(|o| **o == Outcome::NeedsAnotherRound),
        "{outcomes:?}"
    );
    assert_eq!(served.held_back.len(), 4);
    assert!(served.accepted.is_empty());
}

mod arbitrary_bytes {
    use proptest::prelude::*;

    use super::*;

    /// Real chunks of every kind the scanner reads, to mutate.
    fn seeds() -> Vec<Vec<u8>> {
        let (_, server_doc) = job();
        let mut device = device_copy(&server_doc);
        let text = notes(&device);
        let mut change = raw_change(&mut device, |tx| {
            tx.splice_text(&text, 0, 0, &"é and more text ".repeat(40))
                .unwrap();
            let list = tx.put_object(ROOT, "lines", ObjType::List).unwrap();
            tx.insert(&list, 0, "a").unwrap();
        });
        vec![
            change.raw_bytes().to_vec(),
            compressed(&mut change),
            device.save(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the bytes, measuring ends with a count or an error,
        /// never a panic or a hang.
        #[test]
        fn mutated_chunks_are_measured_or_refused(
            seed in 0usize..3,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
            cut in any::<usize>(),
        ) {
            let mut bytes = seeds()[seed].clone();
            for (at, value) in edits {
                let n = bytes.len();
                bytes[at % n] = value;
            }
            bytes.truncate(cut % (bytes.len() + 1) + 1);
            let (_, base) = job();
            let msg = message(&base, Vec::new(), vec![bytes]);
            let _ = measure_changes(&msg, &Limits::default());
        }

        #[test]
        fn random_bytes_are_measured_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83];
            chunk.extend(bytes);
            let (_, base) = job();
            let msg = message(&base, Vec::new(), vec![chunk]);
            let _ = measure_changes(&msg, &Limits::default());
        }
    }
}
