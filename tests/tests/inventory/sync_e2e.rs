//! A technician uses parts offline on two jobs, syncs, then edits one
//! quantity and voids one line offline and syncs again; the van's ledger, the
//! van stock document on the device and the discrepancy list follow, and a
//! replay of the same sync requests changes nothing.

use fieldsync_core::sync::{Limits, SyncResponse};
use fieldsync_core::vanstock::read_van_stock;
use fieldsync_core::{DocId, JobAction, LineId, Quantity, Role, Timestamp};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::device::{Device, MAX_ROUNDS};
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{create_job, job_id, new_job, price_book, put_price_book};
use crate::setup::{self, ok, on_hand};

backend_tests!(offline_parts_reach_the_ledger_the_van_document_and_the_discrepancies);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// A full sync that also returns every request body sent (for the replay).
async fn sync_recording(device: &mut Device, app: &TestApp) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    let mut request = Some(device.session.start(&device.docs));
    while let Some(req) = request.take() {
        assert!(bodies.len() < MAX_ROUNDS, "sync did not settle");
        let body = req.encode();
        bodies.push(body.clone());
        let res = device.post(app, body).await;
        assert_eq!(res.status(), 200);
        let bytes = res.bytes().await.unwrap();
        let response = SyncResponse::decode(&bytes, &Limits::default()).unwrap();
        let report = device.session.apply(&mut device.docs, &response);
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        request = device.session.next_round(&device.docs);
    }
    bodies
}

async fn ledger(app: &TestApp, token: &str, van: fieldsync_core::LocationId) -> (Value, Value) {
    let stock = ok(
        app,
        Method::GET,
        token,
        &format!("/v1/inventory/stock?location={van}"),
        None,
    )
    .await;
    let moves = ok(
        app,
        Method::GET,
        token,
        &format!("/v1/inventory/movements?location={van}&limit=1000"),
        None,
    )
    .await;
    (stock, moves)
}

