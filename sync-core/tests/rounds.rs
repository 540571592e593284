//! Rejections that end an exchange, and later rounds that carry only what is
//! unfinished: the server-side answers a client relies on (issue 13, items 1
//! and 2).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::net::{Device, Server};
use common::*;
use fieldsync_core::automerge::sync::{Message, State, SyncDoc};
use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{Automerge, AutomergeError, ChangeHash, ROOT};
use fieldsync_core::job::{JobAction, read_job};
use fieldsync_core::pricebook::write_price_book;
use fieldsync_core::sync::{
    Access, Caller, ClientSession, DocMessage, HeldDoc, KnownDoc, Limits, Outcome,
    PROTOCOL_VERSION, SyncRequest, SyncResponse, serve,
};
use fieldsync_core::{DocId, JobDoc, RejectCode, Timestamp};
use serde_bytes::ByteBuf;

fn server_with_jobs(n: usize, ids: &mut Ids) -> (Server, Vec<DocId>) {
    let mut server = Server::default();
    let mut jobs = Vec::new();
    for _ in 0..n {
        let id = ids.job();
        server
            .docs
            .insert(DocId::Job(id), new_job(id, Some(user(1))).into_doc());
        jobs.push(DocId::Job(id));
    }
    let mut book = Automerge::new().with_actor(actor(250));
    write_price_book(&mut book, &price_book(), Timestamp(T0)).unwrap();
    server.docs.insert(DocId::PriceBook, book);
    (server, jobs)
}

fn office_note(server: &mut Server, id: DocId, text: &str) {
    let doc = server.docs.remove(&id).unwrap();
    let mut job = JobDoc::from_trusted(doc.with_actor(actor(201)));
    job.apply(
        &JobAction::AddNote { text: text.into() },
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    server.docs.insert(id, job.into_doc());
}

fn tech_action(doc: &mut Automerge, action: JobAction) -> ChangeHash {
    let mut job = JobDoc::from_trusted(std::mem::take(doc));
    let hash = job.apply(&action, tech(1), Timestamp(T0)).unwrap();
    *doc = job.into_doc();
    hash
}

/// A change the validator refuses (a technician may not set the priority),
/// written raw, as a client other than our library could.
fn forbidden_edit(doc: &mut Automerge) -> ChangeHash {
    doc.transact::<_, _, AutomergeError>(|tx| tx.put(ROOT, "priority", "low"))
        .unwrap();
    doc.get_heads()[0]
}

fn serve_one(server: &Server, id: DocId, msg: Message) -> (Outcome, Message, Vec<u8>) {
    let mut held = BTreeMap::from([(
        id,
        HeldDoc {
            doc: server.docs[&id].clone(),
            access: Access::Write,
        },
    )]);
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        docs: vec![DocMessage {
            id,
            msg: ByteBuf::from(msg.encode()),
        }],
        known: Vec::new(),
        cursor: None,
        held: None,
    };
    let caller = Caller {
        principal: tech(1),
        device_actors: &[actor(1)],
        context: &Default::default(),
    };
    let served = serve(&request, &mut held, &caller, &Limits::default());
    assert!(served.accepted.is_empty(), "nothing of it may be stored");
    assert_eq!(held[&id].doc.get_heads(), server.docs[&id].get_heads());
    let reply = served
        .response
        .docs
        .into_iter()
        .find(|d| d.id == id)
        .unwrap();
    let bytes = reply
        .msg
        .expect("the server answers with its own message")
        .into_vec();
    (reply.outcome, Message::decode(&bytes).unwrap(), bytes)
}

