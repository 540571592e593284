//! Issue 16 item 2 end to end, over real `/v1/sync` and HTTP on loopback,
//! on SQLite and PostgreSQL: a technician gives refunds offline, one within
//! their limit (5000, the server's default setting, which the price book
//! carries to the device) and one above it, which stays pending and is not
//! counted as paid out; a supervisor of the technician's depot approves it
//! through the API, the decision reaches the device, and the bill on the
//! device and on the server agree. Every gift and decision is audited with
//! the server's clock. Forged raw changes (a refund above the limit
//! recorded as given, an approval by the technician, a raised amount) are
//! refused and store nothing.

use std::sync::Arc;

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ObjType, ROOT, ReadDoc, ScalarValue};
use fieldsync_core::billing::{Invoice, bill};
use fieldsync_core::job::{Decision, PaymentMethod, RefundKind, RefundState};
use fieldsync_core::pricebook::{PriceBook, read_price_book};
use fieldsync_core::validate::Context;
use fieldsync_core::{DocId, JobAction, JobDoc, JobId, LineId, Money, Role, Timestamp};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{PASSWORD, TestApp, actor, backend_tests, spawn_app};
use crate::office::{job_id, new_job, price_book, put_price_book};
use crate::setup::{self, ok};
use crate::support::{call, echoes_card};
use crate::webdriver::{Browser, LAPTOP};

backend_tests!(
    a_refund_over_the_limit_waits_offline_until_a_supervisor_approves,
    forged_refund_changes_are_refused
);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn line() -> LineId {
    LineId::from_uuid(uuid::Uuid::new_v4())
}

fn device_book(phone: &Device) -> PriceBook {
    read_price_book(phone.docs.get(&DocId::PriceBook).expect("synced"), None).unwrap()
}

/// `action` on the device, validated with what it knows (its price book
/// and the refund limits it carries), as the mobile library does.
pub(crate) fn act_knowing(phone: &mut Device, id: JobId, action: JobAction) {
    let book = device_book(phone);
    let ctx = Context::default()
        .with_refund_limits(book.refund_limits)
        .with_price_book(Arc::new(book));
    let doc = phone.docs.remove(&DocId::Job(id)).unwrap();
    let mut job = JobDoc::from_trusted(doc.with_actor(phone.actor.clone()));
    let result = job.apply_in(&action, phone.who, now(), &ctx);
    phone.docs.insert(DocId::Job(id), job.into_doc());
    result.unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
}

/// A refund of `amount` against `payment`, recorded as the device's limits say.
pub(crate) fn give_refund(phone: &mut Device, id: JobId, payment: LineId, amount: i64) -> LineId {
    let refund = line();
    let approval = device_book(phone)
        .refund_limits
        .approval(phone.who.role, Money(amount));
    act_knowing(
        phone,
        id,
        JobAction::GiveRefund {
            refund,
            kind: RefundKind::Refund,
            against: payment,
            amount: Money(amount),
            reason: "Boiler fault came back the next day".into(),
            approval,
        },
    );
    refund
}

async fn job_view(app: &TestApp, token: &str, id: JobId) -> Value {
    let (status, view) = call(app, Method::GET, token, &format!("/v1/jobs/{id}"), None).await;
    assert_eq!(status, 200, "{view}");
    view
}

