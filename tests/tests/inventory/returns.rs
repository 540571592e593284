//! Issue 16 item 1, returns (RMA): a technician opens a return offline on
//! a visit for the pump they fitted; the server numbers it and the number
//! reaches the device on the next sync; the depot receives the unit for
//! refurbishment; the ledger and the serial's trail agree. A device that
//! writes an RMA number itself is refused. The office opens one too.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use fieldsync_core::job::ReturnCondition;
use fieldsync_core::validate::RejectCode;
use fieldsync_core::{DocId, JobAction, JobId, LineId, Quantity, Role, Timestamp};
use fieldsync_server::documents::{self, Derive, Edit};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{create_job, job_id, new_job, price_book, put_price_book};
use crate::setup::{self, ok, on_hand, send};

backend_tests!(
    an_offline_return_is_numbered_received_for_refurbishment_and_traced,
    the_office_opens_a_return_and_bad_input_is_refused,
    a_number_not_written_back_reaches_the_job_in_housekeeping
);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

async fn an_offline_return_is_numbered_received_for_refurbishment_and_traced(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    assert_eq!(
        put_price_book(&app, &d.admin, &price_book()).await.status(),
        200
    );
    app.user("dispatch", Role::Dispatcher).await;
    let dispatcher = app
        .login("dispatch", &crate::helpers::actor(213))
        .await
        .access_token;
    let job = job_id(&create_job(&app, &dispatcher, &new_job("Ana Lima", Some(d.tech))).await);

    // 1. On site the technician fits pump SN-1 from the van and syncs.
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    tech.act(job, JobAction::StartTravel, now());
    tech.act(job, JobAction::Arrive, now());
    tech.act(
        job,
        JobAction::UsePart {
            line: LineId::from_uuid(Uuid::new_v4()),
            sku: "PUMP-7".parse().unwrap(),
            quantity: Quantity::new(1).unwrap(),
            serials: vec!["SN-1".into()],
            van: d.van,
        },
        now(),
    );
    tech.sync(&app).await;

    // 2. Offline, the pump turns out faulty: a return, shown by its
    // provisional reference until the server numbers it.
    let rid = LineId::from_uuid(Uuid::new_v4());
    tech.act(
        job,
        JobAction::OpenReturn {
            id: rid,
            sku: "PUMP-7".parse().unwrap(),
            serial: "SN-1".into(),
            reason: "Leaks at the shaft seal".into(),
            condition: ReturnCondition::Faulty,
        },
        now(),
    );
    let offline = tech.job(job).returns;
    assert_eq!(offline.len(), 1);
    assert_eq!(offline[0].rma_number, None);
    assert!(
        offline[0].reference().starts_with("PRE-"),
        "{}",
        offline[0].reference()
    );

    // 3. Sync: the server numbers it; by the next sync the device has the number.
    let synced = tech.sync(&app).await;
    assert!(synced.reports.iter().all(|r| r.rejected.is_empty()));
    tech.sync(&app).await;
    let on_device = tech.job(job).returns;
    let number = on_device[0]
        .rma_number
        .clone()
        .expect("the RMA number reached the device");
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(number, format!("RMA-{year}-000001"));
    assert_eq!(on_device[0].reference(), number);

    // 4. The shipping queue (the depot's manager) lists it to receive; the
    // technician sees their own job's return; the API agrees on the number.
    let queue = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/returns?status=open",
        None,
    )
    .await;
    let listed = &queue["returns"][0];
    assert_eq!(queue["returns"].as_array().unwrap().len(), 1);
    assert_eq!(listed["id"], rid.to_string());
    assert_eq!(listed["rma_number"], number);
    assert_eq!(listed["depot_id"], d.depot.to_string());
    assert_eq!(listed["condition"], "faulty");
    assert_eq!(listed["job_id"], job.to_string());
    let own = ok(
        &app,
        Method::GET,
        &tech.token,
        &format!("/v1/returns/{rid}"),
        None,
    )
    .await;
    assert_eq!(own["rma_number"], number);

    // 5. The depot receives it for refurbishment.
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    let depot_pumps = on_hand(&stock, d.depot, "PUMP-7");
    let movement = Uuid::new_v4();
    let receipt = json!({"movement_id": movement, "depot_id": d.depot, "disposition": "refurbish"});
    let path = format!("/v1/returns/{rid}/receive");
    let received = ok(&app, Method::POST, &d.manager, &path, Some(receipt.clone())).await;
    assert_eq!(received["status"], "received");
    assert_eq!(received["disposition"], "refurbish");
    assert_eq!(received["movement_id"], movement.to_string());
    // Idempotent: the same receipt again changes nothing; other details are a conflict.
    let again = ok(&app, Method::POST, &d.manager, &path, Some(receipt)).await;
    assert_eq!(again, received);
    let other =
        json!({"movement_id": Uuid::new_v4(), "depot_id": d.depot, "disposition": "restock"});
    let res = send(&app, Method::POST, &d.manager, &path, Some(other)).await;
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    // Not open any more.
    let queue = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/returns?status=open",
        None,
    )
    .await;
    assert_eq!(queue["returns"].as_array().unwrap().len(), 0);

    // 6. The ledger: a `return` movement of SN-1 into the depot, and the
    // refurbish unit held off the sellable balance (an adjustment out),
    // so the depot's available pumps are what they were.
    let moves = ok(
        &app,
        Method::GET,
        &d.manager,
        &format!("/v1/inventory/movements?location={}&limit=1000", d.depot),
        None,
    )
    .await;
    let moves = moves.as_array().expect("movements");
    let ret = moves
        .iter()
        .find(|m| m["id"] == movement.to_string())
        .expect("the return movement");
    assert_eq!(ret["kind"], "return");
    assert_eq!(ret["to"], d.depot.to_string());
    assert_eq!(ret["serials"], json!(["SN-1"]));
    assert!(ret["note"].as_str().unwrap().contains(&number));
    let held: Vec<&Value> = moves
        .iter()
        .filter(|m| m["kind"] == "adjustment" && m["from"] == d.depot.to_string())
        .collect();
    assert_eq!(held.len(), 1, "{moves:?}");
    assert_eq!(held[0]["reason"], "damage");
    assert_eq!(held[0]["serials"], json!(["SN-1"]));
    assert!(held[0]["note"].as_str().unwrap().contains("refurbish"));
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "PUMP-7"), depot_pumps);

    // 7. The serial's trail: fitted, returned (the RMA number), received (refurbish).
    let trail = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/returns/trail?sku=PUMP-7&serial=SN-1",
        None,
    )
    .await;
    let events: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["fitted", "returned", "received"], "{trail}");
    assert_eq!(trail[0]["job_id"], job.to_string());
    assert_eq!(trail[0]["location_id"], d.van.to_string());
    assert_eq!(trail[1]["rma_number"], number);
    assert_eq!(trail[2]["rma_number"], number);
    assert_eq!(trail[2]["disposition"], "refurbish");
    assert_eq!(trail[2]["location_id"], d.depot.to_string());

    // 8. A forged change: the device writes an RMA number itself. The
    // server refuses the job and stores nothing of it.
    let doc = tech.docs.get_mut(&DocId::Job(job)).unwrap();
    let mut tx = doc.transaction();
    let (_, numbers) = tx.get(ROOT, "rma_numbers").unwrap().expect("rma_numbers");
    let forged = tx
        .put_object(
            &numbers,
            LineId::from_uuid(Uuid::new_v4()).to_string(),
            ObjType::Map,
        )
        .unwrap();
    tx.put(&forged, "number", "RMA-2026-999999").unwrap();
    tx.commit();
    let synced = tech.sync(&app).await;
    let rejection = synced
        .reports
        .iter()
        .find_map(|r| r.rejected.get(&DocId::Job(job)))
        .expect("the forged change is rejected");
    assert_eq!(rejection.code, RejectCode::Forbidden);
    assert!(
        rejection.message.contains("rma_numbers"),
        "{}",
        rejection.message
    );
    let all = ok(&app, Method::GET, &d.admin, "/v1/returns", None).await;
    assert!(!all.to_string().contains("RMA-2026-999999"));
}

