//! The seed's call, answered in one request: a customer wants a spare part
//! shipped to their address, asks when the warranty on their installed
//! boiler ends and what extending it would cost. `GET /v1/assets/{serial}`
//! and `GET /v1/customers/{id}` each answer all three; a job made from the
//! registry copies its snapshot and shows up as the asset's open job, and
//! the part a technician fits (over real `/v1/sync`) as its history.

use fieldsync_core::{JobAction, LineId, Quantity, Role, Timestamp};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{actor, backend_tests, spawn_app};
use crate::office::{job_id, price_book, put_price_book};
use crate::setup::{self, ok};
use crate::support::{call, customer, job_from_registry};

backend_tests!(
    one_request_answers_the_call,
    jobs_take_their_snapshot_from_the_registry
);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// The test price book plus three extension offers: two for the boiler,
/// one for another product.
pub(crate) fn book_with_offers() -> Value {
    let mut book = price_book();
    book["extensions"] = json!({
        "EXT-13": {"sku": "BOILER-X200", "name": "Thirteen more months", "months": 13, "price": 6900, "terms": "Parts and labour, one visit a year"},
        "EXT-24": {"sku": "BOILER-X200", "name": "Two more years", "months": 24, "price": 12900, "terms": "Parts and labour"},
        "PUMP-EXT": {"sku": "PUMP-7", "name": "Pump cover", "months": 12, "price": 1500, "terms": "Pump only"},
    });
    book
}

fn codes(offers: &Value) -> Vec<&str> {
    offers
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["code"].as_str().unwrap())
        .collect()
}

fn job_ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["job_id"].as_str().unwrap())
        .collect()
}

