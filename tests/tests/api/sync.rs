//! The sync endpoint end to end: devices offline, the office editing, a
//! reassignment in the middle; then everything converges.

use fieldsync_core::billing::bill;
use fieldsync_core::job::PaymentMethod;
use fieldsync_core::pricebook::PriceBook;
use fieldsync_core::{
    DocId, JobAction, LineId, LocationId, Money, Quantity, Role, Status, Timestamp, UserId,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::{
    create_job, get_job, get_json, job_id, new_job, patch_json, post_json, price_book,
    put_price_book,
};

fn line() -> LineId {
    LineId::from_uuid(Uuid::new_v4())
}

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// Travel, arrive, labour, a part, signature: ready to complete.
fn work(device: &mut Device, id: fieldsync_core::JobId, van: LocationId) {
    device.act(id, JobAction::StartTravel, now());
    device.act(id, JobAction::Arrive, now());
    device.act(
        id,
        JobAction::AddLabour {
            entry: line(),
            minutes: 45,
            rate: "standard".into(),
            description: "Replaced valve".into(),
        },
        now(),
    );
    device.act(
        id,
        JobAction::UsePart {
            line: line(),
            sku: "VALVE-22".parse().unwrap(),
            quantity: Quantity::new(2).unwrap(),
            serials: vec![],
            van,
        },
        now(),
    );
}

fn finish(device: &mut Device, id: fieldsync_core::JobId) {
    device.act(
        id,
        JobAction::RecordPayment {
            payment: line(),
            method: PaymentMethod::Card,
            amount: Money(1000),
            reference: Some("TERM-42".into()),
        },
        now(),
    );
    device.act(
        id,
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
        now(),
    );
    device.act(id, JobAction::Complete, now());
}

/// A van in a depot of its own, assigned to `technician`, made through the
/// inventory API the way an admin would.
pub(crate) async fn van_for(app: &TestApp, technician: UserId) -> LocationId {
    let admin = app
        .login("admin", &crate::helpers::actor(202))
        .await
        .access_token;
    let create = async |body: Value| -> LocationId {
        let res = post_json(app, &admin, "/v1/inventory/locations", &body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let created: Value = res.json().await.unwrap();
        created["id"].as_str().unwrap().parse().unwrap()
    };
    let depot = create(json!({"kind": "depot", "name": format!("Depot of {technician}")})).await;
    create(
        json!({"kind": "van", "name": format!("Van of {technician}"),
                  "depot_id": depot, "technician_id": technician}),
    )
    .await
}

pub(crate) struct Office {
    pub dispatcher: String,
    pub book: PriceBook,
}

/// Users, tokens and the price book every scenario starts from.
pub(crate) async fn office(app: &TestApp) -> Office {
    app.user("admin", Role::Admin).await;
    app.user("dispatch", Role::Dispatcher).await;
    let admin = app.login("admin", &crate::helpers::actor(200)).await;
    let res = put_price_book(app, &admin.access_token, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let book: PriceBook = res.json().await.unwrap();
    assert_eq!(book.version, 1);
    let dispatcher = app.login("dispatch", &crate::helpers::actor(201)).await;
    Office {
        dispatcher: dispatcher.access_token,
        book,
    }
}

async fn two_technicians_and_the_office_converge(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let t2 = app.user("tech2", Role::Technician).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana Lima", Some(t1))).await);
    let b = job_id(&create_job(&app, &office.dispatcher, &new_job("Bruno Reis", Some(t1))).await);
    let c = job_id(&create_job(&app, &office.dispatcher, &new_job("Carla Dias", Some(t2))).await);
    // Parts come from each technician's own van (the server checks).
    let van1 = van_for(&app, t1).await;
    let van2 = van_for(&app, t2).await;

    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    let mut tech2 = Device::login(&app, "tech2", Role::Technician, 2).await;
    tech1.sync(&app).await;
    tech2.sync(&app).await;
    assert!(tech1.holds(a) && tech1.holds(b) && !tech1.holds(c));
    assert!(tech2.holds(c) && !tech2.holds(a));
    assert!(
        tech1.docs.contains_key(&DocId::PriceBook),
        "price book reaches devices"
    );

    // Offline: tech1 works job A and writes on B; tech2 does C.
    work(&mut tech1, a, van1);
    tech1.act(
        a,
        JobAction::AddNote {
            text: "Valve seized; replaced both.".into(),
        },
        now(),
    );
    tech1.act(
        b,
        JobAction::AddNote {
            text: "Customer asks for a morning visit.".into(),
        },
        now(),
    );
    work(&mut tech2, c, van2);
    finish(&mut tech2, c);

    // Meanwhile the office writes notes on A and gives B to tech2.
    let res = patch_json(
        &app,
        &office.dispatcher,
        &format!("/v1/jobs/{a}"),
        &json!({"notes": "Gate code 4711.", "priority": "urgent"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let res = post_json(
        &app,
        &office.dispatcher,
        &format!("/v1/jobs/{b}/assign"),
        &json!({"technician_id": t2.to_string()}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // tech1 reconnects: A merges, B leaves the device but its note is kept.
    let synced = tech1.sync(&app).await;
    assert_eq!(
        synced.round_trips, 1,
        "a routine sync is one round trip: {:?}",
        synced.reports
    );
    assert_eq!(synced.removed(), vec![DocId::Job(b)]);
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert!(!tech1.holds(b));
    let on_a = tech1.job(a);
    assert!(on_a.notes.contains("Gate code 4711."), "{}", on_a.notes);
    assert!(on_a.notes.contains("Valve seized"), "{}", on_a.notes);

    // tech2 reconnects: C stored, B arrives with tech1's note.
    let synced = tech2.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert!(tech2.job(b).notes.contains("morning visit"));
    work(&mut tech2, b, van2);
    finish(&mut tech2, b);
    finish(&mut tech1, a);
    tech1.sync(&app).await;
    tech2.sync(&app).await;
    // Once more each: nothing left to exchange, all agree.
    assert_eq!(tech1.sync(&app).await.round_trips, 1);
    assert_eq!(tech2.sync(&app).await.round_trips, 1);

    for (device, id) in [(&tech1, a), (&tech2, b), (&tech2, c)] {
        let res = get_job(&app, &office.dispatcher, id).await;
        assert_eq!(res.status(), 200);
        let view: Value = res.json().await.unwrap();
        let local = device.job(id);
        assert_eq!(
            view["job"],
            serde_json::to_value(&local).unwrap(),
            "server and device agree on {id}"
        );
        assert_eq!(local.status, Status::Completed);
        let invoice = bill(&local, &office.book).unwrap();
        assert_eq!(view["billing"], serde_json::to_value(&invoice).unwrap());
        // Call-out 45.00 + 45 min at 60.00/h + 2 x 12.50 = 115.00, + 20% = 138.00
        assert_eq!(invoice.total, Money(13800));
    }
    let job_a = tech1.job(a);
    assert_eq!(job_a.labour.len(), 1);
    assert_eq!(job_a.parts.len(), 1);
    assert_eq!(job_a.priority, fieldsync_core::job::Priority::Urgent);
    assert!(job_a.notes.contains("Gate code 4711.") && job_a.notes.contains("Valve seized"));
    let job_b = tech2.job(b);
    assert_eq!(job_b.technician, Some(t2));
    assert!(
        job_b.notes.contains("morning visit"),
        "pre-reassignment edit kept"
    );

    // Projections: the list says what the documents say.
    let list: Value = get_json(&app, &office.dispatcher, "/v1/jobs?status=completed")
        .await
        .json()
        .await
        .unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{list}");
    for row in jobs {
        assert_eq!(row["total_minor"], 13800);
        assert_eq!(row["currency"], "EUR");
        assert!(row["completed_at"].is_string());
    }
    let list: Value = get_json(
        &app,
        &office.dispatcher,
        &format!("/v1/jobs?technician_id={t2}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2, "{list}");

    // tech1 no longer sees B, by id or in their list.
    let res = get_job(&app, &tech1.token, b).await;
    assert_eq!(res.status(), 404);
    let mine: Value = get_json(&app, &tech1.token, "/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = mine["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.to_string().as_str()]);
}

backend_tests!(two_technicians_and_the_office_converge);