async fn the_office_opens_a_return_and_bad_input_is_refused(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    app.user("dispatch", Role::Dispatcher).await;
    let dispatcher = app
        .login("dispatch", &crate::helpers::actor(214))
        .await
        .access_token;
    let id = Uuid::new_v4();
    let body = json!({"id": id, "sku": "VALVE-22", "serial": "V-100", "reason": "Wrong size",
        "condition": "unused", "depot_id": d.depot});
    let res = send(
        &app,
        Method::POST,
        &dispatcher,
        "/v1/returns",
        Some(body.clone()),
    )
    .await;
    assert_eq!(res.status(), 201);
    let opened: Value = res.json().await.unwrap();
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(opened["rma_number"], format!("RMA-{year}-000001"));
    assert_eq!(opened["status"], "open");
    // A retry answers the same return; the id with other content is a 409.
    let res = send(
        &app,
        Method::POST,
        &dispatcher,
        "/v1/returns",
        Some(body.clone()),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), opened);
    let mut other = body.clone();
    other["reason"] = json!("Another reason");
    let res = send(&app, Method::POST, &dispatcher, "/v1/returns", Some(other)).await;
    assert_eq!(res.status(), 409);
    // A second return gets the next number.
    let mut second = body.clone();
    second["id"] = json!(Uuid::new_v4());
    let second = ok(&app, Method::POST, &dispatcher, "/v1/returns", Some(second)).await;
    assert_eq!(second["rma_number"], format!("RMA-{year}-000002"));

    // Bad input: 4xx with a JSON error, nothing stored.
    for (field, value) in [
        ("condition", json!("melted")),
        ("serial", json!("  ")),
        ("reason", json!("")),
        ("depot_id", json!(d.van)),
        ("depot_id", json!(Uuid::new_v4())),
        ("sku", json!("not a sku!")),
        ("reason", json!("card 4111 1111 1111 1111")),
    ] {
        let mut bad = body.clone();
        bad["id"] = json!(Uuid::new_v4());
        bad[field] = value;
        let res = send(&app, Method::POST, &dispatcher, "/v1/returns", Some(bad)).await;
        assert!(res.status().is_client_error(), "{field}: {}", res.status());
        let err: Value = res.json().await.unwrap();
        assert!(err["error"]["message"].is_string(), "{field}: {err}");
    }
    let all = ok(&app, Method::GET, &dispatcher, "/v1/returns", None).await;
    assert_eq!(all["returns"].as_array().unwrap().len(), 2);

    // Scope: a technician may not open one, and sees none of the office's;
    // receiving at a van or an unknown return is refused.
    let tech = app
        .login("tech", &crate::helpers::actor(215))
        .await
        .access_token;
    let res = send(&app, Method::POST, &tech, "/v1/returns", Some(body.clone())).await;
    assert_eq!(res.status(), 403);
    let mine = ok(&app, Method::GET, &tech, "/v1/returns", None).await;
    assert_eq!(mine["returns"].as_array().unwrap().len(), 0);
    let res = send(&app, Method::GET, &tech, &format!("/v1/returns/{id}"), None).await;
    assert_eq!(res.status(), 404);
    let at_van =
        json!({"movement_id": Uuid::new_v4(), "depot_id": d.van, "disposition": "restock"});
    let res = send(
        &app,
        Method::POST,
        &d.manager,
        &format!("/v1/returns/{id}/receive"),
        Some(at_van),
    )
    .await;
    assert_eq!(res.status(), 400);
    let restock =
        json!({"movement_id": Uuid::new_v4(), "depot_id": d.depot, "disposition": "restock"});
    let res = send(
        &app,
        Method::POST,
        &d.manager,
        &format!("/v1/returns/{}/receive", Uuid::new_v4()),
        Some(restock.clone()),
    )
    .await;
    assert_eq!(res.status(), 404);
    // Restock puts the unit into the depot's sellable stock.
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    let before = on_hand(&stock, d.depot, "VALVE-22");
    let done = ok(
        &app,
        Method::POST,
        &d.manager,
        &format!("/v1/returns/{id}/receive"),
        Some(restock),
    )
    .await;
    assert_eq!(done["disposition"], "restock");
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), before + 1);
}

