//! Batched sync: one round trip for routine syncs, a stock automerge peer,
//! and contained failure on bad input.

mod common;

use std::collections::BTreeMap;

use common::net::{Device, Server, outcomes};
use common::*;
use fieldsync_core::automerge::sync::{Message, State, SyncDoc};
use fieldsync_core::automerge::{Automerge, ReadDoc};
use fieldsync_core::job::JobAction;
use fieldsync_core::pricebook::write_price_book;
use fieldsync_core::sync::{
    Access, Caller, DocMessage, HeldDoc, Limits, Outcome, PROTOCOL_VERSION, SyncError, SyncRequest,
    SyncResponse, serve,
};
use fieldsync_core::{DocId, JobDoc, RejectCode, Timestamp};
use serde_bytes::ByteBuf;

/// A server with `n` jobs for technician 1 and a price book.
fn server_with_jobs(n: usize, ids: &mut Ids) -> Server {
    let mut server = Server::default();
    for _ in 0..n {
        let id = ids.job();
        server
            .docs
            .insert(DocId::Job(id), new_job(id, Some(user(1))).into_doc());
    }
    let mut book = Automerge::new().with_actor(actor(250));
    write_price_book(&mut book, &price_book(), Timestamp(T0)).unwrap();
    server.docs.insert(DocId::PriceBook, book);
    server
}

/// The office edits a job on the server, as the dispatch API does.
fn office_edit(server: &mut Server, id: DocId, text: &str) {
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

fn tech_edit(device: &mut Device, id: DocId, action: JobAction) {
    let doc = device.docs.remove(&id).unwrap();
    let mut job = JobDoc::from_trusted(doc);
    job.apply(&action, device.who, Timestamp(T0)).unwrap();
    device.docs.insert(id, job.into_doc());
}

#[test]
fn routine_sync_of_50_documents_is_one_round_trip() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(50, &mut ids);
    let mut device = Device::new(tech(1), actor(1));

    // 1. A new device gets everything it may hold in one round trip.
    assert_eq!(device.sync(&mut server), 1);
    assert_eq!(device.docs.len(), 51);

    // 2. Offline, the technician works every job; the office annotates every job.
    let jobs: Vec<DocId> = device
        .docs
        .keys()
        .copied()
        .filter(|d| matches!(d, DocId::Job(_)))
        .collect();
    for id in &jobs {
        tech_edit(&mut device, *id, JobAction::StartTravel);
        tech_edit(
            &mut device,
            *id,
            JobAction::AddNote {
                text: "on my way".into(),
            },
        );
        office_edit(&mut server, *id, "customer called");
    }

    // 3. The routine sync: exactly one request and one response.
    let before = server.requests;
    assert_eq!(device.sync(&mut server), 1);
    assert_eq!(server.requests - before, 1);
    assert!(device.rejections.is_empty(), "{:?}", device.rejections);

    // 4. Both sides hold the same documents, with both sides' edits.
    for id in &jobs {
        assert_eq!(device.docs[id].get_heads(), server.docs[id].get_heads());
        let job = fieldsync_core::job::read_job(&server.docs[id], None).unwrap();
        assert!(job.notes.contains("on my way") && job.notes.contains("customer called"));
        assert_eq!(job.status, fieldsync_core::Status::Travelling);
    }

    // 5. Nothing new: still one round trip, and nothing changes.
    assert_eq!(device.sync(&mut server), 1);
}

/// Wraps one automerge message in a batch of one document.
fn batch(id: DocId, msg: Message) -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id,
            msg: ByteBuf::from(msg.encode()),
        }],
        cursor: None,
        held: None,
    }
}

fn reply_for(resp: &SyncResponse, id: DocId) -> (Outcome, Option<Message>) {
    let r = resp
        .docs
        .iter()
        .find(|d| d.id == id)
        .expect("reply for doc");
    (
        r.outcome.clone(),
        r.msg.as_ref().map(|m| Message::decode(m).unwrap()),
    )
}

