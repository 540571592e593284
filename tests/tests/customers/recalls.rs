//! Product recalls end to end, over real HTTP and `/v1/sync`, on SQLite and
//! PostgreSQL (issue 15's recall test): the campaign quarantines a van's
//! affected serial; the technician's device, offline, refuses to fit it; a
//! forged change fitting it anyway is rejected by the server; a temporary
//! replacement with a committed date shows as pending on the campaign page,
//! and as overdue when the date passes (the server's clock is injected).
//! Also: the campaign finds the installed assets its ranges name, flags
//! the open job of one and opens a job for the other, and sending it again
//! changes nothing. And the console's campaign page in headless Chromium.

use std::sync::Arc;

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::job::Replacement;
use fieldsync_core::sync::{Limits, Outcome, SyncResponse};
use fieldsync_core::validate::{Context, TechnicianVan};
use fieldsync_core::vanstock::read_van_stock;
use fieldsync_core::{
    ActionError, DocId, JobAction, JobDoc, JobId, LineId, LocationId, Quantity, RejectCode, Role,
    Timestamp,
};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::job_id;
use crate::setup::{self, Depot, movement, ok, on_hand};
use crate::support::{call, customer, job_from_registry};

backend_tests!(a_recall_quarantines_refuses_and_tracks_its_remedies);