/// Commits the device's copy of a job into the store the way a sync does
/// (the projections run: the return is stored and numbered), but without
/// the write-back that follows a sync's commits: the state a failed or
/// interrupted write-back leaves.
async fn commit_without_write_back(app: &TestApp, job: JobId, device: &automerge::Automerge) {
    let state = &app.state;
    let book = documents::price_book(state.store.as_ref(), &state.docs)
        .await
        .unwrap();
    let derive = Derive {
        price_book: book.as_deref(),
        now: time::OffsetDateTime::now_utc(),
        projectors: &state.projectors,
    };
    documents::write(
        state.store.as_ref(),
        &state.docs,
        DocId::Job(job),
        &derive,
        |doc, _| {
            let before = doc.get_heads();
            doc.merge(&mut device.clone())?;
            Ok::<_, automerge::AutomergeError>(Edit {
                changes: doc.get_changes(&before),
                job: None,
            })
        },
    )
    .await
    .expect("commit the device's changes");
}

/// The keys of the job document's `rma_numbers` on the device.
fn numbers_on(tech: &Device, job: JobId) -> Vec<String> {
    let doc = tech.doc(job);
    let (_, numbers) = doc.get(ROOT, "rma_numbers").unwrap().expect("rma_numbers");
    doc.keys(&numbers).collect()
}

