//! What a device may not do through sync or the jobs API, and what the
//! endpoint does with bytes that are not a sync batch.

use fieldsync_core::automerge::sync::{Have, Message, State, SyncDoc};
use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ActorId, Automerge, ROOT, ReadDoc};
use fieldsync_core::sync::{DocMessage, Limits, Outcome, SyncRequest, SyncResponse};
use fieldsync_core::{DocId, JobAction, JobId, RejectCode, Role, Timestamp};
use serde_bytes::ByteBuf;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{TestApp, assert_error, backend_tests, spawn_app, spawn_app_with};
use crate::office::{create_job, get_job, job_id, new_job, patch_json, post_json};
use crate::sync::office;

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// A raw edit of a job document, bypassing the app's validation.
fn tamper(
    doc: &mut Automerge,
    edit: impl FnOnce(&mut fieldsync_core::automerge::transaction::Transaction<'_>),
) {
    let mut tx = doc.transaction();
    edit(&mut tx);
    tx.commit();
}

fn map(doc: &Automerge, key: &str) -> fieldsync_core::automerge::ObjId {
    doc.get(ROOT, key).unwrap().unwrap().1
}

async fn outcomes(device: &Device, app: &TestApp, request: &SyncRequest) -> SyncResponse {
    let res = device.post(app, request.encode()).await;
    assert_eq!(res.status(), 200);
    SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap()
}

fn outcome_of(response: &SyncResponse, id: JobId) -> &Outcome {
    &response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(id))
        .expect("a reply for the job")
        .outcome
}

fn rejected_with(outcome: &Outcome, expected: RejectCode) {
    match outcome {
        Outcome::Rejected { code, .. } => assert_eq!(*code, expected, "{outcome:?}"),
        other => panic!("expected a {expected:?} rejection, got {other:?}"),
    }
}

