//! The job schema on the server, over real `/v1/sync`: the schema's text
//! limits and the card-number refusal hold for every free-text field sent as
//! a raw change (from a technician's device and from an office client),
//! nothing refused is stored; and a job an older server stored (the v1
//! fixture) is upgraded when a device syncs it, then takes the new field.

use fieldsync_core::automerge::transaction::{Transactable, Transaction};
use fieldsync_core::automerge::{Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::job::{AttachmentKind, MAX_TEXT, schema};
use fieldsync_core::sync::{Limits, Outcome, SyncResponse};
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, LineId, Principal, RejectCode, Role, Timestamp,
};
use fieldsync_server::documents::{self, Derive};
use fieldsync_server::store::{DocCache, now_utc};
use serde_json::Value;
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job};
use crate::sync::office;

backend_tests!(
    every_free_text_refuses_card_numbers_and_long_text_through_sync,
    a_job_stored_by_the_v1_server_is_upgraded_on_sync_and_takes_attachments
);

const CARD: &str = "4111-1111-1111-1111";

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn line() -> String {
    LineId::from_uuid(Uuid::new_v4()).to_string()
}

type Edit = Box<dyn Fn(&mut Transaction<'_>, &str)>;

/// One raw edit per free-text field: `(the path the rejection names, edit)`,
/// each given the user id the line is written in.
fn technician_edits(card: &'static str) -> Vec<(&'static str, Edit)> {
    let map = |tx: &Transaction<'_>, key: &str| tx.get(ROOT, key).unwrap().unwrap().1;
    vec![
        (
            "/notes",
            Box::new(move |tx, _| {
                let n = map(tx, "notes");
                tx.splice_text(&n, 0, 0, &format!("paid {card}")).unwrap();
            }),
        ),
        (
            "/labour",
            Box::new(move |tx, by| {
                let c = map(tx, "labour");
                let e = tx.put_object(&c, line(), ObjType::Map).unwrap();
                tx.put(&e, "by", by).unwrap();
                tx.put(&e, "minutes", 30).unwrap();
                tx.put(&e, "rate", "standard").unwrap();
                tx.put(&e, "description", card).unwrap();
                tx.put(&e, "device_time", ScalarValue::Timestamp(0))
                    .unwrap();
            }),
        ),
        (
            "/payments",
            Box::new(move |tx, by| {
                let c = map(tx, "payments");
                let e = tx.put_object(&c, line(), ObjType::Map).unwrap();
                tx.put(&e, "by", by).unwrap();
                tx.put(&e, "method", "card").unwrap();
                tx.put(&e, "amount", 1000).unwrap();
                tx.put(&e, "reference", card).unwrap();
                tx.put(&e, "device_time", ScalarValue::Timestamp(0))
                    .unwrap();
            }),
        ),
        (
            "/answers",
            Box::new(move |tx, by| {
                let checklist = map(tx, "checklist");
                let item = tx.keys(&checklist).next().unwrap();
                let c = map(tx, "answers");
                let e = tx.put_object(&c, item, ObjType::Map).unwrap();
                tx.put(&e, "value", card).unwrap();
                tx.put(&e, "by", by).unwrap();
                tx.put(&e, "device_time", ScalarValue::Timestamp(0))
                    .unwrap();
            }),
        ),
        (
            "/signature",
            Box::new(move |tx, by| {
                let s = tx.put_object(ROOT, "signature", ObjType::Map).unwrap();
                tx.put(&s, "signer", card).unwrap();
                tx.put(&s, "image_sha256", "ab".repeat(32)).unwrap();
                tx.put(&s, "by", by).unwrap();
                tx.put(&s, "device_time", ScalarValue::Timestamp(0))
                    .unwrap();
            }),
        ),
        (
            "/unable_reason",
            Box::new(move |tx, _| tx.put(ROOT, "unable_reason", card).unwrap()),
        ),
        (
            "/attachments",
            Box::new(move |tx, by| {
                let c = map(tx, "attachments");
                let e = tx.put_object(&c, line(), ObjType::Map).unwrap();
                tx.put(&e, "by", by).unwrap();
                tx.put(&e, "sha256", "cd".repeat(32)).unwrap();
                tx.put(&e, "size", 1000).unwrap();
                tx.put(&e, "media_type", "image/jpeg").unwrap();
                tx.put(&e, "kind", "before").unwrap();
                tx.put(&e, "caption", card).unwrap();
                tx.put(&e, "taken_at", ScalarValue::Timestamp(0)).unwrap();
            }),
        ),
        (
            "/contacts",
            Box::new(move |tx, by| {
                let c = map(tx, "contacts");
                let e = tx.put_object(&c, line(), ObjType::Map).unwrap();
                tx.put(&e, "by", by).unwrap();
                tx.put(&e, "channel", "on_site").unwrap();
                tx.put(&e, "direction", "inbound").unwrap();
                tx.put(&e, "category", "billing").unwrap();
                tx.put(&e, "summary", card).unwrap();
                tx.put(&e, "device_time", ScalarValue::Timestamp(0))
                    .unwrap();
            }),
        ),
    ]
}

fn office_edits(card: &'static str) -> Vec<(&'static str, Edit)> {
    let map = |tx: &Transaction<'_>, key: &str| tx.get(ROOT, key).unwrap().unwrap().1;
    vec![
        (
            "/notes",
            Box::new(move |tx, _| {
                let n = map(tx, "notes");
                tx.splice_text(&n, 0, 0, card).unwrap();
            }),
        ),
        (
            "/customer/name",
            Box::new(move |tx, _| {
                let m = map(tx, "customer");
                tx.put(&m, "name", card).unwrap();
            }),
        ),
        (
            "/site/name",
            Box::new(move |tx, _| {
                let m = map(tx, "site");
                tx.put(&m, "name", card).unwrap();
            }),
        ),
        (
            "/site/address",
            Box::new(move |tx, _| {
                let m = map(tx, "site");
                tx.put(&m, "address", card).unwrap();
            }),
        ),
        (
            "/asset/product",
            Box::new(move |tx, _| {
                let m = map(tx, "asset");
                tx.put(&m, "product", card).unwrap();
            }),
        ),
        (
            "/problem",
            Box::new(move |tx, _| tx.put(ROOT, "problem", card).unwrap()),
        ),
        (
            "/cancel_reason",
            Box::new(move |tx, _| tx.put(ROOT, "cancel_reason", card).unwrap()),
        ),
        (
            "/checklist",
            Box::new(move |tx, _| {
                let c = map(tx, "checklist");
                let q = tx.put_object(&c, line(), ObjType::Map).unwrap();
                tx.put(&q, "question", card).unwrap();
                tx.put(&q, "required", false).unwrap();
            }),
        ),
    ]
}

/// Applies one raw edit per job on `device`, sends them all in one sync
/// request, and checks each job's own rejection names its field.
async fn all_refused(
    app: &TestApp,
    device: &mut Device,
    jobs: &[JobId],
    edits: &[(&'static str, Edit)],
    words: &str,
) {
    let by = device.user().to_string();
    for (job, (_, edit)) in jobs.iter().zip(edits) {
        let doc = device.docs.get_mut(&DocId::Job(*job)).unwrap();
        let mut tx = doc.transaction();
        edit(&mut tx, &by);
        tx.commit();
    }
    let request = device.session.start(&device.docs);
    let res = device.post(app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    for (job, (path, _)) in jobs.iter().zip(edits) {
        let reply = response
            .docs
            .iter()
            .find(|d| d.id == DocId::Job(*job))
            .unwrap();
        match &reply.outcome {
            Outcome::Rejected { code, message, .. } => {
                assert_eq!(*code, RejectCode::Schema, "{path}: {message}");
                assert!(message.contains(path), "{message:?} names {path}");
                assert!(message.contains(words), "{message:?}");
                assert!(!message.contains("4111"), "never the number: {message}");
            }
            other => panic!("{path}: expected a rejection, got {other:?}"),
        }
    }
}

async fn stored(app: &TestApp, token: &str, job: JobId) -> String {
    let res = get_job(app, token, job).await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn every_free_text_refuses_card_numbers_and_long_text_through_sync(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;
    let tech_edits = technician_edits(CARD);
    let office_edits = office_edits(CARD);
    let mut jobs = Vec::new();
    for i in 0..tech_edits.len() + office_edits.len() + 1 {
        let body = new_job(&format!("Customer {i}"), Some(t));
        jobs.push(job_id(&create_job(&app, &office.dispatcher, &body).await));
    }
    let (tech_jobs, rest) = jobs.split_at(tech_edits.len());
    let (office_jobs, long_job) = rest.split_at(office_edits.len());

    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    for job in tech_jobs.iter().chain(long_job) {
        tech.act(*job, JobAction::StartTravel, now());
        tech.act(*job, JobAction::Arrive, now());
    }
    assert!(tech.sync(&app).await.rejected().is_empty());
    let before: Vec<String> = {
        let mut v = Vec::new();
        for job in &jobs {
            v.push(stored(&app, &office.dispatcher, *job).await);
        }
        v
    };

    all_refused(&app, &mut tech, tech_jobs, &tech_edits, "card number").await;
    let mut desk = Device::login(&app, "dispatch", Role::Dispatcher, 2).await;
    // An office device holds the jobs it opens.
    for job in office_jobs {
        desk.open(&app, *job).await;
    }
    desk.sync(&app).await;
    all_refused(&app, &mut desk, office_jobs, &office_edits, "card number").await;

    // A note longer than one change may add (longer ones never get past the
    // sync bounds measured before decoding).
    let long: Vec<(&'static str, Edit)> = vec![(
        "/notes",
        Box::new(|tx, _| {
            let n = tx.get(ROOT, "notes").unwrap().unwrap().1;
            tx.splice_text(&n, 0, 0, &"x".repeat(MAX_TEXT + 2)).unwrap();
        }),
    )];
    all_refused(&app, &mut tech, long_job, &long, "adds at most").await;

    // Nothing of any of it was stored.
    for (job, before) in jobs.iter().zip(&before) {
        let after = stored(&app, &office.dispatcher, *job).await;
        assert_eq!(&after, before, "job {job} changed");
        // The whole number: "4111" alone turns up in random ids now and then.
        assert!(!after.contains(CARD) && !after.contains(&CARD.replace('-', "")));
    }
}

fn v1_fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../sync-core/tests/fixtures/v1/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn a_job_stored_by_the_v1_server_is_upgraded_on_sync_and_takes_attachments(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;

    // The v1 server's job, with the v1 office's edits, given to this
    // server's technician (the office's reassignment is a v1 edit too:
    // nothing in it upgrades the job).
    let mut doc = Automerge::load(&v1_fixture("created.automerge")).unwrap();
    doc.load_incremental(&v1_fixture("office.changes")).unwrap();
    let mut job = JobDoc::from_doc(doc.with_actor([0x5F; 16].into())).unwrap();
    let desk = Principal::new(
        fieldsync_core::UserId::from_bytes([0x22; 16]),
        Role::Dispatcher,
    );
    job.apply(
        &JobAction::Reassign {
            technician: Some(t),
        },
        desk,
        now(),
    )
    .unwrap();
    assert_eq!(schema::revision(job.doc()).unwrap(), 1);
    let id = job.read().unwrap().id;
    let cache = DocCache::new(1 << 20, Some(4));
    // What the server registers: the jobs list, consumption, feedback.
    let projectors = fieldsync_server::app::projectors(&Default::default());
    let derive = Derive {
        price_book: None,
        now: now_utc(),
        projectors: &projectors,
    };
    let v1 = job.doc().clone();
    documents::write(
        app.store.as_ref(),
        &cache,
        DocId::Job(id),
        &derive,
        |d, _| {
            *d = v1.clone();
            Ok::<_, std::convert::Infallible>(documents::Edit {
                changes: v1.get_changes(&[]),
                job: None,
            })
        },
    )
    .await
    .unwrap();
    // The office reads it as it is.
    let view: Value = get_job(&app, &office.dispatcher, id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["job"]["attachments"], serde_json::json!([]));
    assert_eq!(view["job"]["checklist"].as_array().unwrap().len(), 3);

    // The technician's first sync brings the job upgraded by the server.
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    assert!(tech.sync(&app).await.rejected().is_empty());
    assert_eq!(schema::revision(tech.doc(id)).unwrap(), schema::VERSION);
    assert!(matches!(
        tech.doc(id).get(ROOT, "attachments").unwrap(),
        Some((fieldsync_core::automerge::Value::Object(ObjType::Map), _))
    ));
    tech.act(id, JobAction::StartTravel, now());
    tech.act(id, JobAction::Arrive, now());
    tech.act(
        id,
        JobAction::AddAttachment {
            attachment: LineId::from_uuid(Uuid::new_v4()),
            sha256: "9f".repeat(32),
            size: 734_003,
            media_type: "image/jpeg".into(),
            kind: AttachmentKind::SerialPlate,
            caption: "Rating plate".into(),
        },
        now(),
    );
    let synced = tech.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    let view: Value = get_job(&app, &office.dispatcher, id)
        .await
        .json()
        .await
        .unwrap();
    let attachments = view["job"]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["kind"], "serial_plate");
    assert_eq!(attachments[0]["caption"], "Rating plate");
    assert_eq!(view["job"]["status"], "on_site");
    assert_eq!(view["job"]["checklist"].as_array().unwrap().len(), 3);
    // A second device syncing the job finds nothing more to upgrade.
    let mut again = Device::login(&app, "tech", Role::Technician, 2).await;
    assert!(again.sync(&app).await.rejected().is_empty());
    assert_eq!(again.doc(id).get_heads(), tech.doc(id).get_heads());
}
