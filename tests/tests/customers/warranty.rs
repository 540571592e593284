//! Issue 15 item 3 end to end, over real `/v1/sync` and HTTP on loopback,
//! on SQLite and PostgreSQL: a technician sells a warranty extension
//! offline on a job made from the registry, syncs twice (and the office
//! edits the completed job once more), and the asset's warranty end moves
//! once; the invoice carries the line and device and server bill the same
//! total. A forged raw change selling an unknown offer, or another
//! product's, is refused and stores nothing; the office sells one through
//! `POST /v1/jobs/{id}/extension`, with its rules and permission. Another
//! open job on the same asset follows the extension (API and device) and
//! bills its labour as covered from then on.

use std::sync::Arc;

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ObjType, ROOT, ScalarValue};
use fieldsync_core::billing::{LineKind, bill};
use fieldsync_core::job::PaymentMethod;
use fieldsync_core::pricebook::{PriceBook, read_price_book};
use fieldsync_core::validate::Context;
use fieldsync_core::{DocId, JobAction, JobDoc, JobId, LineId, Money, Role, Timestamp, warranty};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{TestApp, actor, backend_tests, spawn_app};
use crate::office::{job_id, price_book, put_price_book};
use crate::raw::sql_count;
use crate::setup::{self, ok};
use crate::support::{call, customer, job_from_registry};

backend_tests!(
    an_extension_sold_offline_extends_the_warranty_once,
    other_open_jobs_on_the_asset_bill_from_the_extended_end,
    forged_sales_are_refused_and_the_office_sells_by_the_rules
);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn line() -> LineId {
    LineId::from_uuid(uuid::Uuid::new_v4())
}

/// The tests' price book with two boiler offers and one for the pump.
fn book_with_offers() -> Value {
    let mut book = price_book();
    book["extensions"] = json!({
        "EXT-12": {"sku": "BOILER-X200", "name": "Boiler +1 year", "months": 12, "price": 6900,
                   "terms": "Parts and labour, one more year"},
        "EXT-24": {"sku": "BOILER-X200", "name": "Boiler +2 years", "months": 24, "price": 12900,
                   "terms": "Parts and labour, two more years"},
        "PUMP-EXT": {"sku": "PUMP-7", "name": "Pump +1 year", "months": 12, "price": 2500,
                     "terms": "Pump only"},
    });
    book
}

/// The price book as the device holds it.
fn device_book(phone: &Device) -> PriceBook {
    read_price_book(phone.docs.get(&DocId::PriceBook).expect("synced"), None).unwrap()
}

/// `action` on the device, validated with what it knows (its price book),
/// as the mobile library does.
fn act_knowing(phone: &mut Device, id: JobId, action: JobAction) {
    let ctx = Context::default().with_price_book(Arc::new(device_book(phone)));
    let doc = phone.docs.remove(&DocId::Job(id)).unwrap();
    let mut job = JobDoc::from_trusted(doc.with_actor(phone.actor.clone()));
    let result = job.apply_in(&action, phone.who, now(), &ctx);
    phone.docs.insert(DocId::Job(id), job.into_doc());
    result.unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
}