async fn one_request_answers_the_call(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &book_with_offers()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(50)).await.access_token;
    let north = d.depot.to_string();
    let acme = customer(&app, &office, &north, "Acme Boilers", "BX-1", "2031-01-31").await;
    let job = ok(
        &app,
        Method::POST,
        &office,
        "/v1/jobs",
        Some(job_from_registry(
            json!({"asset_id": acme.asset}),
            Some(&d.tech.to_string()),
        )),
    )
    .await;
    let job = job_id(&job).to_string();

    // 1. By serial, asking about the spare pump.
    let (status, a) = call(
        &app,
        Method::GET,
        &office,
        "/v1/assets/bx-1?part=PUMP-7",
        None,
    )
    .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["asset"]["id"], acme.asset.as_str());
    assert_eq!(a["asset"]["sku"], "BOILER-X200");
    assert_eq!(a["customer"]["name"], "Acme Boilers");
    assert_eq!(a["site"]["address"], "Rua das Flores 1, Porto");
    assert_eq!(a["contacts"][0]["name"], "Ana Lima");
    //    when the warranty ends,
    assert_eq!(a["warranty"], json!({"end": "2031-01-31", "active": true}));
    //    what extending it costs (the boiler's offers only; 13 months from
    //    31 January end on the last day of February),
    assert_eq!(codes(&a["extension_offers"]), ["EXT-13", "EXT-24"]);
    let ext13 = &a["extension_offers"][0];
    assert_eq!(ext13["price_minor"], 6900);
    assert_eq!(ext13["currency"], "EUR");
    assert_eq!(ext13["tax_rate_bps"], 2000);
    assert_eq!(ext13["months"], 13);
    assert_eq!(ext13["warranty_end_after"], "2032-02-29");
    assert_eq!(ext13["terms"], "Parts and labour, one visit a year");
    assert_eq!(a["extension_offers"][1]["warranty_end_after"], "2033-01-31");
    assert_eq!(a["extension_offers"][1]["price_minor"], 12900);
    //    whether the part is on the shelf at the nearest depot (the
    //    customer's: SN-2 is there, SN-1 went to the van),
    assert_eq!(a["stock"]["sku"], "PUMP-7");
    assert_eq!(a["stock"]["depot_id"], north);
    assert_eq!(a["stock"]["depot_name"], "North depot");
    assert_eq!(a["stock"]["nearest_by"], "customer");
    assert_eq!(a["stock"]["quantity"], 1);
    assert_eq!(a["stock"]["in_stock"], true);
    //    and its open job.
    assert_eq!(job_ids(&a["open_jobs"]), [job.as_str()]);
    assert_eq!(a["open_jobs"][0]["status"], "scheduled");
    assert_eq!(job_ids(&a["history"]["visits"]), [job.as_str()]);
    assert_eq!(a["history"]["parts_fitted"], json!([]));
    // Without `part`, the asset's own product: none on the shelf.
    let (_, plain) = call(&app, Method::GET, &office, "/v1/assets/BX-1", None).await;
    assert_eq!(
        (
            &plain["stock"]["sku"],
            &plain["stock"]["quantity"],
            &plain["stock"]["in_stock"]
        ),
        (&json!("BOILER-X200"), &json!(0), &json!(false))
    );
    let (_, valves) = call(
        &app,
        Method::GET,
        &office,
        "/v1/assets/BX-1?part=VALVE-22",
        None,
    )
    .await;
    assert_eq!(
        valves["stock"]["quantity"], 6,
        "10 received, 4 sent to the van"
    );
    let (status, _) = call(
        &app,
        Method::GET,
        &office,
        "/v1/assets/BX-1?part=not%20a%20sku",
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = call(&app, Method::GET, &office, "/v1/assets/NOPE-1", None).await;
    assert_eq!(status, 404);

    // 2. The customer's view answers the same for each of its assets.
    let (status, c) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/customers/{}", acme.customer),
        None,
    )
    .await;
    assert_eq!(status, 200, "{c}");
    let asset = &c["assets"][0];
    assert_eq!(asset["asset"]["serial"], "BX-1");
    assert_eq!(asset["warranty"]["end"], "2031-01-31");
    assert_eq!(codes(&asset["extension_offers"]), ["EXT-13", "EXT-24"]);
    assert_eq!(asset["stock"]["depot_id"], north);
    assert_eq!(asset["stock"]["in_stock"], false, "no boiler on the shelf");
    assert_eq!(job_ids(&asset["open_jobs"]), [job.as_str()]);
    assert_eq!(job_ids(&c["open_jobs"]), [job.as_str()]);
    assert_eq!(c["sites"][0]["address"], "Rua das Flores 1, Porto");

    // 3. The technician fits pump SN-1 from the van, offline, and syncs:
    //    the ledger's serial is the asset's history.
    let mut tech = Device::login(&app, "tech", Role::Technician, 51).await;
    tech.sync(&app).await;
    let id = job.parse().unwrap();
    assert!(tech.holds(id));
    assert_eq!(
        tech.job(id).registry.asset.map(|a| a.to_string()),
        Some(acme.asset.clone())
    );
    tech.act(id, JobAction::StartTravel, now());
    tech.act(id, JobAction::Arrive, now());
    tech.act(
        id,
        JobAction::UsePart {
            line: LineId::from_uuid(Uuid::new_v4()),
            sku: "PUMP-7".parse().unwrap(),
            quantity: Quantity::new(1).unwrap(),
            serials: vec!["SN-1".into()],
            van: d.van,
        },
        now(),
    );
    let synced = tech.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    let tech_token = app.login("tech", &actor(52)).await.access_token;
    let (status, a) = call(&app, Method::GET, &tech_token, "/v1/assets/BX-1", None).await;
    assert_eq!(status, 200, "{a}");
    let fitted = &a["history"]["parts_fitted"];
    assert_eq!(fitted.as_array().unwrap().len(), 1, "{fitted}");
    assert_eq!(
        (
            &fitted[0]["sku"],
            &fitted[0]["serial"],
            &fitted[0]["job_id"]
        ),
        (&json!("PUMP-7"), &json!("SN-1"), &json!(job))
    );
    assert_eq!(a["open_jobs"][0]["status"], "on_site");

    // 4. A site served by another depot: that depot is the nearest.
    let south = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South depot"})),
    )
    .await;
    let south = south["id"].as_str().unwrap().to_owned();
    let admin = &d.admin;
    ok(
        &app,
        Method::PATCH,
        admin,
        &format!("/v1/customers/{}/sites/{}", acme.customer, acme.site),
        Some(json!({"depot_id": south})),
    )
    .await;
    let (_, a) = call(
        &app,
        Method::GET,
        &office,
        "/v1/assets/BX-1?part=PUMP-7",
        None,
    )
    .await;
    assert_eq!(a["stock"]["depot_id"], south.as_str());
    assert_eq!(a["stock"]["nearest_by"], "site");
    assert_eq!(a["stock"]["in_stock"], false);

    // 5. An ended warranty: inactive, and an extension starts today.
    let old = customer(&app, &office, &north, "Zen Bakery", "ZB-77", "2025-01-31").await;
    let (_, z) = call(&app, Method::GET, &office, "/v1/assets/ZB-77", None).await;
    assert_eq!(z["warranty"], json!({"end": "2025-01-31", "active": false}));
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let after = z["extension_offers"][0]["warranty_end_after"]
        .as_str()
        .unwrap();
    assert!(after > today.as_str(), "{after} after {today}");
    assert_eq!(z["asset"]["id"], old.asset.as_str());
}