async fn server_job(app: &TestApp, token: &str, id: JobId) -> Value {
    let res = get_job(app, token, id).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn forbidden_changes_are_rejected_per_document(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let t2 = app.user("tech2", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let b = job_id(&create_job(&app, &office.dispatcher, &new_job("Bia", Some(t1))).await);
    let c = job_id(&create_job(&app, &office.dispatcher, &new_job("Caio", Some(t1))).await);
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech1.sync(&app).await;

    // A: the customer's name. B: a legitimate note. C: the assignment.
    let doc = tech1.docs.get_mut(&DocId::Job(a)).unwrap();
    let customer = map(doc, "customer");
    tamper(doc, |tx| tx.put(&customer, "name", "Mallory").unwrap());
    tech1.act(
        b,
        JobAction::AddNote {
            text: "Parts ordered.".into(),
        },
        now(),
    );
    let doc = tech1.docs.get_mut(&DocId::Job(c)).unwrap();
    tamper(doc, |tx| {
        tx.put(ROOT, "technician", t2.to_string()).unwrap()
    });
    // The price book is read-only for everyone but the server.
    let book = tech1.docs.get_mut(&DocId::PriceBook).unwrap();
    tamper(book, |tx| tx.put(ROOT, "tax_rate_bps", 0).unwrap());

    let request = tech1.session.start(&tech1.docs);
    let response = outcomes(&tech1, &app, &request).await;
    rejected_with(outcome_of(&response, a), RejectCode::Forbidden);
    rejected_with(outcome_of(&response, c), RejectCode::Forbidden);
    assert_eq!(outcome_of(&response, b), &Outcome::Accepted);
    let book_reply = response
        .docs
        .iter()
        .find(|d| d.id == DocId::PriceBook)
        .unwrap();
    assert!(
        matches!(book_reply.outcome, Outcome::Rejected { .. }),
        "{book_reply:?}"
    );

    let on_server = server_job(&app, &office.dispatcher, a).await;
    assert_eq!(on_server["job"]["customer"]["name"], "Ana");
    let on_server = server_job(&app, &office.dispatcher, c).await;
    assert_eq!(on_server["job"]["technician"], t1.to_string());
    let on_server = server_job(&app, &office.dispatcher, b).await;
    assert!(
        on_server["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("Parts ordered.")
    );
    let book: Value = app
        .client
        .get(app.url("/v1/pricebook"))
        .bearer_auth(&office.dispatcher)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(book["tax_rate_bps"], 2000);
}

async fn a_technician_cannot_reach_another_technicians_job(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    app.user("tech2", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    let mut tech2 = Device::login(&app, "tech2", Role::Technician, 2).await;
    tech1.sync(&app).await;
    tech2.sync(&app).await;
    assert!(!tech2.holds(a));

    // By id through the API: the same 404 as a job that does not exist.
    assert_error(get_job(&app, &tech2.token, a).await, 404, "not_found").await;
    let res = patch_json(
        &app,
        &tech2.token,
        &format!("/v1/jobs/{a}"),
        &json!({"notes": "x"}),
    )
    .await;
    assert_error(res, 403, "forbidden").await;
    let res = post_json(
        &app,
        &tech1.token,
        &format!("/v1/jobs/{a}/cancel"),
        &json!({"reason": "x"}),
    )
    .await;
    assert_error(res, 403, "forbidden").await;

    // Through sync, asking for it by id as a peer with no knowledge: no content.
    let mut state = State::new();
    let hello = Automerge::new().generate_sync_message(&mut state).unwrap();
    let request = SyncRequest {
        v: fieldsync_core::sync::PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id: DocId::Job(a),
            msg: ByteBuf::from(hello.encode()),
        }],
        cursor: None,
        held: None,
    };
    let response = outcomes(&tech2, &app, &request).await;
    let reply = response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(a))
        .unwrap();
    if let Some(msg) = &reply.msg {
        let msg = Message::decode(msg).unwrap();
        assert_eq!(msg.changes.len(), 0, "no content of a foreign job");
    }
    assert!(
        !response
            .docs
            .iter()
            .any(|d| d.id == DocId::Job(a) && d.outcome == Outcome::Accepted)
    );

    // Writing to it with a leaked copy, its changes in the first message
    // (as a device that knew the server's heads would): rejected, not stored.
    let mut leaked = tech1.doc(a).fork().with_actor(ActorId::from([2; 16]));
    let known = leaked.get_heads();
    let notes = map(&leaked, "notes");
    tamper(&mut leaked, |tx| {
        tx.splice_text(&notes, 0, 0, "pwned ").unwrap();
    });
    let mut state = State::new();
    state.shared_heads = known.clone();
    state.their_heads = Some(known.clone());
    state.their_need = Some(Vec::new());
    state.their_have = Some(vec![Have {
        last_sync: known,
        bloom: Default::default(),
    }]);
    let msg = leaked.generate_sync_message(&mut state).unwrap();
    assert_eq!(msg.changes.len(), 1, "the tampered change travels");
    let request = SyncRequest {
        v: fieldsync_core::sync::PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id: DocId::Job(a),
            msg: ByteBuf::from(msg.encode()),
        }],
        cursor: None,
        held: None,
    };
    let response = outcomes(&tech2, &app, &request).await;
    rejected_with(outcome_of(&response, a), RejectCode::NotAssigned);
    let on_server = server_job(&app, &office.dispatcher, a).await;
    assert!(
        !on_server["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("pwned"),
        "{on_server}"
    );
}

async fn changes_by_a_foreign_actor_are_rejected(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech1.sync(&app).await;
    // An allowed edit, but made under another device's actor.
    let doc = tech1
        .docs
        .remove(&DocId::Job(a))
        .unwrap()
        .with_actor(ActorId::from([77; 16]));
    tech1.docs.insert(DocId::Job(a), doc);
    let mut job = fieldsync_core::JobDoc::from_trusted(tech1.docs.remove(&DocId::Job(a)).unwrap());
    job.apply(
        &JobAction::AddNote {
            text: "hello".into(),
        },
        tech1.who,
        now(),
    )
    .unwrap();
    tech1.docs.insert(DocId::Job(a), job.into_doc());
    let request = tech1.session.start(&tech1.docs);
    let response = outcomes(&tech1, &app, &request).await;
    rejected_with(outcome_of(&response, a), RejectCode::ForeignActor);
}