#[test]
fn a_rejected_reply_names_the_refused_change_and_never_asks_for_it() {
    let mut ids = Ids::default();
    let (mut server, jobs) = server_with_jobs(1, &mut ids);
    let id = jobs[0];
    let mut device = Device::new(tech(1), actor(1));
    device.sync(&mut server);

    // Offline: a valid action, a refused raw edit, then a valid action on top.
    let doc = device.docs.get_mut(&id).unwrap();
    let travel = tech_action(doc, JobAction::StartTravel);
    let refused = forbidden_edit(doc);
    tech_action(
        doc,
        JobAction::AddNote {
            text: "left the van at the gate".into(),
        },
    );
    office_note(&mut server, id, "customer called back");

    // The fast-path message carries the three changes.
    let mut msg = device
        .session
        .start(&device.docs)
        .docs
        .into_iter()
        .find(|d| d.id == id)
        .map(|d| Message::decode(&d.msg).unwrap())
        .unwrap();
    assert!(!msg.changes.is_empty());
    msg.need.clear();
    let (outcome, reply, _) = serve_one(&server, id, msg);

    match &outcome {
        Outcome::Rejected {
            code: RejectCode::Forbidden,
            change,
            ..
        } => assert_eq!(*change, Some(refused), "the culprit, not {travel}"),
        other => panic!("expected a forbidden rejection, got {other:?}"),
    }
    assert!(
        reply.need.is_empty(),
        "the reply asks for nothing: {:?}",
        reply.need
    );
    assert_eq!(reply.heads, server.docs[&id].get_heads());
    // The office's note travels with the rejection.
    let mut doc = device.docs[&id].clone();
    doc.receive_sync_message(&mut State::new(), reply).unwrap();
    assert!(read_job(&doc, None).unwrap().notes.contains("called back"));
}

#[test]
fn a_stock_peer_that_stops_on_rejected_sends_the_refused_change_once() {
    let mut ids = Ids::default();
    let (mut server, jobs) = server_with_jobs(1, &mut ids);
    let id = jobs[0];
    let mut peer = server.docs[&id].fork().with_actor(actor(1));
    let refused = forbidden_edit(&mut peer);

    // A plain automerge loop that obeys docs/sync-protocol.md: a `rejected`
    // outcome ends the exchange of that document.
    let mut state = State::new();
    let mut sent_with_refused = 0;
    let mut outcomes = Vec::new();
    for _ in 0..10 {
        let Some(msg) = peer.generate_sync_message(&mut state) else {
            break;
        };
        // Its only change is the refused one (as a change or a whole document).
        sent_with_refused += usize::from(!msg.changes.is_empty());
        let (outcome, reply, _) = serve_one(&server, id, msg);
        let done = matches!(outcome, Outcome::Rejected { .. });
        assert!(
            !done || !reply.need.contains(&refused),
            "the rejection asks again for the refused change"
        );
        peer.receive_sync_message(&mut state, reply).unwrap();
        outcomes.push(outcome);
        if done {
            break;
        }
    }
    assert_eq!(sent_with_refused, 1, "{outcomes:?}");
    assert!(
        matches!(outcomes.last(), Some(Outcome::Rejected { change: Some(c), .. }) if *c == refused),
        "{outcomes:?}"
    );
    // Office work made meanwhile still reaches a peer that was refused.
    office_note(&mut server, id, "bring a ladder");
    let mut state = State::new();
    let msg = peer.generate_sync_message(&mut state).unwrap();
    let (_, reply, _) = serve_one(&server, id, msg);
    peer.receive_sync_message(&mut state, reply).unwrap();
    assert!(read_job(&peer, None).unwrap().notes.contains("ladder"));
}