async fn jobs_take_their_snapshot_from_the_registry(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(53)).await.access_token;
    let north = d.depot.to_string();
    let acme = customer(&app, &office, &north, "Acme Boilers", "BX-1", "2031-01-31").await;
    let zen = customer(&app, &office, &north, "Zen Bakery", "ZB-77", "2025-01-31").await;

    // The asset implies its site and customer.
    let view = ok(
        &app,
        Method::POST,
        &office,
        "/v1/jobs",
        Some(job_from_registry(json!({"asset_id": acme.asset}), None)),
    )
    .await;
    let job = &view["job"];
    assert_eq!(job["customer"]["name"], "Acme Boilers");
    assert_eq!(job["customer"]["email"], "ana@bx-1.example");
    assert_eq!(job["customer"]["phone"], "+351 900 000 001");
    assert_eq!(job["customer"]["feedback_opt_out"], true);
    assert_eq!(job["site"]["name"], "Head office");
    assert_eq!(job["site"]["address"], "Rua das Flores 1, Porto, 4050-262");
    assert_eq!(job["asset"]["product"], "Boiler X200");
    assert_eq!(job["asset"]["serial"], "BX-1");
    assert_eq!(job["asset"]["warranty_end"], "2031-01-31");
    assert_eq!(
        job["registry"],
        json!({"customer": acme.customer, "site": acme.site, "asset": acme.asset,
               "asset_sku": "BOILER-X200"})
    );

    // A customer id with the site and asset typed in: only the customer is linked.
    let mut body = crate::office::new_job("ignored", None);
    body.as_object_mut().unwrap().remove("customer");
    body["customer_id"] = json!(zen.customer);
    let view = ok(&app, Method::POST, &office, "/v1/jobs", Some(body)).await;
    assert_eq!(view["job"]["customer"]["name"], "Zen Bakery");
    assert_eq!(view["job"]["asset"]["serial"], "BX-1", "typed in");
    assert_eq!(
        view["job"]["registry"],
        json!({"customer": zen.customer, "site": null, "asset": null, "asset_sku": null})
    );
    let (_, zv) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/customers/{}", zen.customer),
        None,
    )
    .await;
    assert_eq!(
        zv["open_jobs"].as_array().unwrap().len(),
        1,
        "the customer's open job"
    );
    assert_eq!(zv["assets"][0]["open_jobs"], json!([]), "not on its asset");

    // Refused, with nothing created.
    let inline = crate::office::new_job("Inline", None);
    let cases = [
        (
            json!({"customer_id": acme.customer, "customer": inline["customer"]}),
            "customer or its registry id",
        ),
        (json!({"asset_id": Uuid::new_v4()}), "no asset"),
        (
            json!({"customer_id": Uuid::new_v4(), "site": inline["site"], "asset": inline["asset"]}),
            "no customer",
        ),
        (
            json!({"customer_id": zen.customer, "asset_id": acme.asset}),
            "belong to the customer",
        ),
        (
            json!({"site_id": zen.site, "asset_id": acme.asset}),
            "belong to the customer",
        ),
        (json!({"customer_id": acme.customer}), "site is required"),
    ];
    for (fields, message) in cases {
        let (status, answer) = call(
            &app,
            Method::POST,
            &office,
            "/v1/jobs",
            Some(job_from_registry(fields.clone(), None)),
        )
        .await;
        assert_eq!(status, 400, "{fields}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{fields}: {text}");
    }
    let (_, list) = call(&app, Method::GET, &office, "/v1/jobs", None).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2);
}