async fn job_view(app: &TestApp, token: &str, id: JobId) -> Value {
    let (status, view) = call(app, Method::GET, token, &format!("/v1/jobs/{id}"), None).await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn asset_view(app: &TestApp, token: &str, serial: &str) -> Value {
    let (status, view) = call(
        app,
        Method::GET,
        token,
        &format!("/v1/assets/{serial}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn an_extension_sold_offline_extends_the_warranty_once(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &book_with_offers()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(80)).await.access_token;
    let acme = customer(
        &app,
        &office,
        &d.depot.to_string(),
        "Acme Boilers",
        "BW-1",
        "2031-01-31",
    )
    .await;
    let tech = d.tech.to_string();
    let id = job_id(
        &ok(
            &app,
            Method::POST,
            &office,
            "/v1/jobs",
            Some(job_from_registry(
                json!({"asset_id": acme.asset}),
                Some(&tech),
            )),
        )
        .await,
    );

    let mut phone = Device::login(&app, "tech", Role::Technician, 81).await;
    assert!(phone.sync(&app).await.rejected().is_empty());

    // Offline from here. The job shows the asset's warranty end and the
    // offers for its product, priced from the price book the phone holds.
    let job = phone.job(id);
    assert_eq!(
        job.asset.warranty_end,
        Some(time::macros::date!(2031 - 01 - 31))
    );
    assert_eq!(
        job.registry.asset_sku.as_ref().map(|s| s.as_str()),
        Some("BOILER-X200")
    );
    let book = device_book(&phone);
    let today = time::OffsetDateTime::now_utc().date();
    let quotes = warranty::quotes(&job, &book, today).unwrap();
    let codes: Vec<&str> = quotes.iter().map(|q| q.code.as_str()).collect();
    assert_eq!(codes, ["EXT-12", "EXT-24"], "the pump's offer is not shown");
    assert_eq!(quotes[0].price_with_tax, Money(8280), "6900 + 20% tax");
    assert_eq!(
        quotes[0].warranty_end_after,
        Some(time::macros::date!(2032 - 01 - 31))
    );

    // The visit: travel, arrive, work, sell EXT-12, the customer signs and
    // pays the whole total shown on the phone, complete.
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: line(),
            minutes: 30,
            rate: "standard".into(),
            description: "Serviced the boiler".into(),
        },
    ] {
        act_knowing(&mut phone, id, action);
    }
    act_knowing(
        &mut phone,
        id,
        warranty::sale(&job, &book, "EXT-12").unwrap(),
    );
    let on_site = bill(&phone.job(id), &book).unwrap();
    let ext = on_site
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Extension)
        .expect("the extension is an invoice line");
    assert_eq!((ext.charged, ext.quantity), (Money(6900), 1));
    // Call-out 4500, labour under warranty (covered), extension 6900:
    // 11400 and 20% tax 2280.
    assert_eq!(on_site.total, Money(13680));
    for action in [
        JobAction::RecordPayment {
            payment: line(),
            method: PaymentMethod::Card,
            amount: on_site.total,
            reference: Some("TERM-7".into()),
        },
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "cd".repeat(32),
        },
        JobAction::Complete,
    ] {
        act_knowing(&mut phone, id, action);
    }
    let device_total = bill(&phone.job(id), &book).unwrap();
    assert_eq!(device_total.balance_due, Money(0));

    // First sync: the job completes on the server and the warranty moves.
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let server = job_view(&app, &office, id).await;
    assert_eq!(server["job"]["status"], "completed");
    assert_eq!(server["job"]["warranty_extension"]["offer"], "EXT-12");
    let billing = &server["billing"];
    assert_eq!(
        billing["total"],
        json!(device_total.total.0),
        "the same total"
    );
    assert_eq!(billing["balance_due"], 0);
    let lines = billing["lines"].as_array().unwrap();
    let ext: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "extension").collect();
    assert_eq!(ext.len(), 1, "{billing}");
    assert_eq!(ext[0]["charged"], 6900);
    assert_eq!(ext[0]["covered_by"], Value::Null);
    let after_first = asset_view(&app, &office, "BW-1").await;
    assert_eq!(after_first["warranty"]["end"], "2032-01-31");
    let history = after_first["history"]["warranty_extensions"]
        .as_array()
        .unwrap();
    assert_eq!(history.len(), 1, "{after_first}");
    assert_eq!(history[0]["job_id"], id.to_string());
    assert_eq!(history[0]["offer"], "EXT-12");
    assert_eq!(history[0]["previous_end"], "2031-01-31");
    assert_eq!(history[0]["new_end"], "2032-01-31");
    assert_eq!(history[0]["sold_by"], tech);

    // Second sync, with a note added after completion (a new commit of the
    // completed job), then an office edit of the notes (a commit by another
    // path): the warranty does not move again.
    act_knowing(
        &mut phone,
        id,
        JobAction::AddNote {
            text: "Customer happy".into(),
        },
    );
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let version = job_view(&app, &office, id).await["version"].clone();
    assert_ne!(version, server["version"], "the note was committed");
    let (status, edited) = call(
        &app,
        Method::PATCH,
        &office,
        &format!("/v1/jobs/{id}"),
        Some(json!({"notes": "Customer happy\nInvoice sent"})),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["billing"]["total"], json!(device_total.total.0));
    let after_second = asset_view(&app, &office, "BW-1").await;
    assert_eq!(after_second["warranty"]["end"], "2032-01-31", "moved once");
    assert_eq!(
        after_second["history"]["warranty_extensions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) FROM warranty_extensions").await,
        1
    );
    // The device, synced, bills what the server bills.
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(
        bill(&phone.job(id), &device_book(&phone)).unwrap().total,
        device_total.total
    );
}

