//! The rules the device library checks, enforced by the server for any
//! client (issue 13, item 3): each sent as a raw automerge change over real
//! `/v1/sync`, never through the library's actions. A required checklist
//! item blocks completion; a serialized sku takes one serial per unit; skus
//! and labour rates must be in the price book the job bills with. Nothing
//! refused is stored, and the corrected edits are accepted.
//!
//! Then the technician's edits of item 4 through the library and sync: a
//! labour entry corrected, one voided (kept, not billed, frozen even to a
//! raw change), a part line's quantity set.

use fieldsync_core::automerge::transaction::{Transactable, Transaction};
use fieldsync_core::automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::sync::{Limits, Outcome, SyncResponse};
use fieldsync_core::{DocId, JobAction, JobId, LineId, LocationId, RejectCode, Role, Timestamp};
use serde_json::Value;
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job};
use crate::sync::{office, van_for};

backend_tests!(
    the_server_enforces_the_devices_rules_on_raw_changes,
    labour_corrected_and_voided_and_a_part_quantity_reach_the_office
);

pub(crate) fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn line() -> String {
    LineId::from_uuid(Uuid::new_v4()).to_string()
}

pub(crate) fn root(tx: &Transaction<'_>, key: &str) -> ObjId {
    tx.get(ROOT, key).unwrap().unwrap().1
}