/// The campaign page in headless Chromium (one backend: the page reads
/// the same view as the API, which the test above runs on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_page_shows_pending_and_overdue_commitments_in_a_browser() {
    use crate::webdriver::{Browser, LAPTOP};
    let w = world(TestBackend::Sqlite).await;
    let due = time::OffsetDateTime::now_utc().date() + time::Duration::days(7);
    let mut tech = Device::login(&w.app, "tech", Role::Technician, 43).await;
    temporary_replacement(&mut tech, &w.app, w.d.van, w.flagged, due).await;

    let b = Browser::start(LAPTOP).await;
    b.console_login(&w.app.url(""), "admin", crate::helpers::PASSWORD)
        .await;
    // The campaign list links the campaign's page.
    b.goto(&w.app.url("/console/recalls")).await;
    b.click("table.campaigns a").await;
    let page = w.app.url(&format!("/console/recalls/{}", w.campaign));
    let mut at = Value::Null;
    for _ in 0..100 {
        at = b.eval("return location.href;").await;
        if at == json!(page) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(at, json!(page));
    assert_eq!(b.text("h1").await, "Recall of PUMP-7");
    assert_eq!(b.text("#affected").await, "2");
    assert_eq!(b.text("#pending").await, "1");
    assert_eq!(b.text("#overdue").await, "0");
    assert_eq!(b.text("tr[data-serial='SN-5'] td.state").await, "pending");
    assert_eq!(b.text("tr[data-serial='SN-4'] td.state").await, "awaiting");

    // A week and a day later the commitment is overdue.
    w.app.clock.advance(time::Duration::days(8));
    b.goto(&page).await;
    assert_eq!(b.text("#overdue").await, "1");
    assert_eq!(b.text("#pending").await, "0");
    assert_eq!(b.text("tr[data-serial='SN-5'] td.state").await, "overdue");
    assert_eq!(
        b.text("tr[data-serial='SN-5'] td:nth-child(5)").await,
        due.to_string()
    );
    let units = b.text("table.quarantined").await;
    assert!(units.contains("SN-1") && units.contains("Van 1"), "{units}");
    assert!(
        units.contains("SN-2") && units.contains("North depot"),
        "{units}"
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let bytes = b.screenshot(&dir.join("recall-campaign-page.png")).await;
    assert!(bytes > 1000);
    b.quit().await;

    // A technician's console session is refused the page.
    let b = Browser::start(LAPTOP).await;
    b.console_login(&w.app.url(""), "tech", crate::helpers::PASSWORD)
        .await;
    b.goto(&page).await;
    let body = b.text("body").await;
    assert!(body.contains("may not manage customers"), "{body}");
    assert!(!body.contains("SN-5"), "{body}");
    b.quit().await;
}

/// On the technician's device (synced first): travel, arrive, fit SN-7
/// from the van and record it as a temporary replacement of the recalled
/// pump, the permanent one committed for `due`; then sync.
async fn temporary_replacement(
    tech: &mut Device,
    app: &TestApp,
    van: LocationId,
    job: JobId,
    due: time::Date,
) {
    assert!(tech.sync(app).await.rejected().is_empty());
    tech.act(job, JobAction::StartTravel, now());
    tech.act(job, JobAction::Arrive, now());
    tech.act(job, fit(van, "SN-7"), now());
    tech.act(
        job,
        JobAction::RecordRecallRemedy {
            replacement: Replacement::Temporary,
            serials: vec!["SN-7".into()],
            committed_date: Some(due),
            service: Some("Annual service, free".into()),
        },
        now(),
    );
    assert!(tech.sync(app).await.rejected().is_empty());
}

/// A part line fitting one PUMP-7 of `serial` from `van`.
fn fit(van: LocationId, serial: &str) -> JobAction {
    JobAction::UsePart {
        line: LineId::from_uuid(Uuid::new_v4()),
        sku: "PUMP-7".parse().unwrap(),
        quantity: Quantity::new(1).unwrap(),
        serials: vec![serial.to_owned()],
        van,
    }
}

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// Adds an installed PUMP-7 of `serial` at the customer's first site.
async fn pump(app: &TestApp, token: &str, customer: &str, site: &str, serial: &str) -> String {
    ok(
        app,
        Method::POST,
        token,
        &format!("/v1/customers/{customer}/assets"),
        Some(json!({
            "site_id": site, "sku": "PUMP-7", "product": "Circulation pump",
            "serial": serial, "install_date": "2025-05-01", "warranty_end": "2027-05-01",
        })),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The campaign: pumps SN-1 to SN-5, to be replaced.
fn campaign(id: Uuid) -> Value {
    json!({
        "id": id,
        "sku": "PUMP-7",
        "ranges": [{"first": "SN-1", "last": "SN-5"}],
        "reason": "Seal may leak under pressure",
        "remedy": "replace",
        "compensation": "A free annual service",
    })
}

/// A raw part line fitting `serial` of PUMP-7 from `van`, written past the
/// device library's checks, as a modified app could.
fn raw_fit(device: &mut Device, job: JobId, van: LocationId, serial: &str) {
    let by = device.user().to_string();
    let doc = device.docs.get_mut(&DocId::Job(job)).unwrap();
    doc.set_actor(device.actor.clone());
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
    tx.put(&p, "sku", "PUMP-7").unwrap();
    tx.put(&p, "quantity", 1).unwrap();
    let list = tx.put_object(&p, "serials", ObjType::List).unwrap();
    tx.insert(&list, 0, serial).unwrap();
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

/// The van's PUMP-7 units and movements, as the ledger API shows them.
async fn van_ledger(app: &TestApp, d: &Depot) -> (i64, Vec<Value>) {
    let stock = ok(
        app,
        Method::GET,
        &d.admin,
        &format!("/v1/inventory/stock?location={}", d.van),
        None,
    )
    .await;
    let moves = ok(
        app,
        Method::GET,
        &d.admin,
        &format!("/v1/inventory/movements?location={}&limit=1000", d.van),
        None,
    )
    .await;
    (
        on_hand(&stock, d.van, "PUMP-7"),
        moves.as_array().unwrap().clone(),
    )
}

fn asset<'v>(page: &'v Value, serial: &str) -> &'v Value {
    page["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["serial"] == serial)
        .unwrap_or_else(|| panic!("{serial} is not on the page: {page}"))
}

/// A depot whose van holds pumps SN-1 (affected) and SN-7 (not), the depot
/// SN-2 (affected); customers with pumps SN-5 (an open job assigned to the
/// technician) and SN-4 (no job); a campaign over SN-1..SN-5.
struct World {
    app: TestApp,
    d: Depot,
    campaign: Uuid,
    flagged: JobId,
    sn5: String,
    sn4: String,
}

async fn world(backend: TestBackend) -> World {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    for body in [
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "PUMP-7", "quantity": 1, "to": d.depot, "serials": ["SN-7"]}),
        json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "PUMP-7", "quantity": 1, "from": d.depot, "to": d.van, "serials": ["SN-7"]}),
    ] {
        let res = movement(&app, &d.manager, body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    let depot = d.depot.to_string();
    let acme = customer(&app, &d.admin, &depot, "Acme Boilers", "BX-1", "2031-01-31").await;
    let zen = customer(&app, &d.admin, &depot, "Zen Bakery", "ZB-9", "2031-01-31").await;
    let sn5 = pump(&app, &d.admin, &acme.customer, &acme.site, "SN-5").await;
    let sn4 = pump(&app, &d.admin, &zen.customer, &zen.site, "SN-4").await;
    pump(&app, &d.admin, &zen.customer, &zen.site, "SN-9").await;
    let tech = d.tech.to_string();
    let flagged = job_id(
        &ok(
            &app,
            Method::POST,
            &d.admin,
            "/v1/jobs",
            Some(job_from_registry(json!({"asset_id": sn5}), Some(&tech))),
        )
        .await,
    );
    let id = Uuid::new_v4();
    let (status, page) = call(
        &app,
        Method::POST,
        &d.admin,
        "/v1/recalls",
        Some(campaign(id)),
    )
    .await;
    assert_eq!(status, 201, "{page}");
    World {
        app,
        d,
        campaign: id,
        flagged,
        sn5,
        sn4,
    }
}

async fn a_recall_quarantines_refuses_and_tracks_its_remedies(backend: TestBackend) {
    let World {
        app,
        d,
        campaign: id,
        flagged,
        sn5,
        sn4,
    } = world(backend).await;
    let page_path = format!("/v1/recalls/{id}");
    let page = ok(&app, Method::GET, &d.admin, &page_path, None).await;

    // 1. The campaign found the two installed pumps its range names (not
    //    SN-9): SN-5's open job is flagged, SN-4 got a job of its own.
    assert_eq!(page["counts"]["affected"], 2, "{page}");
    assert_eq!(page["counts"]["awaiting"], 2);
    assert_eq!(asset(&page, "SN-5")["asset_id"], sn5.as_str());
    assert_eq!(asset(&page, "SN-5")["job_id"], flagged.to_string());
    assert_eq!(asset(&page, "SN-5")["opened"], false);
    assert_eq!(asset(&page, "SN-4")["asset_id"], sn4.as_str());
    assert_eq!(asset(&page, "SN-4")["opened"], true);
    let opened: JobId = asset(&page, "SN-4")["job_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let opened_job = ok(
        &app,
        Method::GET,
        &d.admin,
        &format!("/v1/jobs/{opened}"),
        None,
    )
    .await;
    assert_eq!(opened_job["job"]["recall"]["campaign"], id.to_string());
    assert_eq!(opened_job["job"]["registry"]["asset"], sn4.as_str());
    assert_eq!(opened_job["job"]["status"], "scheduled");

    // 2. It quarantined the van's SN-1 and the depot's SN-2, not SN-7: a
    //    `quarantine` movement out of each location's available stock.
    let mut quarantined: Vec<(String, String)> = page["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["serial"].as_str().unwrap().to_owned(),
                u["location_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    quarantined.sort();
    assert_eq!(
        quarantined,
        [
            ("SN-1".to_owned(), d.van.to_string()),
            ("SN-2".to_owned(), d.depot.to_string())
        ]
    );
    let (on_van, moves) = van_ledger(&app, &d).await;
    assert_eq!(on_van, 1, "SN-1 is no longer available, SN-7 is");
    let quarantines: Vec<&Value> = moves.iter().filter(|m| m["kind"] == "quarantine").collect();
    assert_eq!(quarantines.len(), 1, "{moves:?}");
    assert_eq!(quarantines[0]["serials"], json!(["SN-1"]));

    // 3. Sending the campaign again changes nothing; other content under
    //    its id is a conflict.
    let (status, again) = call(
        &app,
        Method::POST,
        &d.admin,
        "/v1/recalls",
        Some(campaign(id)),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["counts"], page["counts"]);
    assert_eq!(again["assets"], page["assets"]);
    assert_eq!(van_ledger(&app, &d).await, (on_van, moves.clone()));
    let mut other = campaign(id);
    other["remedy"] = json!("inspect");
    let (status, body) = call(&app, Method::POST, &d.admin, "/v1/recalls", Some(other)).await;
    assert_eq!(status, 409, "{body}");

    // 4. The technician's device syncs: the job shows the recall, the van
    //    document lists SN-1 as quarantined and not on board.
    let mut tech = Device::login(&app, "tech", Role::Technician, 41).await;
    assert!(tech.sync(&app).await.rejected().is_empty());
    let recall = tech.job(flagged).recall.expect("the job shows the recall");
    assert_eq!(recall.campaign, id);
    assert_eq!(recall.reason, "Seal may leak under pressure");
    assert_eq!(
        recall.compensation.as_deref(),
        Some("A free annual service")
    );
    let van_doc = tech
        .docs
        .get(&DocId::VanStock(d.van))
        .expect("the van's stock");
    let stock = read_van_stock(van_doc, None).unwrap();
    let pumps = &stock.items[&"PUMP-7".parse().unwrap()];
    assert_eq!(pumps.quarantined, ["SN-1"]);
    assert_eq!(pumps.serials, ["SN-7"]);

    // 5. Offline, on site, the device refuses to fit SN-1: the library's
    //    check from the van document (what mobile-ffi's `use_part` runs).
    tech.act(flagged, JobAction::StartTravel, now());
    tech.act(flagged, JobAction::Arrive, now());
    let device_ctx = Context::default()
        .with_technician_van(TechnicianVan::Assigned(d.van))
        .with_recalled(Arc::new(stock.recalled()));
    let mut offline =
        JobDoc::from_trusted(tech.doc(flagged).clone().with_actor(tech.actor.clone()));
    let heads = offline.doc().get_heads();
    match offline.apply_in(&fit(d.van, "SN-1"), tech.who, now(), &device_ctx) {
        Err(ActionError::Rejected(r)) => {
            assert_eq!(r.code, RejectCode::Recalled, "{r}");
            assert!(
                r.message.contains("SN-1") && r.message.contains("recall"),
                "{r}"
            );
        }
        other => panic!("fitting a recalled serial was not refused: {other:?}"),
    }
    assert_eq!(offline.doc().get_heads(), heads, "nothing was kept");
    assert!(tech.sync(&app).await.rejected().is_empty());

    // 6. A forged change fitting SN-1 anyway is rejected by the server, and
    //    nothing of it is stored (the ledger does not move).
    let mut forger = Device::login(&app, "tech", Role::Technician, 42).await;
    forger.sync(&app).await;
    raw_fit(&mut forger, flagged, d.van, "SN-1");
    match send(&mut forger, &app, flagged).await {
        Outcome::Rejected { code, message, .. } => {
            assert_eq!(code, RejectCode::Recalled, "{message}");
        }
        other => panic!("expected recalled, got {other:?}"),
    }
    assert_eq!(van_ledger(&app, &d).await, (on_van, moves.clone()));
    let stored = ok(
        &app,
        Method::GET,
        &d.admin,
        &format!("/v1/jobs/{flagged}"),
        None,
    )
    .await;
    assert_eq!(
        stored["job"]["parts"],
        json!([]),
        "nothing of it was stored"
    );

    // 7. The technician fits SN-7 as a temporary replacement, committing
    //    the permanent one for a week from now, and gives the service.
    let today = time::OffsetDateTime::now_utc().date();
    let due = today + time::Duration::days(7);
    let mut device_fit =
        JobDoc::from_trusted(tech.doc(flagged).clone().with_actor(tech.actor.clone()));
    device_fit
        .apply_in(&fit(d.van, "SN-7"), tech.who, now(), &device_ctx)
        .expect("an unaffected unit fits");
    tech.docs.insert(DocId::Job(flagged), device_fit.into_doc());
    tech.act(
        flagged,
        JobAction::RecordRecallRemedy {
            replacement: Replacement::Temporary,
            serials: vec!["SN-7".into()],
            committed_date: Some(due),
            service: Some("Annual service, free".into()),
        },
        now(),
    );
    assert!(tech.sync(&app).await.rejected().is_empty());
    let page = ok(&app, Method::GET, &d.admin, &page_path, None).await;
    assert_eq!(page["counts"]["pending"], 1, "{page}");
    assert_eq!(page["counts"]["overdue"], 0);
    assert_eq!(page["counts"]["awaiting"], 1);
    let sn5_row = asset(&page, "SN-5");
    assert_eq!(sn5_row["state"], "pending");
    assert_eq!(sn5_row["replacement"], "temporary");
    assert_eq!(sn5_row["committed_date"], due.to_string());
    assert_eq!(van_ledger(&app, &d).await.0, 0, "SN-7 left the van");
    // The asset's history lists the recall and where its remedy stands.
    let single = ok(&app, Method::GET, &d.admin, "/v1/assets/SN-5", None).await;
    let recalls = single["history"]["recalls"].as_array().unwrap();
    assert_eq!(recalls.len(), 1, "{single}");
    assert_eq!(recalls[0]["campaign_id"], id.to_string());
    assert_eq!(recalls[0]["job_id"], flagged.to_string());
    assert_eq!(recalls[0]["state"], "pending");
    assert_eq!(recalls[0]["committed_date"], due.to_string());

    // 8. The committed date passes (the server's clock moves 8 days): overdue.
    app.clock.advance(time::Duration::days(8));
    let page = ok(&app, Method::GET, &d.admin, &page_path, None).await;
    assert_eq!(page["counts"]["overdue"], 1, "{page}");
    assert_eq!(page["counts"]["pending"], 0);
    assert_eq!(asset(&page, "SN-5")["state"], "overdue");

    // 9. Who sees it: a technician may not; a manager of stock only neither.
    let (status, _) = call(&app, Method::GET, &tech.token, &page_path, None).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::POST,
        &d.manager,
        "/v1/recalls",
        Some(campaign(Uuid::new_v4())),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::GET,
        &d.admin,
        &format!("/v1/recalls/{}", Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, list) = call(&app, Method::GET, &d.admin, "/v1/recalls", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["campaigns"][0]["id"], id.to_string());
    let doc = ok(&app, Method::GET, &d.admin, "/openapi.json", None).await;
    for path in ["/v1/recalls", "/v1/recalls/{id}"] {
        assert!(doc["paths"][path].is_object(), "{path} not documented");
    }
}