/// The server's totals agree with the device's invoice.
fn assert_same_bill(server: &Value, device: &Invoice) {
    for (key, value) in [
        ("total", device.total),
        ("paid", device.paid),
        ("refunded", device.refunded),
        ("credited", device.credited),
        ("pending_refunds", device.pending_refunds),
        ("balance_due", device.balance_due),
    ] {
        assert_eq!(server[key], json!(value.0), "{key}: {server}");
    }
    let states: Vec<&str> = server["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    let device_states: Vec<&str> = device.refunds.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, device_states);
}

/// A job on site for the depot's technician, with 60 minutes of labour
/// and the whole total (12600 with tax) paid by card; synced.
struct Visit {
    app: TestApp,
    d: setup::Depot,
    office: String,
    supervisor: String,
    supervisor_id: fieldsync_core::UserId,
    phone: Device,
    id: JobId,
    payment: LineId,
    labour: LineId,
}

async fn paid_visit(backend: TestBackend, n: u8) -> Visit {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(n)).await.access_token;
    let sup = app.user("sup", Role::Supervisor).await;
    ok(
        &app,
        Method::POST,
        &d.admin,
        &format!("/v1/inventory/locations/{}/staff", d.depot),
        Some(json!({"user_id": sup.to_string()})),
    )
    .await;
    let supervisor = app.login("sup", &actor(n + 1)).await.access_token;
    let id = job_id(
        &ok(
            &app,
            Method::POST,
            &office,
            "/v1/jobs",
            Some(new_job("Ana Lima", Some(d.tech))),
        )
        .await,
    );
    let mut phone = Device::login(&app, "tech", Role::Technician, n + 2).await;
    assert!(phone.sync(&app).await.rejected().is_empty());
    let limits = device_book(&phone).refund_limits;
    assert_eq!(
        (limits.technician, limits.dispatcher),
        (Money(5000), Money(20000)),
        "the price book carries the server's limits to the device"
    );
    let payment = line();
    let labour = line();
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: labour,
            minutes: 60,
            rate: "standard".into(),
            description: "Replaced the igniter".into(),
        },
        JobAction::RecordPayment {
            payment,
            method: PaymentMethod::Card,
            amount: Money(12600),
            reference: Some("TERM-9".into()),
        },
    ] {
        act_knowing(&mut phone, id, action);
    }
    Visit {
        app,
        d,
        office,
        supervisor,
        supervisor_id: sup,
        phone,
        id,
        payment,
        labour,
    }
}