#[test]
fn a_stock_automerge_peer_syncs_through_the_server_function() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(1, &mut ids);
    let id = *server
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let peer_actor = actor(7);
    let who = tech(1);

    // The peer got the job earlier, then worked offline; it keeps no sync state.
    let mut job = JobDoc::from_trusted(server.docs[&id].fork().with_actor(peer_actor.clone()));
    job.apply(&JobAction::StartTravel, who, Timestamp(T0))
        .unwrap();
    job.apply(&JobAction::Arrive, who, Timestamp(T0)).unwrap();
    let mut peer = job.into_doc();
    office_edit(&mut server, id, "gate code 1234");

    // A plain automerge sync loop: fresh State, standard messages, nothing else.
    let mut state = State::new();
    let mut rounds = 0;
    while let Some(msg) = peer.generate_sync_message(&mut state) {
        rounds += 1;
        assert!(rounds <= 10, "no convergence");
        let mut held = BTreeMap::from([(
            id,
            HeldDoc {
                doc: server.docs[&id].clone(),
                access: Access::Write,
            },
        )]);
        let caller = Caller {
            principal: who,
            device_actors: std::slice::from_ref(&peer_actor),
            context: &Default::default(),
        };
        let served = serve(&batch(id, msg), &mut held, &caller, &Limits::default());
        server.docs.insert(id, held.remove(&id).unwrap().doc);
        let (outcome, reply) = reply_for(&served.response, id);
        assert!(
            matches!(outcome, Outcome::Accepted | Outcome::NeedsAnotherRound),
            "{outcome:?}"
        );
        peer.receive_sync_message(&mut state, reply.expect("a reply"))
            .unwrap();
    }
    assert!(
        rounds > 1,
        "the standard protocol needs more than one round here"
    );
    assert_eq!(peer.get_heads(), server.docs[&id].get_heads());
    let merged = fieldsync_core::job::read_job(&server.docs[&id], None).unwrap();
    assert_eq!(merged.status, fieldsync_core::Status::OnSite);
    assert!(merged.notes.contains("gate code"));

    // A stock peer with nothing at all also gets the document.
    let mut empty = Automerge::new();
    let mut state = State::new();
    for _ in 0..10 {
        let Some(msg) = empty.generate_sync_message(&mut state) else {
            break;
        };
        let mut held = BTreeMap::from([(
            id,
            HeldDoc {
                doc: server.docs[&id].clone(),
                access: Access::Write,
            },
        )]);
        let caller = Caller {
            principal: who,
            device_actors: &[],
            context: &Default::default(),
        };
        let served = serve(&batch(id, msg), &mut held, &caller, &Limits::default());
        let (_, reply) = reply_for(&served.response, id);
        empty
            .receive_sync_message(&mut state, reply.unwrap())
            .unwrap();
    }
    assert_eq!(empty.get_heads(), server.docs[&id].get_heads());
}

#[test]
fn bad_bytes_for_one_document_never_fail_the_batch() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(2, &mut ids);
    let jobs: Vec<DocId> = server
        .docs
        .keys()
        .copied()
        .filter(|d| matches!(d, DocId::Job(_)))
        .collect();
    let unknown = DocId::Job(ids.job());
    let mut good = Automerge::new();
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![
            DocMessage {
                id: jobs[0],
                msg: ByteBuf::from(vec![0x42, 0xff, 0xff, 0xff]),
            },
            DocMessage {
                id: unknown,
                msg: ByteBuf::from(
                    good.generate_sync_message(&mut State::new())
                        .unwrap()
                        .encode(),
                ),
            },
            DocMessage {
                id: jobs[1],
                msg: ByteBuf::from(
                    good.generate_sync_message(&mut State::new())
                        .unwrap()
                        .encode(),
                ),
            },
        ],
        cursor: None,
        held: None,
    };
    let resp = server.handle(&tech(1), &[actor(1)], &request.encode());
    let out = outcomes(&resp);
    assert!(
        matches!(
            &out[0],
            Outcome::Rejected {
                code: RejectCode::Malformed,
                ..
            }
        ),
        "{:?}",
        out[0]
    );
    assert_eq!(out[1], Outcome::NotFound);
    assert_eq!(out[2], Outcome::Accepted);
    good.set_actor(actor(3));
}

#[test]
fn malformed_and_oversized_batches_are_typed_errors() {
    let limits = Limits::default();
    assert!(matches!(
        SyncRequest::decode(b"\xff\x00garbage", &limits),
        Err(SyncError::Malformed(_))
    ));
    let small = Limits {
        max_request_bytes: 8,
        ..limits
    };
    let big = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![],
        cursor: None,
        held: None,
    }
    .encode()
    .repeat(10);
    assert!(matches!(
        SyncRequest::decode(&big, &small),
        Err(SyncError::TooLarge { .. })
    ));
    let future = SyncRequest {
        v: 99,
        known: Vec::new(),
        docs: vec![],
        cursor: None,
        held: None,
    }
    .encode();
    assert_eq!(
        SyncRequest::decode(&future, &limits),
        Err(SyncError::UnsupportedVersion(99))
    );
    let dup = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![
            DocMessage {
                id: DocId::PriceBook,
                msg: ByteBuf::new(),
            },
            DocMessage {
                id: DocId::PriceBook,
                msg: ByteBuf::new(),
            },
        ],
        cursor: None,
        held: None,
    }
    .encode();
    assert!(matches!(
        SyncRequest::decode(&dup, &limits),
        Err(SyncError::Malformed(_))
    ));
}