async fn a_number_not_written_back_reaches_the_job_in_housekeeping(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    assert_eq!(
        put_price_book(&app, &d.admin, &price_book()).await.status(),
        200
    );
    app.user("dispatch", Role::Dispatcher).await;
    let dispatcher = app
        .login("dispatch", &crate::helpers::actor(216))
        .await
        .access_token;
    let job = job_id(&create_job(&app, &dispatcher, &new_job("Ana Lima", Some(d.tech))).await);
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    tech.act(job, JobAction::StartTravel, now());
    tech.act(job, JobAction::Arrive, now());
    tech.sync(&app).await;

    // The office opens a return naming the job too: it lives in SQL only
    // and never goes into the job document.
    let office_id = Uuid::new_v4();
    let body = json!({"id": office_id, "sku": "VALVE-22", "serial": "V-9", "reason": "Wrong size",
        "condition": "unused", "depot_id": d.depot, "job_id": job});
    ok(&app, Method::POST, &dispatcher, "/v1/returns", Some(body)).await;

    // Offline, a return; its commit reaches the store but the write-back
    // after it does not happen.
    let rid = LineId::from_uuid(Uuid::new_v4());
    tech.act(
        job,
        JobAction::OpenReturn {
            id: rid,
            sku: "PUMP-7".parse().unwrap(),
            serial: "SN-4".into(),
            reason: "Noisy bearing".into(),
            condition: ReturnCondition::Faulty,
        },
        now(),
    );
    let device_doc = tech.doc(job).clone();
    commit_without_write_back(&app, job, &device_doc).await;
    let stored = ok(
        &app,
        Method::GET,
        &tech.token,
        &format!("/v1/returns/{rid}"),
        None,
    )
    .await;
    let number = stored["rma_number"].as_str().expect("numbered").to_owned();
    assert_eq!(
        app.store.jobs_with_pending_numbers(100).await.unwrap(),
        vec![job]
    );
    // Syncing alone brings nothing: the number is not in the job yet.
    tech.sync(&app).await;
    tech.sync(&app).await;
    assert_eq!(tech.job(job).returns[0].rma_number, None);
    assert!(numbers_on(&tech, job).is_empty());

    // A housekeeping round writes it; the device gets it on its next sync.
    fieldsync_server::app::housekeeping_round(&app.state).await;
    assert!(
        app.store
            .jobs_with_pending_numbers(100)
            .await
            .unwrap()
            .is_empty()
    );
    tech.sync(&app).await;
    let on_device = tech.job(job).returns;
    assert_eq!(on_device[0].rma_number.as_deref(), Some(number.as_str()));
    assert_eq!(on_device[0].reference(), number);
    // Only the visit's return is in the document, not the office's.
    assert_eq!(numbers_on(&tech, job), [rid.to_string()]);

    // Nothing is left pending: another round changes nothing in the document.
    let heads = documents::load(app.store.as_ref(), &app.state.docs, &DocId::Job(job))
        .await
        .unwrap()
        .expect("the job")
        .doc
        .get_heads();
    fieldsync_server::app::housekeeping_round(&app.state).await;
    let written = fieldsync_server::returns::service::write_back_pending(&app.state, 100)
        .await
        .unwrap();
    assert_eq!(written, 0);
    let after = documents::load(app.store.as_ref(), &app.state.docs, &DocId::Job(job))
        .await
        .unwrap()
        .expect("the job")
        .doc
        .get_heads();
    assert_eq!(after, heads);
}