async fn a_refund_over_the_limit_waits_offline_until_a_supervisor_approves(backend: TestBackend) {
    let Visit {
        app,
        d,
        office,
        supervisor,
        supervisor_id,
        mut phone,
        id,
        payment,
        labour,
    } = paid_visit(backend, 120).await;

    // Offline: 2000 back (within the 5000 limit), then 8000 more (above it).
    let small = give_refund(&mut phone, id, payment, 2000);
    let large = give_refund(&mut phone, id, payment, 8000);
    let job = phone.job(id);
    let state = |r: LineId| job.refunds.iter().find(|x| x.id == r).unwrap().state();
    assert_eq!(state(small), RefundState::Approved);
    assert_eq!(
        state(large),
        RefundState::Pending,
        "the phone shows it pending"
    );
    let offline = bill(&job, &device_book(&phone)).unwrap();
    assert_eq!(
        offline.total,
        Money(12600),
        "call-out 4500 + labour 6000 + 20%"
    );
    assert_eq!(offline.paid, Money(12600));
    assert_eq!(
        offline.refunded,
        Money(2000),
        "the pending 8000 is not paid out"
    );
    assert_eq!(offline.pending_refunds, Money(8000));
    assert_eq!(offline.balance_due, Money(2000));

    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let server = job_view(&app, &office, id).await;
    assert_same_bill(&server["billing"], &offline);

    // The audit: both gifts, in the technician's name, by the server's clock.
    let before = time::OffsetDateTime::now_utc();
    let (status, audit) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/jobs/{id}/refunds"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    for e in events {
        assert_eq!(e["event"], "given");
        assert_eq!(e["actor_id"], d.tech.to_string());
        assert_eq!(e["actor_role"], "technician");
        assert_eq!(e["reason"], "Boiler fault came back the next day");
        let at = time::OffsetDateTime::parse(
            e["recorded_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!(at <= before, "recorded when the sync arrived: {at}");
    }
    let approval_of = |r: LineId| {
        events
            .iter()
            .find(|e| e["refund_id"] == r.to_string())
            .map(|e| e["approval"].clone())
    };
    assert_eq!(approval_of(small), Some(json!("within_limit")));
    assert_eq!(approval_of(large), Some(json!("pending")));

    // The approvals queue: the supervisor of the technician's depot sees
    // the pending refund; neither the technician nor the dispatcher may.
    let (status, queue) = call(&app, Method::GET, &supervisor, "/v1/refunds/pending", None).await;
    assert_eq!(status, 200, "{queue}");
    let pending = queue["refunds"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{queue}");
    assert_eq!(pending[0]["refund_id"], large.to_string());
    assert_eq!(pending[0]["amount"], 8000);
    assert_eq!(pending[0]["customer_name"], "Ana Lima");
    assert_eq!(pending[0]["depot_id"], d.depot.to_string());
    let decide = format!("/v1/jobs/{id}/refunds/{large}/decision");
    let approve = json!({"decision": "approved", "reason": "Repeat fault, goodwill"});
    for token in [&phone.token, &office] {
        let (status, _) = call(&app, Method::GET, token, "/v1/refunds/pending", None).await;
        assert_eq!(status, 403);
        let (status, body) = call(&app, Method::POST, token, &decide, Some(approve.clone())).await;
        assert_eq!(status, 403, "{body}");
    }
    // A card number in the reason is refused, and nothing is decided.
    let (status, body) = call(
        &app,
        Method::POST,
        &supervisor,
        &decide,
        Some(json!({"decision": "approved", "reason": "card 4111 1111 1111 1111"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(!echoes_card(&body.to_string()), "{body}");

    let (status, approved) = call(&app, Method::POST, &supervisor, &decide, Some(approve)).await;
    assert_eq!(status, 200, "{approved}");
    let billing = &approved["billing"];
    assert_eq!(billing["refunded"], 10000);
    assert_eq!(billing["pending_refunds"], 0);
    assert_eq!(billing["balance_due"], 10000);
    // Decided once: a second decision is a conflict.
    let (status, body) = call(
        &app,
        Method::POST,
        &supervisor,
        &decide,
        Some(json!({"decision": "declined", "reason": "Changed my mind"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (_, queue) = call(&app, Method::GET, &supervisor, "/v1/refunds/pending", None).await;
    assert_eq!(queue["refunds"], json!([]), "the queue is empty");
    let (_, audit) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/jobs/{id}/refunds"),
        None,
    )
    .await;
    let decided: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "approved")
        .collect();
    assert_eq!(decided.len(), 1, "{audit}");
    assert_eq!(decided[0]["refund_id"], large.to_string());
    assert_eq!(decided[0]["reason"], "Repeat fault, goodwill");
    assert_eq!(decided[0]["actor_id"], supervisor_id.to_string());

    // The decision reaches the device; both bill the same.
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let job = phone.job(id);
    let on_device = job.refunds.iter().find(|r| r.id == large).unwrap();
    assert_eq!(on_device.state(), RefundState::Approved);
    assert_eq!(
        on_device.decision.as_ref().map(|d| d.decision),
        Some(Decision::Approved)
    );
    let device_bill = bill(&job, &device_book(&phone)).unwrap();
    assert_eq!(device_bill.refunded, Money(10000));
    assert_eq!(device_bill.balance_due, Money(10000));
    let server = job_view(&app, &office, id).await;
    assert_same_bill(&server["billing"], &device_bill);

    // Five more hours of labour (30000), then the office gives credit notes
    // against that line through the API: within the dispatcher's limit
    // (20000) at once, above it pending, never more than the line charges.
    let long = line();
    act_knowing(
        &mut phone,
        id,
        JobAction::AddLabour {
            entry: long,
            minutes: 300,
            rate: "standard".into(),
            description: "Descaled the heat exchanger".into(),
        },
    );
    assert!(phone.sync(&app).await.rejected().is_empty());
    let credit = |line: LineId, amount: i64| {
        json!({"id": uuid::Uuid::new_v4(), "kind": "credit", "against": line.to_string(),
               "amount": amount, "reason": "Long wait for the part"})
    };
    let give = format!("/v1/jobs/{id}/refunds");
    let (status, given) = call(&app, Method::POST, &office, &give, Some(credit(long, 3000))).await;
    assert_eq!(status, 200, "{given}");
    assert_eq!(given["billing"]["credited"], 3000);
    // 12600 + 36000 (30000 and its tax) - 3000 credited - 12600 paid + 10000 refunded.
    assert_eq!(given["billing"]["balance_due"], 43000);
    let (status, given) = call(
        &app,
        Method::POST,
        &office,
        &give,
        Some(credit(long, 21000)),
    )
    .await;
    assert_eq!(status, 200, "{given}");
    assert_eq!(
        given["billing"]["credited"], 3000,
        "the pending credit is not counted"
    );
    assert_eq!(given["billing"]["pending_refunds"], 21000);
    // 6000 is left on the long line; the first labour line charges 6000.
    let (status, body) = call(&app, Method::POST, &office, &give, Some(credit(long, 6001))).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        &office,
        &give,
        Some(credit(labour, 6001)),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // The device's library refuses the same, with the validator the server runs.
    let book = device_book(&phone);
    let ctx = Context::default()
        .with_refund_limits(book.refund_limits)
        .with_price_book(Arc::new(book));
    let mut doc = JobDoc::from_trusted(phone.doc(id).clone().with_actor(phone.actor.clone()));
    let over = JobAction::GiveRefund {
        refund: line(),
        kind: RefundKind::Credit,
        against: labour,
        amount: Money(6001),
        reason: "Too much".into(),
        approval: fieldsync_core::job::Approval::Pending,
    };
    let refused = doc.apply_in(&over, phone.who, now(), &ctx).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("at most what the line charges"),
        "{refused}"
    );
    for (body, status_wanted) in [
        (
            json!({"id": uuid::Uuid::new_v4(), "kind": "credit", "against": labour.to_string(),
                "amount": 0, "reason": "x"}),
            400,
        ),
        (
            json!({"id": uuid::Uuid::new_v4(), "kind": "credit", "against": uuid::Uuid::new_v4(),
                "amount": 100, "reason": "x"}),
            400,
        ),
        (
            json!({"id": uuid::Uuid::new_v4(), "kind": "credit", "against": labour.to_string(),
                "amount": 100, "reason": "to 4111 1111 1111 1111"}),
            400,
        ),
    ] {
        let (status, body) = call(&app, Method::POST, &office, &give, Some(body)).await;
        assert_eq!(status, status_wanted, "{body}");
    }
    let (status, _) = call(
        &app,
        Method::POST,
        &phone.token,
        &give,
        Some(credit(labour, 100)),
    )
    .await;
    assert_eq!(status, 403, "technicians give refunds on the device");
    let (_, queue) = call(&app, Method::GET, &supervisor, "/v1/refunds/pending", None).await;
    let pending = queue["refunds"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{queue}");
    assert_eq!(pending[0]["kind"], "credit");
    assert_eq!(pending[0]["actor_role"], "dispatcher");
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let device_bill = bill(&phone.job(id), &device_book(&phone)).unwrap();
    assert_eq!(device_bill.credited, Money(3000));
    assert_eq!(device_bill.pending_refunds, Money(21000));
    let server = job_view(&app, &office, id).await;
    assert_same_bill(&server["billing"], &device_bill);
}

/// Writes a raw change into the phone's copy of the job, as a client that
/// is not our library could.
fn forge(
    phone: &mut Device,
    id: JobId,
    write: impl FnOnce(&mut fieldsync_core::automerge::transaction::Transaction<'_>),
) {
    let doc = phone.docs.get_mut(&DocId::Job(id)).unwrap();
    doc.set_actor(phone.actor.clone());
    let mut tx = doc.transaction();
    write(&mut tx);
    tx.commit();
}

async fn forged_refund_changes_are_refused(backend: TestBackend) {
    let Visit {
        app,
        d,
        office,
        mut phone,
        id,
        payment,
        ..
    } = paid_visit(backend, 140).await;
    // Two more paid jobs, so each forgery is judged on a job of its own.
    let mut jobs = vec![(id, payment)];
    for _ in 0..2 {
        let other = job_id(
            &ok(
                &app,
                Method::POST,
                &office,
                "/v1/jobs",
                Some(new_job("Rui Costa", Some(d.tech))),
            )
            .await,
        );
        jobs.push((other, LineId::from_uuid(uuid::Uuid::nil())));
    }
    assert!(phone.sync(&app).await.rejected().is_empty());
    for (other, paid) in jobs.iter_mut().skip(1) {
        *paid = line();
        for action in [
            JobAction::StartTravel,
            JobAction::Arrive,
            JobAction::RecordPayment {
                payment: *paid,
                method: PaymentMethod::Cash,
                amount: Money(12600),
                reference: None,
            },
        ] {
            act_knowing(&mut phone, *other, action);
        }
    }
    // An honest pending refund on the second and third, synced.
    let pending: Vec<LineId> = jobs[1..]
        .iter()
        .copied()
        .map(|(job, paid)| give_refund(&mut phone, job, paid, 8000))
        .collect();
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let mut versions = Vec::new();
    for (job, _) in &jobs {
        versions.push(job_view(&app, &office, *job).await["version"].clone());
    }

    // 1. A new refund of 9000 (of the 12600 paid) recorded as given within
    //    the limit (5000).
    let (above, paid) = jobs[0];
    let tech = phone.who.user.to_string();
    forge(&mut phone, above, |tx| {
        let refunds = match tx.get(ROOT, "refunds").unwrap() {
            Some((_, obj)) => obj,
            None => panic!("no refunds container"),
        };
        let r = tx
            .put_object(&refunds, line().to_string(), ObjType::Map)
            .unwrap();
        tx.put(&r, "kind", "refund").unwrap();
        tx.put(&r, "against", paid.to_string()).unwrap();
        tx.put(&r, "amount", 9000_i64).unwrap();
        tx.put(&r, "reason", "goodwill").unwrap();
        tx.put(&r, "by", tech.as_str()).unwrap();
        tx.put(&r, "role", "technician").unwrap();
        tx.put(&r, "approval", "within_limit").unwrap();
        tx.put(&r, "device_time", ScalarValue::Timestamp(now().0))
            .unwrap();
    });
    // 2. The technician approves their own pending refund.
    let (own, _) = jobs[1];
    let own_refund = pending[0];
    forge(&mut phone, own, |tx| {
        let refunds = tx.get(ROOT, "refunds").unwrap().unwrap().1;
        let r = tx.get(&refunds, own_refund.to_string()).unwrap().unwrap().1;
        tx.put(&r, "decision", "approved").unwrap();
        tx.put(&r, "decided_by", tech.as_str()).unwrap();
        tx.put(&r, "decision_reason", "fine").unwrap();
        tx.put(&r, "decided_at", ScalarValue::Timestamp(now().0))
            .unwrap();
    });
    // 3. The pending refund's amount raised after it was given.
    let (raised, _) = jobs[2];
    let raised_refund = pending[1];
    forge(&mut phone, raised, |tx| {
        let refunds = tx.get(ROOT, "refunds").unwrap().unwrap().1;
        let r = tx
            .get(&refunds, raised_refund.to_string())
            .unwrap()
            .unwrap()
            .1;
        tx.put(&r, "amount", 12000_i64).unwrap();
    });
    let synced = phone.sync(&app).await;
    let rejected = synced.rejected();
    for (job, says) in [
        (above, "above your limit"),
        (own, "only a supervisor approves"),
        (raised, "cannot be edited"),
    ] {
        let (_, why) = rejected
            .iter()
            .find(|(doc, _)| *doc == DocId::Job(job))
            .unwrap_or_else(|| panic!("{job} not rejected: {rejected:?}"));
        assert!(why.contains(says), "{job}: {why}");
    }
    // Nothing of them was stored: same versions, no new refund, the honest
    // ones still pending at 8000.
    for (i, ((job, _), version)) in jobs.iter().zip(&versions).enumerate() {
        let stored = job_view(&app, &office, *job).await;
        assert_eq!(&stored["version"], version, "{job}");
        let refunds = stored["billing"]["refunds"].as_array().unwrap();
        if i == 0 {
            assert_eq!(refunds.len(), 0, "{stored}");
        } else {
            assert_eq!(refunds.len(), 1, "{stored}");
            assert_eq!(refunds[0]["amount"], 8000);
            assert_eq!(refunds[0]["state"], "pending");
        }
        assert_eq!(stored["billing"]["refunded"], 0);
    }
    assert_eq!(
        phone.job(above).refunds.len(),
        1,
        "the forged line stays on the forging device only"
    );
}

/// The approvals queue in headless Chromium (SQLite; the queue's SQL runs
/// on both backends in the API test above): the supervisor opens it from
/// the menu, sees the two refunds over the technician's limit, approves one
/// with a reason; the other stays, and the job's bill counts only the one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approvals_queue_approves_one_in_the_browser() {
    let Visit {
        app,
        office,
        mut phone,
        id,
        payment,
        ..
    } = paid_visit(TestBackend::Sqlite, 160).await;
    let first = give_refund(&mut phone, id, payment, 6000);
    let second = give_refund(&mut phone, id, payment, 6500);
    assert!(phone.sync(&app).await.rejected().is_empty());

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "sup", PASSWORD).await;
    b.goto(&app.url("/console")).await;
    b.click("header nav a[href='/console/refunds']").await;
    b.wait_for_path(|p| p == "/console/refunds").await;
    assert_eq!(b.text("h1").await, "Refunds to approve");
    let rows = "return document.querySelectorAll('table.refunds tbody tr').length;";
    assert_eq!(b.eval(rows).await, 2);
    let row = format!("tr[data-refund='{first}']");
    assert_eq!(b.text(&format!("{row} td.amount")).await, "60.00");
    b.type_into(
        &format!("{row} input[name=reason]"),
        "Second visit was free",
    )
    .await;
    b.click(&format!("{row} button[value=approved]")).await;
    b.wait_for_path(|p| p == "/console/refunds").await;
    // The page reloads after the redirect: wait for the approved row to go.
    for _ in 0..50 {
        if b.eval(rows).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(b.eval(rows).await, 1, "one refund is left to decide");
    assert_eq!(
        b.eval("return document.querySelector('table.refunds tbody tr').dataset.refund;")
            .await,
        json!(second.to_string())
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let shot = dir.join("refunds-approvals-queue.png");
    let bytes = b.screenshot(&shot).await;
    assert!(bytes > 1000, "{bytes} bytes");
    assert_eq!(&std::fs::read(&shot).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    b.quit().await;

    let billing = job_view(&app, &office, id).await["billing"].clone();
    assert_eq!(billing["refunded"], 6000, "{billing}");
    assert_eq!(billing["pending_refunds"], 6500);
    let (_, audit) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/jobs/{id}/refunds"),
        None,
    )
    .await;
    let approved: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "approved")
        .collect();
    assert_eq!(approved.len(), 1, "{audit}");
    assert_eq!(approved[0]["refund_id"], first.to_string());
    assert_eq!(approved[0]["reason"], "Second visit was free");
}

/// The refund routes are in the OpenAPI document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refund_routes_are_documented() {
    let app = spawn_app(TestBackend::Sqlite).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/v1/jobs/{id}/refunds", "post"),
        ("/v1/jobs/{id}/refunds", "get"),
        ("/v1/jobs/{id}/refunds/{refund_id}/decision", "post"),
        ("/v1/refunds/pending", "get"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}