#[test]
fn an_oversized_message_is_rejected_for_its_document_only() {
    let mut ids = Ids::default();
    let server = server_with_jobs(1, &mut ids);
    let id = *server
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let limits = Limits {
        max_message_bytes: 64,
        ..Limits::default()
    };
    let mut held = BTreeMap::from([(
        id,
        HeldDoc {
            doc: server.docs[&id].clone(),
            access: Access::Write,
        },
    )]);
    let request = SyncRequest {
        v: PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id,
            msg: ByteBuf::from(vec![0x42; 65]),
        }],
        cursor: None,
        held: None,
    };
    let caller = Caller {
        principal: tech(1),
        device_actors: &[],
        context: &Default::default(),
    };
    let served = serve(&request, &mut held, &caller, &limits);
    assert!(
        matches!(&served.response.docs[0].outcome, Outcome::Rejected { code: RejectCode::Malformed, message, .. } if message.contains("exceeds"))
    );
    assert!(served.accepted.is_empty());
}

#[test]
fn changes_with_missing_dependencies_are_not_stored_until_complete() {
    let mut ids = Ids::default();
    let server = server_with_jobs(1, &mut ids);
    let id = *server
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let who = tech(1);
    let mut job = JobDoc::from_trusted(server.docs[&id].fork().with_actor(actor(1)));
    job.apply(&JobAction::StartTravel, who, Timestamp(T0))
        .unwrap();
    job.apply(&JobAction::Arrive, who, Timestamp(T0)).unwrap();
    let doc = job.into_doc();
    let base = server.docs[&id].get_heads();
    let changes = doc.get_changes(&base);
    assert_eq!(changes.len(), 2);

    // Send only the second change: its dependency is missing.
    let msg = Message {
        heads: doc.get_heads(),
        need: vec![],
        have: vec![],
        changes: vec![changes[1].raw_bytes().to_vec()].into(),
        flags: None,
        version: fieldsync_core::automerge::sync::MessageVersion::V1,
    };
    let mut held = BTreeMap::from([(
        id,
        HeldDoc {
            doc: server.docs[&id].clone(),
            access: Access::Write,
        },
    )]);
    let caller = Caller {
        principal: who,
        device_actors: &[actor(1)],
        context: &Default::default(),
    };
    let served = serve(&batch(id, msg), &mut held, &caller, &Limits::default());
    let (outcome, reply) = reply_for(&served.response, id);
    assert_eq!(outcome, Outcome::NeedsAnotherRound);
    assert!(served.accepted.is_empty(), "nothing stored with a gap");
    assert!(
        !reply.unwrap().need.is_empty(),
        "the server asks for what it lacks"
    );
    assert_eq!(held[&id].doc.get_heads(), base);
}

#[test]
fn server_authored_documents_are_read_only_and_actors_must_be_the_devices() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(1, &mut ids);
    let mut device = Device::new(tech(1), actor(1));
    device.sync(&mut server);

    // Tamper with the price book locally.
    let book = device.docs.get_mut(&DocId::PriceBook).unwrap();
    book.transact::<_, _, fieldsync_core::automerge::AutomergeError>(|tx| {
        use fieldsync_core::automerge::transaction::Transactable;
        tx.put(fieldsync_core::automerge::ROOT, "tax_rate_bps", 0)?;
        Ok(())
    })
    .unwrap();
    device.sync(&mut server);
    assert!(
        device
            .rejections
            .iter()
            .any(|(id, m)| *id == DocId::PriceBook && m.contains("server only"))
    );
    let tax = server.docs[&DocId::PriceBook]
        .get(fieldsync_core::automerge::ROOT, "tax_rate_bps")
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(tax.as_i64(), Some(2300));

    // A change made under another device's actor is refused.
    let id = *device
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let mut stolen = JobDoc::from_trusted(device.docs[&id].fork().with_actor(actor(66)));
    stolen
        .apply(&JobAction::StartTravel, tech(1), Timestamp(T0))
        .unwrap();
    device.docs.insert(id, stolen.into_doc());
    device.rejections.clear();
    device.sync(&mut server);
    assert!(
        device
            .rejections
            .iter()
            .any(|(d, m)| *d == id && m.contains("does not belong")),
        "{:?}",
        device.rejections
    );
    assert_eq!(
        common::net::status_of(&server.docs[&id]),
        fieldsync_core::Status::Scheduled
    );
}