#[test]
fn a_second_round_brings_no_bytes_for_documents_already_finished() {
    let mut ids = Ids::default();
    let (mut server, jobs) = server_with_jobs(3, &mut ids);
    let mut device = Device::new(tech(1), actor(1));
    device.sync(&mut server);
    assert_eq!(device.docs.len(), 4);

    // The device is restored from a backup: documents kept, sync state lost.
    // It worked job 0 offline, so job 0 needs the standard multi-round exchange.
    device.session = ClientSession::new(actor(1));
    tech_action(
        device.docs.get_mut(&jobs[0]).unwrap(),
        JobAction::StartTravel,
    );

    // Round 1: every document is exchanged from scratch.
    let first = device.session.start(&device.docs);
    assert_eq!(first.docs.len(), 4);
    let report = device.apply_response(&server.handle(&tech(1), &[actor(1)], &first.encode()));
    assert_eq!(report.unfinished, BTreeSet::from([jobs[0]]), "{report:?}");

    // Between the rounds, the office writes job 1.
    office_note(&mut server, jobs[1], "customer called");

    // Round 2: only job 0 is exchanged; the rest are listed as known.
    let second = device.session.next_round(&device.docs).expect("round 2");
    assert_eq!(
        second.docs.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![jobs[0]]
    );
    let known: BTreeSet<DocId> = second.known.iter().map(|k| k.id).collect();
    assert_eq!(known, BTreeSet::from([jobs[1], jobs[2], DocId::PriceBook]));
    let bytes = server.handle(&tech(1), &[actor(1)], &second.encode());
    let response = SyncResponse::decode(&bytes, &Limits::default()).unwrap();
    let answered: BTreeMap<DocId, usize> = response
        .docs
        .iter()
        .map(|d| (d.id, d.msg.as_ref().map_or(0, |m| m.len())))
        .collect();
    // Finished and unchanged: not a byte. Changed since: only the change.
    assert_eq!(
        answered.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([jobs[0], jobs[1]]),
        "{answered:?}"
    );
    let whole = fieldsync_core::sync::whole_doc_message(&server.docs[&jobs[1]])
        .encode()
        .len();
    assert!(
        answered[&jobs[1]] * 2 < whole,
        "job 1 came whole: {} of {whole} bytes",
        answered[&jobs[1]]
    );
    let report = device.apply_response(&bytes);
    assert!(report.changed.contains(&jobs[1]));
    assert!(report.unfinished.is_empty(), "{report:?}");
    assert!(device.session.next_round(&device.docs).is_none());

    // Both sides agree on everything.
    for (id, doc) in &server.docs {
        assert_eq!(device.docs[id].get_heads(), doc.get_heads(), "{id}");
    }
}

#[test]
fn a_held_back_document_sends_nothing_and_still_receives() {
    let mut ids = Ids::default();
    let (mut server, jobs) = server_with_jobs(2, &mut ids);
    let mut device = Device::new(tech(1), actor(1));
    device.sync(&mut server);
    let kept = device.docs[&jobs[0]].get_heads();

    // Job 0 holds local work the app keeps back (frozen for a supervisor).
    tech_action(
        device.docs.get_mut(&jobs[0]).unwrap(),
        JobAction::StartTravel,
    );
    tech_action(
        device.docs.get_mut(&jobs[1]).unwrap(),
        JobAction::StartTravel,
    );
    office_note(&mut server, jobs[0], "supervisor will call");

    let request = device
        .session
        .start_holding_back(&device.docs, &BTreeSet::from([jobs[0]]));
    assert!(request.docs.iter().all(|d| d.id != jobs[0]));
    assert_eq!(
        request.known,
        vec![KnownDoc {
            id: jobs[0],
            heads: kept.clone()
        }]
    );
    let report = device.apply_response(&server.handle(&tech(1), &[actor(1)], &request.encode()));
    assert!(report.unfinished.is_empty(), "{report:?}");
    // Nothing of job 0 reached the server; the office's note reached the device.
    assert_eq!(
        common::net::status_of(&server.docs[&jobs[0]]),
        fieldsync_core::Status::Scheduled
    );
    assert_eq!(
        common::net::status_of(&server.docs[&jobs[1]]),
        fieldsync_core::Status::Travelling
    );
    let local = read_job(&device.docs[&jobs[0]], None).unwrap();
    assert!(local.notes.contains("supervisor will call"));
    assert_eq!(local.status, fieldsync_core::Status::Travelling);
}