async fn a_revoked_device_cannot_sync(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech1.sync(&app).await;
    tech1.act(
        a,
        JobAction::AddNote {
            text: "from a stolen phone".into(),
        },
        now(),
    );
    let admin = app.login("admin", &crate::helpers::actor(202)).await;
    let res = post_json(
        &app,
        &admin.access_token,
        &format!("/v1/devices/{}/revoke", tech1.device_id),
        &json!({}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    let request = tech1.session.start(&tech1.docs);
    assert_error(
        tech1.post(&app, request.encode()).await,
        401,
        "unauthorized",
    )
    .await;
    let on_server = server_job(&app, &office.dispatcher, a).await;
    assert!(
        !on_server["job"]["notes"]
            .as_str()
            .unwrap()
            .contains("stolen")
    );
}

async fn a_repeated_request_changes_nothing(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await);
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech1.sync(&app).await;
    tech1.act(a, JobAction::StartTravel, now());
    tech1.act(
        a,
        JobAction::AddNote {
            text: "On my way".into(),
        },
        now(),
    );
    let body = tech1.session.start(&tech1.docs).encode();
    let first = tech1.post(&app, body.clone()).await;
    assert_eq!(first.status(), 200);
    let after_first = server_job(&app, &office.dispatcher, a).await;
    for _ in 0..3 {
        let again = tech1.post(&app, body.clone()).await;
        assert_eq!(again.status(), 200);
        let response =
            SyncResponse::decode(&again.bytes().await.unwrap(), &Limits::default()).unwrap();
        assert_eq!(outcome_of(&response, a), &Outcome::Accepted);
    }
    let after_all = server_job(&app, &office.dispatcher, a).await;
    assert_eq!(
        after_first["version"], after_all["version"],
        "duplicates stored nothing"
    );
    assert_eq!(after_first["job"], after_all["job"]);
    assert_eq!(after_all["job"]["status"], "travelling");
}

async fn bytes_that_are_not_a_batch_get_json_errors(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app_with(backend, |s| s.max_body_bytes = 64 * 1024).await;
    let _office = office(&app).await;
    app.user("tech1", Role::Technician).await;
    let tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    let res = tech1.post(&app, b"definitely not cbor".to_vec()).await;
    assert_error(res, 400, "bad_request").await;
    let res = tech1.post(&app, vec![0xA1; 200 * 1024]).await;
    // Refused unread, so the connection is not reused for the next request.
    assert_eq!(res.headers()["connection"], "close");
    assert_error(res, 413, "payload_too_large").await;
    // A well-framed batch whose document message is garbage: rejected per document.
    let request = SyncRequest {
        v: fieldsync_core::sync::PROTOCOL_VERSION,
        known: Vec::new(),
        docs: vec![DocMessage {
            id: DocId::PriceBook,
            msg: ByteBuf::from(vec![0x42, 0, 1, 2, 3]),
        }],
        cursor: None,
        held: None,
    };
    let response = outcomes(&tech1, &app, &request).await;
    let reply = response
        .docs
        .iter()
        .find(|d| d.id == DocId::PriceBook)
        .unwrap();
    assert!(
        matches!(
            reply.outcome,
            Outcome::Rejected {
                code: RejectCode::Malformed,
                ..
            }
        ),
        "{reply:?}"
    );
    // No token at all.
    let res = app
        .client
        .post(app.url("/v1/sync"))
        .body(request.encode())
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
}

backend_tests!(
    forbidden_changes_are_rejected_per_document,
    a_technician_cannot_reach_another_technicians_job,
    changes_by_a_foreign_actor_are_rejected,
    a_revoked_device_cannot_sync,
    a_repeated_request_changes_nothing,
    bytes_that_are_not_a_batch_get_json_errors,
);