/// One raw edit: what a client that is not our library writes.
pub(crate) type Edit = Box<dyn Fn(&mut Transaction<'_>, &str, LocationId)>;

fn part(sku: &'static str, quantity: i64, serials: &'static [&'static str]) -> Edit {
    Box::new(move |tx, by, van| {
        let parts = root(tx, "parts");
        let p = tx.put_object(&parts, line(), ObjType::Map).unwrap();
        tx.put(&p, "by", by).unwrap();
        tx.put(&p, "sku", sku).unwrap();
        tx.put(&p, "quantity", quantity).unwrap();
        let list = tx.put_object(&p, "serials", ObjType::List).unwrap();
        for (i, s) in serials.iter().enumerate() {
            tx.insert(&list, i, *s).unwrap();
        }
        tx.put(&p, "van", van.to_string()).unwrap();
        tx.put(&p, "voided", false).unwrap();
        tx.put(&p, "device_time", ScalarValue::Timestamp(0))
            .unwrap();
    })
}

fn labour(rate: &'static str) -> Edit {
    Box::new(move |tx, by, _| {
        let labour = root(tx, "labour");
        let e = tx.put_object(&labour, line(), ObjType::Map).unwrap();
        tx.put(&e, "by", by).unwrap();
        tx.put(&e, "minutes", 40).unwrap();
        tx.put(&e, "rate", rate).unwrap();
        tx.put(&e, "description", "").unwrap();
        tx.put(&e, "device_time", ScalarValue::Timestamp(0))
            .unwrap();
    })
}

fn answer_all(tx: &mut Transaction<'_>, by: &str) {
    let checklist = root(tx, "checklist");
    let answers = root(tx, "answers");
    for item in tx.keys(&checklist).collect::<Vec<_>>() {
        let a = tx.put_object(&answers, item, ObjType::Map).unwrap();
        tx.put(&a, "value", "1.5 bar").unwrap();
        tx.put(&a, "by", by).unwrap();
        tx.put(&a, "device_time", ScalarValue::Timestamp(0))
            .unwrap();
    }
}

pub(crate) fn complete(tx: &mut Transaction<'_>, by: &str) {
    tx.put(ROOT, "status", "completed").unwrap();
    let history = root(tx, "status_history");
    let at = tx.length(&history);
    let e = tx.insert_object(&history, at, ObjType::Map).unwrap();
    tx.put(&e, "from", "on_site").unwrap();
    tx.put(&e, "to", "completed").unwrap();
    tx.put(&e, "by", by).unwrap();
    tx.put(&e, "role", "technician").unwrap();
    tx.put(&e, "device_time", ScalarValue::Timestamp(0))
        .unwrap();
}

/// Makes one raw change per job on `device` and sends them all in one sync
/// request; the outcome per job.
pub(crate) async fn send(
    app: &TestApp,
    device: &mut Device,
    van: LocationId,
    edits: &[(JobId, &Edit)],
) -> Vec<Outcome> {
    let by = device.user().to_string();
    for (job, edit) in edits {
        let doc = device.docs.get_mut(&DocId::Job(*job)).unwrap();
        let mut tx = doc.transaction();
        edit(&mut tx, &by, van);
        tx.commit();
    }
    let request = device.session.start(&device.docs);
    let res = device.post(app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    edits
        .iter()
        .map(|(job, _)| {
            response
                .docs
                .iter()
                .find(|d| d.id == DocId::Job(*job))
                .unwrap()
                .outcome
                .clone()
        })
        .collect()
}

pub(crate) async fn view(app: &TestApp, token: &str, job: JobId) -> Value {
    let res = get_job(app, token, job).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn the_server_enforces_the_devices_rules_on_raw_changes(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;
    let van = van_for(&app, t).await;
    let mut jobs = Vec::new();
    for i in 0..4 {
        let mut body = new_job(&format!("Customer {i}"), Some(t));
        body["checklist"][0]["required"] = true.into();
        jobs.push(job_id(&create_job(&app, &office.dispatcher, &body).await));
    }
    let [unanswered, serials, sku, rate] = jobs[..] else {
        unreachable!()
    };

    // On site with work and a signature, through the library.
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    for job in &jobs {
        tech.act(*job, JobAction::StartTravel, now());
        tech.act(*job, JobAction::Arrive, now());
    }
    tech.act(
        unanswered,
        JobAction::AddLabour {
            entry: LineId::from_uuid(Uuid::new_v4()),
            minutes: 30,
            rate: "standard".into(),
            description: String::new(),
        },
        now(),
    );
    tech.act(
        unanswered,
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
        now(),
    );
    assert!(tech.sync(&app).await.rejected().is_empty());
    let mut before = Vec::new();
    for job in &jobs {
        before.push(view(&app, &office.dispatcher, *job).await["job"].clone());
    }

    // Each rule broken by a raw change, all in one request.
    let complete_unanswered: Edit = Box::new(|tx, by, _| complete(tx, by));
    let unserialized = part("PUMP-7", 2, &[]);
    let unknown_sku = part("GHOST-1", 1, &[]);
    let unknown_rate = labour("weekend");
    let outcomes = send(
        &app,
        &mut tech,
        van,
        &[
            (unanswered, &complete_unanswered),
            (serials, &unserialized),
            (sku, &unknown_sku),
            (rate, &unknown_rate),
        ],
    )
    .await;
    let expected = [
        (
            RejectCode::Incomplete,
            &["required checklist item", "1 unanswered"][..],
        ),
        (RejectCode::Serials, &["serialized", "0 for 2"]),
        (
            RejectCode::NotInPriceBook,
            &["GHOST-1", "price book", "version 1"],
        ),
        (
            RejectCode::NotInPriceBook,
            &["labour rate", "price book", "version 1"],
        ),
    ];
    for (outcome, (code, words)) in outcomes.iter().zip(expected) {
        let Outcome::Rejected {
            code: got, message, ..
        } = outcome
        else {
            panic!("expected {code:?}, got {outcome:?}");
        };
        assert_eq!(*got, code, "{message}");
        for w in words {
            assert!(message.contains(w), "{message:?} should say {w:?}");
        }
    }
    // Nothing of it was stored.
    for (job, before) in jobs.iter().zip(&before) {
        let after = view(&app, &office.dispatcher, *job).await;
        assert_eq!(&after["job"], before, "job {job} changed");
        assert_eq!(after["job"]["status"], "on_site");
    }

    // The same edits made right, from a fresh install of the same technician.
    let mut fixed = Device::login(&app, "tech", Role::Technician, 2).await;
    assert!(fixed.sync(&app).await.rejected().is_empty());
    let answer_then_complete: Edit = Box::new(|tx, by, _| {
        answer_all(tx, by);
        complete(tx, by);
    });
    let serialized = part("PUMP-7", 2, &["P-1", "P-2"]);
    let known_sku = part("VALVE-22", 1, &[]);
    let known_rate = labour("standard");
    let outcomes = send(
        &app,
        &mut fixed,
        van,
        &[
            (unanswered, &answer_then_complete),
            (serials, &serialized),
            (sku, &known_sku),
            (rate, &known_rate),
        ],
    )
    .await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Accepted),
        "{outcomes:?}"
    );
    let done = view(&app, &office.dispatcher, unanswered).await;
    assert_eq!(done["job"]["status"], "completed");
    let pump = view(&app, &office.dispatcher, serials).await;
    assert_eq!(
        pump["job"]["parts"][0]["serials"],
        serde_json::json!(["P-1", "P-2"])
    );
    let valve = view(&app, &office.dispatcher, sku).await;
    assert_eq!(valve["job"]["parts"][0]["sku"], "VALVE-22");
    // Priced, not billed at zero with a warning.
    assert_eq!(valve["billing"]["warnings"], serde_json::json!([]));
    let labour = view(&app, &office.dispatcher, rate).await;
    assert_eq!(labour["job"]["labour"][0]["rate"], "standard");
    assert_eq!(labour["billing"]["warnings"], serde_json::json!([]));
}

async fn labour_corrected_and_voided_and_a_part_quantity_reach_the_office(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;
    let van = van_for(&app, t).await;
    let id = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana Lima", Some(t))).await);
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    let (typo, twice, valve) = (
        LineId::from_uuid(Uuid::new_v4()),
        LineId::from_uuid(Uuid::new_v4()),
        LineId::from_uuid(Uuid::new_v4()),
    );
    tech.act(id, JobAction::StartTravel, now());
    tech.act(id, JobAction::Arrive, now());
    for (entry, minutes) in [(typo, 600), (twice, 30)] {
        tech.act(
            id,
            JobAction::AddLabour {
                entry,
                minutes,
                rate: "standard".into(),
                description: "Bled radiators".into(),
            },
            now(),
        );
    }
    tech.act(
        id,
        JobAction::UsePart {
            line: valve,
            sku: "VALVE-22".parse().unwrap(),
            quantity: fieldsync_core::Quantity::new(1).unwrap(),
            serials: vec![],
            van,
        },
        now(),
    );
    assert!(tech.sync(&app).await.rejected().is_empty());

    // Offline: 600 minutes was 60, the second entry a duplicate, two valves used.
    tech.act(
        id,
        JobAction::CorrectLabourEntry {
            entry: typo,
            minutes: 60,
            rate: "standard".into(),
            description: "Bled radiators".into(),
        },
        now(),
    );
    tech.act(id, JobAction::VoidLabourEntry { entry: twice }, now());
    tech.act(
        id,
        JobAction::SetPartQuantity {
            line: valve,
            quantity: fieldsync_core::Quantity::new(2).unwrap(),
        },
        now(),
    );
    let synced = tech.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    let seen = view(&app, &office.dispatcher, id).await;
    let labour = seen["job"]["labour"].as_array().unwrap();
    assert_eq!(labour.len(), 2, "voided, never deleted");
    let entry = |line: LineId| {
        labour
            .iter()
            .find(|l| l["id"] == line.to_string())
            .unwrap()
            .clone()
    };
    assert_eq!(entry(typo)["minutes"], 60);
    assert_eq!(entry(typo)["voided"], false);
    assert_eq!(entry(twice)["voided"], true);
    assert_eq!(seen["job"]["parts"][0]["quantity"], 2);
    // Billed: one labour line of 60 minutes at 60.00/h, two valves at 12.50.
    let lines = seen["billing"]["lines"].as_array().unwrap();
    let billed: Vec<(&str, u64, i64)> = lines
        .iter()
        .filter(|l| l["kind"] != "callout")
        .map(|l| {
            (
                l["kind"].as_str().unwrap(),
                l["quantity"].as_u64().unwrap(),
                l["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(billed, [("labour", 60, 6000), ("part", 2, 2500)]);

    // The voided entry is frozen, even to a raw change.
    let unvoid: Edit = Box::new(move |tx, _, _| {
        let labour = root(tx, "labour");
        let e = tx.get(&labour, twice.to_string()).unwrap().unwrap().1;
        tx.put(&e, "voided", false).unwrap();
    });
    let outcomes = send(&app, &mut tech, van, &[(id, &unvoid)]).await;
    let Outcome::Rejected { code, message, .. } = &outcomes[0] else {
        panic!("un-voiding must be refused: {outcomes:?}");
    };
    assert_eq!(*code, RejectCode::Forbidden, "{message}");
    assert!(message.contains("voided labour entry"), "{message}");
    let after = view(&app, &office.dispatcher, id).await;
    assert_eq!(after["job"]["labour"], seen["job"]["labour"]);
}
