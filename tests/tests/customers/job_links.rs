//! The link between a job and the registry, over real HTTP and `/v1/sync`:
//! the ids are the server's to write (a raw change relinking a job to a
//! customer outside the writer's depots is refused and stores nothing), and
//! the snapshot the technician works from follows the registry while the
//! job is open (a changed address reaches the open job and the device at
//! its next sync; a completed job keeps what the visit was made with).

use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ROOT, ReadDoc};
use fieldsync_core::job::PaymentMethod;
use fieldsync_core::{DocId, JobAction, JobId, LineId, Money, Role, Timestamp};
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
    a_raw_change_cannot_relink_a_job,
    registry_changes_reach_open_jobs_only
);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

async fn job(app: &TestApp, token: &str, id: JobId) -> Value {
    let (status, view) = call(app, Method::GET, token, &format!("/v1/jobs/{id}"), None).await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn a_raw_change_cannot_relink_a_job(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let north = d.depot.to_string();
    let south = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South depot"})),
    )
    .await;
    let south = south["id"].as_str().unwrap().to_owned();
    // A supervisor of the north depot only.
    let sup = app.user("sup", Role::Supervisor).await;
    ok(
        &app,
        Method::POST,
        &d.admin,
        &format!("/v1/inventory/locations/{north}/staff"),
        Some(json!({"user_id": sup.to_string()})),
    )
    .await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(70)).await.access_token;
    let acme = customer(&app, &office, &north, "Acme Boilers", "BX-1", "2031-01-31").await;
    let zen = customer(&app, &office, &south, "Zen Bakery", "ZB-77", "2031-01-31").await;
    let tech = d.tech.to_string();
    let linked = job_id(
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

    let mut desk = Device::login(&app, "sup", Role::Supervisor, 71).await;
    // An office device holds the jobs it opens.
    for id in [linked, plain] {
        desk.open(&app, id).await;
    }
    assert!(desk.sync(&app).await.rejected().is_empty());
    let sup_token = desk.token.clone();
    let zen_path = format!("/v1/customers/{}", zen.customer);
    assert_eq!(
        call(&app, Method::GET, &sup_token, &zen_path, None).await.0,
        404,
        "Zen is outside the supervisor's depots"
    );
    let before: Vec<Value> = [
        job(&app, &office, linked).await,
        job(&app, &office, plain).await,
    ]
    .into();

    // Forged on the supervisor's device, past its own library's checks:
    // both jobs relinked to Zen's records.
    for id in [linked, plain] {
        let doc = desk.docs.get_mut(&DocId::Job(id)).unwrap();
        doc.set_actor(desk.actor.clone());
        let mut tx = doc.transaction();
        for (field, value) in [
            ("customer", &zen.customer),
            ("site", &zen.site),
            ("asset", &zen.asset),
        ] {
            let (_, map) = tx.get(ROOT, field).unwrap().unwrap();
            tx.put(&map, "id", value.as_str()).unwrap();
        }
        tx.commit();
    }
    let synced = desk.sync(&app).await;
    let rejected = synced.rejected();
    for id in [linked, plain] {
        let (_, why) = rejected
            .iter()
            .find(|(doc, _)| *doc == DocId::Job(id))
            .unwrap_or_else(|| panic!("{id} not rejected: {rejected:?}"));
        assert!(
            why.contains(".id is written when the job is created"),
            "{why}"
        );
    }

    // Nothing stored: the jobs read as before (same version, same ids), the
    // projection holds no row for Zen, and Zen has no open job.
    let after = [
        job(&app, &office, linked).await,
        job(&app, &office, plain).await,
    ];
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(a["version"], b["version"]);
        assert_eq!(a["job"]["registry"], b["job"]["registry"]);
    }
    assert_eq!(
        after[0]["job"]["registry"],
        json!({"customer": acme.customer, "site": acme.site, "asset": acme.asset,
               "asset_sku": "BOILER-X200"})
    );
    assert_eq!(
        after[1]["job"]["registry"],
        json!({"customer": null, "site": null, "asset": null, "asset_sku": null})
    );
    for column in ["customer_id", "site_id", "asset_id"] {
        let zen_id = match column {
            "customer_id" => &zen.customer,
            "site_id" => &zen.site,
            _ => &zen.asset,
        };
        let n = sql_count(
            &app,
            &format!("SELECT COUNT(*) FROM job_registry WHERE {column} = '{zen_id}'"),
        )
        .await;
        assert_eq!(n, 0, "{column}");
    }
    assert_eq!(
        sql_count(&app, "SELECT COUNT(*) FROM job_registry").await,
        1,
        "only the linked job's row"
    );
    let (status, zv) = call(&app, Method::GET, &office, &zen_path, None).await;
    assert_eq!(status, 200, "{zv}");
    assert_eq!(zv["open_jobs"], json!([]));
    // The device keeps its copy (the work is never thrown away), but the
    // server holds none of it: the office's view of the linked job still
    // shows Acme's snapshot.
    assert_eq!(after[0]["job"]["customer"]["name"], "Acme Boilers");
    let held = desk.doc(linked);
    let (_, map) = held.get(ROOT, "customer").unwrap().unwrap();
    assert!(held.get(&map, "id").unwrap().is_some());
}

