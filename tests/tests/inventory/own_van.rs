//! Stock only from your own van, over real `/v1/sync`: a technician's part
//! line naming another depot's van, written as a raw automerge change (not
//! through the library), is rejected `wrong_van` and no ledger moves; the
//! same line from their own van goes through and takes the stock.

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::sync::{Limits, Outcome, SyncResponse};
use fieldsync_core::{DocId, JobAction, JobId, LineId, LocationId, RejectCode, Role, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job};
use crate::setup::{self, movement, ok, on_hand};

backend_tests!(a_part_line_from_another_depots_van_is_rejected_and_no_ledger_moves);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// A raw part line of one valve from `van`, by the device's user.
fn raw_part_line(device: &mut Device, job: JobId, van: LocationId) {
    let by = device.user().to_string();
    let doc = device.docs.get_mut(&DocId::Job(job)).unwrap();
    let parts = doc.get(ROOT, "parts").unwrap().unwrap().1;
    let mut tx = doc.transaction();
    let p = tx
        .put_object(
            &parts,
            LineId::from_uuid(Uuid::new_v4()).to_string(),
            ObjType::Map,
        )
        .unwrap();
    tx.put(&p, "by", by).unwrap();
    tx.put(&p, "sku", "VALVE-22").unwrap();
    tx.put(&p, "quantity", 1).unwrap();
    tx.put_object(&p, "serials", ObjType::List).unwrap();
    tx.put(&p, "van", van.to_string()).unwrap();
    tx.put(&p, "voided", false).unwrap();
    tx.put(&p, "device_time", ScalarValue::Timestamp(now().0))
        .unwrap();
    tx.commit();
}

/// One sync request; the job's outcome.
async fn send(device: &mut Device, app: &TestApp, job: JobId) -> Outcome {
    let request = device.session.start(&device.docs);
    let res = device.post(app, request.encode()).await;
    assert_eq!(res.status(), 200);
    let response = SyncResponse::decode(&res.bytes().await.unwrap(), &Limits::default()).unwrap();
    device.session.apply(&mut device.docs, &response);
    response
        .docs
        .iter()
        .find(|d| d.id == DocId::Job(job))
        .expect("a reply for the job")
        .outcome
        .clone()
}

/// Both vans' stock and movements, as the ledger API shows them.
async fn ledgers(app: &TestApp, token: &str, vans: [LocationId; 2]) -> Vec<Value> {
    let mut out = Vec::new();
    for van in vans {
        for path in [
            format!("/v1/inventory/stock?location={van}"),
            format!("/v1/inventory/movements?location={van}&limit=1000"),
        ] {
            out.push(ok(app, Method::GET, token, &path, None).await);
        }
    }
    out
}

async fn a_part_line_from_another_depots_van_is_rejected_and_no_ledger_moves(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    // A second depot whose van, another technician's, holds 3 valves.
    let tech2 = app.user("tech2", Role::Technician).await;
    let south = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South depot"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .parse::<LocationId>()
        .unwrap();
    let van2 = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "van", "name": "Van 2", "depot_id": south, "technician_id": tech2})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .parse::<LocationId>()
        .unwrap();
    for body in [
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "VALVE-22", "quantity": 5, "to": south}),
        json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 3, "from": south, "to": van2}),
    ] {
        let res = movement(&app, &d.admin, body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }

    app.user("dispatch", Role::Dispatcher).await;
    let dispatcher = app
        .login("dispatch", &crate::helpers::actor(212))
        .await
        .access_token;
    let job = job_id(&create_job(&app, &dispatcher, &new_job("Ana Lima", Some(d.tech))).await);
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    tech.act(job, JobAction::StartTravel, now());
    tech.act(job, JobAction::Arrive, now());
    assert!(tech.sync(&app).await.rejected().is_empty());
    let before = ledgers(&app, &d.admin, [d.van, van2]).await;

    // Valves from the other depot's van: refused with its own code.
    raw_part_line(&mut tech, job, van2);
    match send(&mut tech, &app, job).await {
        Outcome::Rejected { code, message, .. } => {
            assert_eq!(code, RejectCode::WrongVan, "{message}");
            assert!(message.contains("own van"), "{message}");
        }
        other => panic!("expected wrong_van, got {other:?}"),
    }
    assert_eq!(ledgers(&app, &d.admin, [d.van, van2]).await, before);
    let stored: Value = get_job(&app, &dispatcher, job).await.json().await.unwrap();
    assert_eq!(
        stored["job"]["parts"],
        json!([]),
        "nothing of it was stored"
    );
    assert_eq!(stored["job"]["status"], "on_site");

    // The same line from their own van (a fresh install: the first one still
    // holds the refused change) goes through and takes the stock.
    let mut again = Device::login(&app, "tech", Role::Technician, 2).await;
    again.sync(&app).await;
    raw_part_line(&mut again, job, d.van);
    assert_eq!(send(&mut again, &app, job).await, Outcome::Accepted);
    let stock = ok(
        &app,
        Method::GET,
        &d.admin,
        &format!("/v1/inventory/stock?location={}", d.van),
        None,
    )
    .await;
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 4 - 1);
    let stock2 = ok(
        &app,
        Method::GET,
        &d.admin,
        &format!("/v1/inventory/stock?location={van2}"),
        None,
    )
    .await;
    assert_eq!(
        on_hand(&stock2, van2, "VALVE-22"),
        3,
        "the other van is untouched"
    );
}