/// The labour lines of an invoice as the API answers it.
fn labour(billing: &Value) -> Vec<&Value> {
    billing["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "labour")
        .collect()
}

async fn other_open_jobs_on_the_asset_bill_from_the_extended_end(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &book_with_offers()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(84)).await.access_token;
    // The warranty ended yesterday: today's visits pay for labour.
    let today = time::OffsetDateTime::now_utc().date();
    let ended = today.previous_day().unwrap();
    let ended_text = ended.to_string();
    let acme = customer(
        &app,
        &office,
        &d.depot.to_string(),
        "Acme Boilers",
        "BW-1",
        &ended_text,
    )
    .await;
    let tech = d.tech.to_string();
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let body = job_from_registry(json!({"asset_id": acme.asset}), Some(&tech));
        jobs.push(job_id(
            &ok(&app, Method::POST, &office, "/v1/jobs", Some(body)).await,
        ));
    }
    let (selling, other) = (jobs[0], jobs[1]);

    let mut phone = Device::login(&app, "tech", Role::Technician, 85).await;
    assert!(phone.sync(&app).await.rejected().is_empty());
    // The other visit first: on site, 30 minutes of labour, synced.
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: line(),
            minutes: 30,
            rate: "standard".into(),
            description: "Checked the flue".into(),
        },
    ] {
        act_knowing(&mut phone, other, action);
    }
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let before = job_view(&app, &office, other).await;
    assert_eq!(before["job"]["asset"]["warranty_end"], ended_text.as_str());
    let charged = labour(&before["billing"]);
    assert_eq!(charged.len(), 1, "{}", before["billing"]);
    assert_eq!(charged[0]["covered_by"], Value::Null, "the warranty ended");
    let labour_price = charged[0]["amount"].as_i64().unwrap();
    assert!(labour_price > 0);
    assert_eq!(charged[0]["charged"], labour_price);
    let book = device_book(&phone);
    assert_eq!(
        json!(bill(&phone.job(other), &book).unwrap().total.0),
        before["billing"]["total"],
        "device and server bill the same before"
    );

    // The selling visit, offline: works, sells a year, is paid, completes.
    let job = phone.job(selling);
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: line(),
            minutes: 15,
            rate: "standard".into(),
            description: "Serviced the boiler".into(),
        },
    ] {
        act_knowing(&mut phone, selling, action);
    }
    act_knowing(
        &mut phone,
        selling,
        warranty::sale(&job, &book, "EXT-12").unwrap(),
    );
    let due = bill(&phone.job(selling), &book).unwrap().total;
    for action in [
        JobAction::RecordPayment {
            payment: line(),
            method: PaymentMethod::Card,
            amount: due,
            reference: None,
        },
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "cd".repeat(32),
        },
        JobAction::Complete,
    ] {
        act_knowing(&mut phone, selling, action);
    }
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    // The asset's warranty restarted from today; the other open job shows
    // the new end right after that sync, and its labour is now covered.
    let asset = asset_view(&app, &office, "BW-1").await;
    let new_end = asset["warranty"]["end"].as_str().unwrap().to_owned();
    assert!(new_end > today.to_string(), "{asset}");
    let after = job_view(&app, &office, other).await;
    assert_eq!(after["job"]["asset"]["warranty_end"], new_end.as_str());
    let covered = labour(&after["billing"]);
    assert_eq!(covered.len(), 1, "{}", after["billing"]);
    assert_eq!(covered[0]["covered_by"], json!({"type": "warranty"}));
    assert_eq!(covered[0]["charged"], 0);
    assert_eq!(
        after["billing"]["total"].as_i64().unwrap(),
        before["billing"]["total"].as_i64().unwrap() - labour_price * 6 / 5,
        "the labour and its 20% tax are no longer charged"
    );
    // The completed job keeps the snapshot its visit was made with.
    let sold = job_view(&app, &office, selling).await;
    assert_eq!(sold["job"]["asset"]["warranty_end"], ended_text.as_str());

    // The technician's device gets the refresh on its next sync and bills
    // what the server bills.
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let on_phone = phone.job(other);
    assert_eq!(
        on_phone.asset.warranty_end.map(|d| d.to_string()),
        Some(new_end.clone())
    );
    let device_bill = bill(&on_phone, &device_book(&phone)).unwrap();
    let line = device_bill
        .lines
        .iter()
        .find(|l| l.kind == LineKind::Labour)
        .unwrap();
    assert_eq!(line.charged, Money(0));
    assert_eq!(json!(device_bill.total.0), after["billing"]["total"]);

    // A later commit of the completed job repeats the refresh: nothing to
    // write, so the other job's version stays.
    act_knowing(
        &mut phone,
        selling,
        JobAction::AddNote {
            text: "Extension explained".into(),
        },
    );
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(
        job_view(&app, &office, other).await["version"],
        after["version"]
    );
    assert_eq!(
        asset_view(&app, &office, "BW-1").await["warranty"]["end"],
        new_end.as_str()
    );
}