async fn registry_changes_reach_open_jobs_only(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let north = d.depot.to_string();
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(72)).await.access_token;
    let acme = customer(&app, &office, &north, "Acme Boilers", "BX-1", "2031-01-31").await;
    let tech = d.tech.to_string();
    let from_asset = || job_from_registry(json!({"asset_id": acme.asset}), Some(&tech));
    let open = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(from_asset())).await);
    let done = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(from_asset())).await);
    // Linked to the customer only: its typed-in site is its own.
    let mut body = crate::office::new_job("ignored", Some(d.tech));
    body.as_object_mut().unwrap().remove("customer");
    body["customer_id"] = json!(acme.customer);
    let typed = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(body)).await);
    let typed_site = job(&app, &office, typed).await["job"]["site"].clone();

    // The technician is on the way to one job and completes the other.
    let mut phone = Device::login(&app, "tech", Role::Technician, 73).await;
    assert!(phone.sync(&app).await.rejected().is_empty());
    phone.act(open, JobAction::StartTravel, now());
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: LineId::from_uuid(uuid::Uuid::new_v4()),
            minutes: 45,
            rate: "standard".into(),
            description: "Serviced the boiler".into(),
        },
        JobAction::RecordPayment {
            payment: LineId::from_uuid(uuid::Uuid::new_v4()),
            method: PaymentMethod::Card,
            amount: Money(1000),
            reference: Some("TERM-42".into()),
        },
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
        JobAction::Complete,
    ] {
        phone.act(done, action, now());
    }
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let done_before = job(&app, &office, done).await;
    assert_eq!(done_before["job"]["status"], "completed");

    // The office changes the registry, one record at a time, and each
    // change reaches the open job at once: the site's address, the asset's
    // warranty, the contact's phone and the customer's name.
    let c = &acme.customer;
    for (path, body, pointer, want) in [
        (
            format!("/v1/customers/{c}/sites/{}", acme.site),
            json!({"address": "Avenida da Boavista 100, Porto", "postcode": "4100-112"}),
            "/job/site/address",
            "Avenida da Boavista 100, Porto, 4100-112",
        ),
        (
            format!("/v1/customers/{c}/assets/{}", acme.asset),
            json!({"warranty_end": "2032-06-30"}),
            "/job/asset/warranty_end",
            "2032-06-30",
        ),
        (
            format!("/v1/customers/{c}/contacts/{}", acme.contact),
            json!({"phone": "+351 911 111 111"}),
            "/job/customer/phone",
            "+351 911 111 111",
        ),
        (
            format!("/v1/customers/{c}"),
            json!({"name": "Acme Heating"}),
            "/job/customer/name",
            "Acme Heating",
        ),
    ] {
        let (status, answer) = call(&app, Method::PATCH, &office, &path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {answer}");
        let o = job(&app, &office, open).await;
        assert_eq!(o.pointer(pointer), Some(&json!(want)), "{path}");
    }

    let new_address = "Avenida da Boavista 100, Porto, 4100-112";
    let o = job(&app, &office, open).await;
    assert_eq!(o["job"]["site"]["address"], new_address);
    assert_eq!(o["job"]["site"]["name"], "Head office");
    assert_eq!(o["job"]["asset"]["warranty_end"], "2032-06-30");
    assert_eq!(o["job"]["customer"]["phone"], "+351 911 111 111");
    assert_eq!(o["job"]["customer"]["name"], "Acme Heating");
    assert_eq!(
        o["job"]["status"], "travelling",
        "the technician's work stays"
    );
    assert_eq!(o["job"]["conflicts"], json!([]));

    // The completed job keeps the snapshot its visit was made with.
    let d2 = job(&app, &office, done).await;
    assert_eq!(d2["version"], done_before["version"]);
    assert_eq!(
        d2["job"]["site"]["address"],
        "Rua das Flores 1, Porto, 4050-262"
    );
    assert_eq!(d2["job"]["asset"]["warranty_end"], "2031-01-31");
    assert_eq!(d2["job"]["customer"]["name"], "Acme Boilers");

    // The customer-only job: its customer follows, its typed site does not.
    let t = job(&app, &office, typed).await;
    assert_eq!(t["job"]["customer"]["name"], "Acme Heating");
    assert_eq!(t["job"]["site"], typed_site);

    // The technician's next sync brings the open job's new snapshot.
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let on_phone = phone.job(open);
    assert_eq!(on_phone.site.address, new_address);
    assert_eq!(on_phone.customer.name, "Acme Heating");
    assert_eq!(
        on_phone.asset.warranty_end,
        Some(time::macros::date!(2032 - 06 - 30))
    );
    if phone.holds(done) {
        assert_eq!(
            phone.job(done).site.address,
            "Rua das Flores 1, Porto, 4050-262"
        );
    }

    // The same change again writes nothing: the snapshot is already there.
    let version = o["version"].clone();
    let (status, _) = call(
        &app,
        Method::PATCH,
        &office,
        &format!("/v1/customers/{c}/sites/{}", acme.site),
        Some(json!({"address": "Avenida da Boavista 100, Porto"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(job(&app, &office, open).await["version"], version);
}