#[test]
fn known_heads_are_bounded_and_a_document_is_named_once() {
    let too_many = SyncRequest {
        v: PROTOCOL_VERSION,
        docs: Vec::new(),
        known: vec![KnownDoc {
            id: DocId::PriceBook,
            heads: vec![ChangeHash([7; 32]); fieldsync_core::sync::MAX_KNOWN_HEADS + 1],
        }],
        cursor: None,
        held: None,
    };
    assert!(matches!(
        SyncRequest::decode(&too_many.encode(), &Limits::default()),
        Err(fieldsync_core::sync::SyncError::TooLarge { .. })
    ));
    let twice = SyncRequest {
        v: PROTOCOL_VERSION,
        docs: vec![DocMessage {
            id: DocId::PriceBook,
            msg: ByteBuf::new(),
        }],
        known: vec![KnownDoc {
            id: DocId::PriceBook,
            heads: Vec::new(),
        }],
        cursor: None,
        held: None,
    };
    assert!(matches!(
        SyncRequest::decode(&twice.encode(), &Limits::default()),
        Err(fieldsync_core::sync::SyncError::Malformed(_))
    ));
}

/// The server answers a routine sync with every change the device lacks,
/// not the ones its bloom filter fails to claim: with the filter alone about
/// one sync in a hundred took a second round (a CI failure, and 4 of 400
/// here before the fix).
#[test]
fn a_routine_sync_with_office_changes_is_always_one_round() {
    let mut ids = Ids::default();
    let mut extra = Vec::new();
    for i in 0..400 {
        let (mut server, jobs) = server_with_jobs(1, &mut ids);
        let id = jobs[0];
        let mut device = Device::new(tech(1), actor(1));
        device.sync(&mut server);
        let doc = device.docs.get_mut(&id).unwrap();
        for k in 0..3 {
            tech_action(
                doc,
                JobAction::AddNote {
                    text: format!("visit {i}, note {k}"),
                },
            );
        }
        office_note(&mut server, id, &format!("office note {i}"));
        let trips = device.sync(&mut server);
        let notes = read_job(&device.docs[&id], None).unwrap().notes;
        assert!(notes.contains(&format!("office note {i}")), "{notes}");
        if trips != 1 {
            extra.push((i, trips));
        }
    }
    assert!(extra.is_empty(), "second rounds: {extra:?}");
}

/// No room now: every document's changes are held back.
struct NoRoom;

impl fieldsync_core::sync::Pace for NoRoom {
    fn keep_going(&mut self) -> bool {
        true
    }
    fn admit(&mut self, _: &fieldsync_core::sync::Footprint) -> bool {
        false
    }
}

/// A document the server held back (no memory for it now) is asked for
/// again exactly: the device's next message carries the changes the server
/// lacks. When the ask carried a Bloom filter of the server's changes,
/// about one change in a hundred tested as held and was not sent (a CI
/// failure: the next round was answered 200 instead of 503).
#[test]
fn a_held_back_document_is_sent_again_in_the_next_round() {
    let mut ids = Ids::default();
    let mut missed = Vec::new();
    for i in 0..400 {
        let (mut server, jobs) = server_with_jobs(1, &mut ids);
        let id = jobs[0];
        let mut device = Device::new(tech(1), actor(1));
        device.sync(&mut server);
        tech_action(
            device.docs.get_mut(&id).unwrap(),
            JobAction::AddNote {
                text: format!("a long note, visit {i}"),
            },
        );
        let mut held: BTreeMap<DocId, HeldDoc> = server
            .docs
            .iter()
            .map(|(id, doc)| {
                let access = Access::Write;
                (
                    *id,
                    HeldDoc {
                        doc: doc.clone(),
                        access,
                    },
                )
            })
            .collect();
        let caller = Caller {
            principal: tech(1),
            device_actors: &[actor(1)],
            context: &Default::default(),
        };
        let request = device.session.start(&device.docs);
        let served = fieldsync_core::sync::serve_within(
            &request,
            &mut held,
            &caller,
            &Limits::default(),
            &mut NoRoom,
        );
        let reply = served.response.docs.iter().find(|d| d.id == id).unwrap();
        assert_eq!(reply.outcome, Outcome::NeedsAnotherRound);
        device.session.apply(&mut device.docs, &served.response);
        let again = device.session.next_round(&device.docs).expect("job again");
        let msg = again.docs.iter().find(|d| d.id == id).expect("the job");
        let msg = Message::decode(&msg.msg).unwrap();
        if msg.changes.is_empty() {
            missed.push(i);
        }
    }
    assert!(missed.is_empty(), "sent nothing again: {missed:?}");
}