async fn offline_parts_reach_the_ledger_the_van_document_and_the_discrepancies(
    backend: TestBackend,
) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    assert_eq!(
        put_price_book(&app, &d.admin, &price_book()).await.status(),
        200
    );
    app.user("dispatch", Role::Dispatcher).await;
    let dispatcher = app
        .login("dispatch", &crate::helpers::actor(212))
        .await
        .access_token;
    let a = job_id(&create_job(&app, &dispatcher, &new_job("Ana Lima", Some(d.tech))).await);
    let b = job_id(&create_job(&app, &dispatcher, &new_job("Bruno Reis", Some(d.tech))).await);

    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    assert!(tech.holds(a) && tech.holds(b));
    let van_doc = DocId::VanStock(d.van);
    let stock = read_van_stock(&tech.docs[&van_doc], None).unwrap();
    assert_eq!(stock.items[&"VALVE-22".parse().unwrap()].quantity, 4);
    assert_eq!(
        stock.items[&"PUMP-7".parse().unwrap()].serials,
        vec!["SN-1"]
    );

    // Offline: job A takes 3 valves and pump SN-1; job B 2 valves on one
    // line, 1 on another, and pump SN-2 (which the ledger has in the depot).
    let (a1, b1, b2) = (
        LineId::from_uuid(Uuid::new_v4()),
        LineId::from_uuid(Uuid::new_v4()),
        LineId::from_uuid(Uuid::new_v4()),
    );
    let use_part = |line, sku: &str, q, serials: Vec<&str>| JobAction::UsePart {
        line,
        sku: sku.parse().unwrap(),
        quantity: Quantity::new(q).unwrap(),
        serials: serials.into_iter().map(str::to_owned).collect(),
        van: d.van,
    };
    for id in [a, b] {
        tech.act(id, JobAction::StartTravel, now());
        tech.act(id, JobAction::Arrive, now());
    }
    tech.act(a, use_part(a1, "VALVE-22", 3, vec![]), now());
    tech.act(
        a,
        use_part(LineId::from_uuid(Uuid::new_v4()), "PUMP-7", 1, vec!["SN-1"]),
        now(),
    );
    tech.act(b, use_part(b1, "VALVE-22", 2, vec![]), now());
    tech.act(b, use_part(b2, "VALVE-22", 1, vec![]), now());
    tech.act(
        b,
        use_part(LineId::from_uuid(Uuid::new_v4()), "PUMP-7", 1, vec!["SN-2"]),
        now(),
    );
    tech.sync(&app).await;

    let (stock, _) = ledger(&app, &d.manager, d.van).await;
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 4 - 6);
    assert_eq!(on_hand(&stock, d.van, "PUMP-7"), 1 - 2);

    // Offline again: B's first line was 1 valve, not 2; its second line is voided.
    tech.act(
        b,
        JobAction::SetPartQuantity {
            line: b1,
            quantity: Quantity::new(1).unwrap(),
        },
        now(),
    );
    tech.act(b, JobAction::VoidPartLine { line: b2 }, now());
    let bodies = sync_recording(&mut tech, &app).await;
    // A routine sync brings the van document the ledger wrote after the last one.
    tech.sync(&app).await;

    let (stock, moves) = ledger(&app, &d.manager, d.van).await;
    assert_eq!(
        on_hand(&stock, d.van, "VALVE-22"),
        0,
        "4 loaded, 3 + 1 fitted"
    );
    assert_eq!(on_hand(&stock, d.van, "PUMP-7"), -1, "1 loaded, 2 fitted");
    let on_lines = |line: LineId| -> Vec<(Option<String>, i64)> {
        moves
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["line_id"] == line.to_string())
            .map(|m| {
                (
                    m["to"].as_str().map(str::to_owned),
                    m["quantity"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(on_lines(a1), vec![(None, 3)]);
    // Newest first: the correction put one valve back into the van.
    assert_eq!(on_lines(b1), vec![(Some(d.van.to_string()), 1), (None, 2)]);
    assert_eq!(on_lines(b2), vec![(Some(d.van.to_string()), 1), (None, 1)]);
    let count = moves.as_array().unwrap().len();

    // The device's van document agrees with the ledger, with nothing pending.
    let doc = read_van_stock(&tech.docs[&van_doc], None).unwrap();
    // A sku the van has none of is absent (0) in the document.
    assert_eq!(
        doc.items
            .get(&"VALVE-22".parse().unwrap())
            .map_or(0, |i| i.quantity),
        0
    );
    assert_eq!(doc.items[&"PUMP-7".parse().unwrap()].quantity, -1);
    assert!(
        doc.items[&"PUMP-7".parse().unwrap()].serials.is_empty(),
        "SN-1 is fitted"
    );

    // Discrepancies: van negative on pumps, below its valve reorder point,
    // SN-2 fitted from the van while the ledger had it in the depot.
    let list = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/inventory/discrepancies",
        None,
    )
    .await;
    let kinds: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["kind"].as_str().unwrap(), x["sku"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("negative_stock", "PUMP-7")), "{list}");
    assert!(
        kinds.contains(&("below_reorder_point", "VALVE-22")),
        "{list}"
    );
    assert!(
        kinds.contains(&("serial_from_wrong_van", "PUMP-7")),
        "{list}"
    );
    let wrong = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "serial_from_wrong_van")
        .unwrap();
    assert_eq!(wrong["serial"], "SN-2");
    assert_eq!(wrong["ledger_location"], d.depot.to_string());
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    // Replenishment: 5 valves from the depot (6 there) to the van.
    let sugg = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/inventory/replenishment",
        None,
    )
    .await;
    let s = &sugg.as_array().unwrap()[0];
    assert_eq!(
        (
            s["to"].as_str().unwrap(),
            s["from"].as_str().unwrap(),
            s["quantity"].as_i64().unwrap()
        ),
        (d.van.to_string().as_str(), d.depot.to_string().as_str(), 5)
    );

    // Replaying the second sync's requests byte for byte changes nothing.
    for body in bodies {
        assert_eq!(tech.post(&app, body).await.status(), 200);
    }
    let (stock2, moves2) = ledger(&app, &d.manager, d.van).await;
    assert_eq!(stock2, stock);
    assert_eq!(moves2.as_array().unwrap().len(), count);
    let list2 = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/inventory/discrepancies",
        None,
    )
    .await;
    assert_eq!(list2, list);
}