#[test]
fn a_reassigned_job_is_dropped_after_its_offline_edits_merge() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(1, &mut ids);
    let id = *server
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let mut one = Device::new(tech(1), actor(1));
    let mut two = Device::new(tech(2), actor(2));
    one.sync(&mut server);
    two.sync(&mut server);
    assert!(!two.docs.contains_key(&id));

    // Technician 1 works offline; meanwhile the office reassigns to technician 2.
    tech_edit(&mut one, id, JobAction::StartTravel);
    tech_edit(
        &mut one,
        id,
        JobAction::AddNote {
            text: "parts ordered".into(),
        },
    );
    let doc = server.docs.remove(&id).unwrap();
    let mut job = JobDoc::from_trusted(doc.with_actor(actor(201)));
    job.apply(
        &JobAction::Reassign {
            technician: Some(user(2)),
        },
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    server.docs.insert(id, job.into_doc());

    one.sync(&mut server);
    assert!(
        !one.docs.contains_key(&id),
        "dropped from the old technician's device"
    );
    assert!(one.rejections.is_empty(), "{:?}", one.rejections);
    two.sync(&mut server);
    let merged = fieldsync_core::job::read_job(&two.docs[&id], None).unwrap();
    assert!(
        merged.notes.contains("parts ordered"),
        "offline edits merged"
    );
    assert_eq!(merged.technician, Some(user(2)));

    // After that, technician 1 cannot write it any more.
    let stale = server.docs[&id].fork().with_actor(actor(1));
    let mut stale = JobDoc::from_trusted(stale);
    assert!(
        stale
            .apply(&JobAction::Arrive, tech(1), Timestamp(T0))
            .is_err()
    );
}

/// `not_found` for a held document (a server restored from a backup older
/// than the job): the device keeps its copy and the work in it, the
/// exchange ends in one round, and once the server has the job again the
/// work reaches it (docs/sync-protocol.md, "Why `not_found` keeps the copy").
#[test]
fn a_job_the_server_does_not_know_is_kept_with_its_work_and_sent_later() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(1, &mut ids);
    let id = *server
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let mut device = Device::new(tech(1), actor(1));
    device.sync(&mut server);
    tech_edit(
        &mut device,
        id,
        JobAction::AddNote {
            text: "valve replaced".into(),
        },
    );
    let backup = server.docs.remove(&id).unwrap();

    let request = device.session.start(&device.docs);
    let resp = server.handle(&device.who, &[actor(1)], &request.encode());
    let report = device.apply_response(&resp);
    assert!(report.not_found.contains(&id), "{report:?}");
    let kept = fieldsync_core::job::read_job(&device.docs[&id], None).unwrap();
    assert!(kept.notes.contains("valve replaced"), "the work is kept");
    assert!(
        device.session.next_round(&device.docs).is_none(),
        "the exchange is over"
    );

    server.docs.insert(id, backup);
    device.sync(&mut server);
    let stored = fieldsync_core::job::read_job(&server.docs[&id], None).unwrap();
    assert!(
        stored.notes.contains("valve replaced"),
        "sent on a later sync"
    );
    assert!(device.rejections.is_empty(), "{:?}", device.rejections);
}