/// The device side of the change cursor (docs/sync-protocol.md "The change
/// cursor"): with a cursor, unchanged documents are not named; a cursor is
/// adopted only from a response applied in full, kept across a restore of
/// the saved session, and forgotten on `resync`, after which the next round
/// names every document.
#[test]
fn the_device_keeps_its_cursor_only_while_it_holds_what_the_cursor_says() {
    use fieldsync_core::sync::{ByteBuf as Bytes, Cursor, held_digest};
    let mut ids = Ids::default();
    let (mut server, jobs) = server_with_jobs(3, &mut ids);
    let mut device = Device::new(tech(1), actor(1));
    device.session.use_cursor(true);
    assert_eq!(device.sync(&mut server), 1);
    assert_eq!(device.session.cursor(), None, "serve() gives no cursor");

    let given = Cursor::after(5, vec![7]).encode();
    let with_cursor = |docs| SyncResponse {
        v: PROTOCOL_VERSION,
        docs,
        cursor: Some(Bytes::from(given.clone())),
        resync: false,
    };
    device
        .session
        .apply(&mut device.docs, &with_cursor(Vec::new()));
    assert_eq!(device.session.cursor(), Some(&given[..]));

    // Idle: nothing named, the cursor and the held digest sent.
    let idle = device.session.start(&device.docs);
    assert!(idle.docs.is_empty() && idle.known.is_empty());
    assert_eq!(
        idle.cursor.as_ref().map(|c| c.to_vec()),
        Some(given.clone())
    );
    assert_eq!(
        idle.held.as_ref().map(|h| h.to_vec()),
        Some(held_digest(device.docs.keys()).to_vec())
    );
    assert!(idle.encode().len() < 60, "{} B", idle.encode().len());

    // One job changed: only it is named.
    let doc = device.docs.get_mut(&jobs[0]).unwrap();
    tech_action(doc, JobAction::StartTravel);
    let routine = device.session.start(&device.docs);
    assert_eq!(
        routine.docs.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![jobs[0]]
    );

    // The saved session brings the cursor back (saved with the heads).
    let restored = ClientSession::restore(actor(1), &device.session.save()).unwrap();
    assert_eq!(restored.cursor(), Some(&given[..]));

    // A reply that cannot be applied leaves a document unfinished: the
    // newer cursor is not taken.
    let newer = Cursor::after(9, Vec::new()).encode();
    let broken = SyncResponse {
        v: PROTOCOL_VERSION,
        docs: vec![fieldsync_core::sync::DocReply {
            id: jobs[1],
            outcome: Outcome::Accepted,
            msg: Some(Bytes::from(vec![0x42, 0xff])),
        }],
        cursor: Some(Bytes::from(newer.clone())),
        resync: false,
    };
    let report = device.session.apply(&mut device.docs, &broken);
    assert!(report.unfinished.contains(&jobs[1]));
    assert_eq!(device.session.cursor(), Some(&given[..]));

    // `resync`: the cursor goes, and the next round names every document.
    let resync = SyncResponse {
        v: PROTOCOL_VERSION,
        docs: Vec::new(),
        cursor: None,
        resync: true,
    };
    let report = device.session.apply(&mut device.docs, &resync);
    assert!(report.resync);
    assert_eq!(device.session.cursor(), None);
    let next = device
        .session
        .next_round(&device.docs)
        .expect("a round naming everything");
    let named: BTreeSet<DocId> = next.mentioned().collect();
    assert_eq!(named, device.docs.keys().copied().collect());
    assert!(next.cursor.is_none() && next.held.is_some());
    // That round is answered in full by a server that takes no cursor.
    let resp = server.handle(&device.who, &[actor(1)], &next.encode());
    let report = device.apply_response(&resp);
    assert!(report.rejected.is_empty(), "{report:?}");
    assert!(device.session.next_round(&device.docs).is_none());
}