/// One raw change selling `offer` on the phone's copy of job `id`, past
/// the library's checks.
fn forge_sale(phone: &mut Device, id: JobId, offer: &str, months: i64, price: i64) {
    let doc = phone.docs.get_mut(&DocId::Job(id)).unwrap();
    doc.set_actor(phone.actor.clone());
    let mut tx = doc.transaction();
    let e = tx
        .put_object(ROOT, "warranty_extension", ObjType::Map)
        .unwrap();
    tx.put(&e, "offer", offer).unwrap();
    tx.put(&e, "months", months).unwrap();
    tx.put(&e, "price", price).unwrap();
    tx.put(&e, "by", phone.who.user.to_string()).unwrap();
    tx.put(&e, "device_time", ScalarValue::Timestamp(now().0))
        .unwrap();
    tx.commit();
}

async fn forged_sales_are_refused_and_the_office_sells_by_the_rules(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &book_with_offers()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(82)).await.access_token;
    let acme = customer(
        &app,
        &office,
        &d.depot.to_string(),
        "Acme Boilers",
        "BW-2",
        "2020-06-30",
    )
    .await;
    let tech = d.tech.to_string();
    let new_job = || job_from_registry(json!({"asset_id": acme.asset}), Some(&tech));
    let foreign = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(new_job())).await);
    let unknown = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(new_job())).await);
    let cheap = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(new_job())).await);
    let plain = job_id(
        &ok(
            &app,
            Method::POST,
            &office,
            "/v1/jobs",
            Some(crate::office::new_job("Walk-in", Some(d.tech))),
        )
        .await,
    );

    // A client that is not our library forges sales: another product's
    // offer, an unknown offer, the boiler's offer at a price of its own,
    // and one on a job made without a registry asset.
    let mut phone = Device::login(&app, "tech", Role::Technician, 83).await;
    assert!(phone.sync(&app).await.rejected().is_empty());
    let before = job_view(&app, &office, foreign).await["version"].clone();
    forge_sale(&mut phone, foreign, "PUMP-EXT", 12, 2500);
    forge_sale(&mut phone, unknown, "EXT-99", 12, 100);
    forge_sale(&mut phone, cheap, "EXT-24", 24, 1);
    forge_sale(&mut phone, plain, "EXT-12", 12, 6900);
    let synced = phone.sync(&app).await;
    let rejected = synced.rejected();
    for (id, says) in [
        (
            foreign,
            "is for PUMP-7, not for this asset's product BOILER-X200",
        ),
        (unknown, "\"EXT-99\" is not in the price book"),
        (cheap, "sync and quote again"),
        (plain, "made from a registry asset"),
    ] {
        let (_, why) = rejected
            .iter()
            .find(|(doc, _)| *doc == DocId::Job(id))
            .unwrap_or_else(|| panic!("{id} not rejected: {rejected:?}"));
        assert!(why.contains(says), "{id}: {why}");
        let stored = job_view(&app, &office, id).await;
        assert_eq!(
            stored["job"]["warranty_extension"],
            Value::Null,
            "nothing stored"
        );
        assert!(
            !stored["billing"]["lines"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["kind"] == "extension")
        );
    }
    assert_eq!(job_view(&app, &office, foreign).await["version"], before);

    // The office sells through the API, by the same rules.
    let sell = |id: JobId, offer: &str| {
        (
            format!("/v1/jobs/{id}/extension"),
            Some(json!({ "offer": offer })),
        )
    };
    let (path, body) = sell(cheap, "EXT-24");
    let (status, sold) = call(&app, Method::POST, &office, &path, body.clone()).await;
    assert_eq!(status, 200, "{sold}");
    assert_eq!(sold["job"]["warranty_extension"]["offer"], "EXT-24");
    assert_eq!(sold["job"]["warranty_extension"]["months"], 24);
    assert_eq!(sold["job"]["warranty_extension"]["price"], 12900);
    let ext: Vec<&Value> = sold["billing"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["kind"] == "extension")
        .collect();
    assert_eq!(ext.len(), 1);
    assert_eq!(ext[0]["charged"], 12900);
    let (status, again) = call(&app, Method::POST, &office, &path, body).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{again}"
    );
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one per job"),
        "{again}"
    );
    for (id, offer, want, says) in [
        (foreign, "EXT-99", 400, "not in the price book"),
        (foreign, "PUMP-EXT", 400, "not for this asset's product"),
        (plain, "EXT-12", 409, "registry asset"),
    ] {
        let (path, body) = sell(id, offer);
        let (status, answer) = call(&app, Method::POST, &office, &path, body).await;
        assert_eq!(status, want, "{offer}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    // Only the office: the technician's token is refused by permission.
    let (path, body) = sell(foreign, "EXT-12");
    let (status, answer) = call(&app, Method::POST, &phone.token, &path, body).await;
    assert_eq!(status, 403, "{answer}");
    // A closed job sells none.
    let (status, _) = call(
        &app,
        Method::POST,
        &office,
        &format!("/v1/jobs/{unknown}/cancel"),
        Some(json!({"reason": "Customer away"})),
    )
    .await;
    assert_eq!(status, 200);
    let (path, body) = sell(unknown, "EXT-12");
    let (status, answer) = call(&app, Method::POST, &office, &path, body).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{answer}"
    );
    // No job completed: no warranty moved.
    assert_eq!(
        asset_view(&app, &office, "BW-2").await["warranty"]["end"],
        "2020-06-30"
    );
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) FROM warranty_extensions").await,
        0
    );
}