/// The answer to a sync from before a reassignment, arriving (late or
/// duplicated) after the device dropped the job, must not bring the job
/// back: it answers an exchange about heads the device no longer holds and
/// carries no document to adopt. The convergence property found this (an
/// empty copy of the job stayed on the device for good).
#[test]
fn a_late_answer_from_before_a_reassignment_does_not_bring_the_job_back() {
    let mut ids = Ids::default();
    let mut server = server_with_jobs(1, &mut ids);
    let id = *server
        .docs
        .keys()
        .find(|d| matches!(d, DocId::Job(_)))
        .unwrap();
    let mut one = Device::new(tech(1), actor(1));
    one.sync(&mut server);
    let held_at = one.docs[&id].get_heads();

    // A sync whose answer is held up on the way.
    let request = one.session.start(&one.docs).encode();
    let late = server.handle(&one.who, std::slice::from_ref(&one.actor), &request);
    assert_eq!(
        outcomes(&late)
            .iter()
            .filter(|o| **o == Outcome::Accepted)
            .count(),
        2,
        "the job and the price book"
    );

    // The office reassigns the job; the next sync drops it.
    let doc = server.docs.remove(&id).unwrap();
    let mut job = JobDoc::from_trusted(doc.with_actor(actor(201)));
    job.apply(
        &JobAction::Reassign {
            technician: Some(user(2)),
        },
        dispatcher(),
        Timestamp(T0),
    )
    .unwrap();
    server.docs.insert(id, job.into_doc());
    one.sync(&mut server);
    assert!(
        !one.docs.contains_key(&id),
        "dropped after the reassignment"
    );

    // Now the old answer arrives, twice.
    for _ in 0..2 {
        let report = one.apply_response(&late);
        assert!(!report.added.contains(&id), "{report:?}");
        assert!(!report.unfinished.contains(&id), "{report:?}");
        assert!(!one.docs.contains_key(&id), "the job came back");
        assert!(one.session.acked(&id).is_empty());
    }
    one.sync(&mut server);
    assert!(!one.docs.contains_key(&id));
    assert!(one.rejections.is_empty(), "{:?}", one.rejections);
    // The price book, answered in the same late response, is unharmed.
    assert_eq!(
        one.docs[&DocId::PriceBook].get_heads(),
        server.docs[&DocId::PriceBook].get_heads()
    );
    assert_ne!(held_at, server.docs[&id].get_heads());
}

/// Found by fuzzing (`apply_sync_response`): a server message that leaves
/// a job unreadable (a server bug, or a server that is not ours) used to
/// be adopted, and the device's whole job list stopped reading. It is now
/// refused for that document alone, which stays as it was.
#[test]
fn a_server_message_that_would_leave_a_job_unreadable_is_not_adopted() {
    use fieldsync_core::automerge::transaction::Transactable;
    use fieldsync_core::automerge::{AutomergeError, ROOT};
    use fieldsync_core::job::read_job;

    let mut ids = Ids::default();
    let mut server = server_with_jobs(2, &mut ids);
    let mut device = Device::new(tech(1), actor(1));
    device.sync(&mut server);
    let jobs: Vec<DocId> = device
        .docs
        .keys()
        .copied()
        .filter(|d| matches!(d, DocId::Job(_)))
        .collect();
    let (broken, fine) = (jobs[0], jobs[1]);
    let before = device.heads();

    // On the server, one job loses its customer; the other gets a note.
    server
        .docs
        .get_mut(&broken)
        .unwrap()
        .transact::<_, _, AutomergeError>(|tx| tx.delete(ROOT, "customer"))
        .unwrap();
    office_edit(&mut server, fine, "bring a ladder");

    // Scope comes from SQL on the real server, not from the document: both
    // jobs stay the technician's.
    let request = device.session.start(&device.docs);
    let mut held: BTreeMap<DocId, HeldDoc> = server
        .docs
        .iter()
        .map(|(id, doc)| {
            let access = if id.is_server_authored() {
                Access::ReadOnly
            } else {
                Access::Write
            };
            (
                *id,
                HeldDoc {
                    doc: doc.clone(),
                    access,
                },
            )
        })
        .collect();
    let actors = [device.actor.clone()];
    let caller = Caller {
        principal: device.who,
        device_actors: &actors,
        context: &Default::default(),
    };
    let served = serve(&request, &mut held, &caller, &Limits::default());
    let report = device.apply_response(&served.response.encode());
    assert!(report.unfinished.contains(&broken), "{report:?}");
    assert_eq!(device.heads()[&broken], before[&broken], "left as it was");
    assert!(read_job(&device.docs[&broken], None).is_ok());
    // The other job's news arrived.
    assert!(report.changed.contains(&fine));
    assert!(
        read_job(&device.docs[&fine], None)
            .unwrap()
            .notes
            .contains("bring a ladder")
    );

    // A document the device does not hold, whose message brings nothing
    // that reads as a job (here: no changes at all), is not added: like a
    // late answer about a dropped job, it is ignored (the server sends a
    // job the device does not hold whole), so no round waits on it.
    let stranger = DocId::Job(ids.job());
    let mut response = served.response.clone();
    response.docs = vec![fieldsync_core::sync::DocReply {
        id: stranger,
        outcome: Outcome::Accepted,
        msg: Some(ByteBuf::from(
            fieldsync_core::sync::whole_doc_message(&Automerge::new()).encode(),
        )),
    }];
    let report = device.apply_response(&response.encode());
    assert!(!report.added.contains(&stranger), "{report:?}");
    assert!(!report.unfinished.contains(&stranger), "{report:?}");
    assert!(!device.docs.contains_key(&stranger));
}
