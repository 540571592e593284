//! Spare parts shipped to a customer (issue 16, item 3), over real HTTP on
//! SQLite and PostgreSQL: the shipping team orders a part from its depot to
//! a customer's site, dispatches it with a tracking reference and marks it
//! delivered; the ledger moves the units depot -> transit -> out, the
//! balances agree with the movements at every step, the serial's trail
//! shows the way, the single view shows status and tracking; retries
//! change nothing; a cancelled shipment returns its units; another depot's
//! manager cannot touch it; bad input is a 4xx. And the "parts to send"
//! section in headless Chromium.

use fieldsync_core::{LocationId, Role};
use fieldsync_server::shipments::model::transit_of;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, actor, backend_tests, spawn_app};
use crate::setup::{self, Depot, movement, ok, on_hand};
use crate::support::{Made, call, customer};

backend_tests!(
    a_shipment_travels_the_ledger_to_the_customer,
    a_shipped_unit_returned_and_received_has_one_history
);

struct World {
    app: TestApp,
    d: Depot,
    office: String,
    acme: Made,
}

/// The inventory fixture (North depot: 6 VALVE-22 and PUMP-7 SN-2 on the
/// shelf) and a customer served by it, made by a dispatcher.
async fn world(backend: TestBackend) -> World {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(70)).await.access_token;
    let north = d.depot.to_string();
    let acme = customer(&app, &office, &north, "Acme Boilers", "BX-9", "2031-01-31").await;
    World {
        app,
        d,
        office,
        acme,
    }
}

fn order(w: &World, id: Uuid, sku: &str, quantity: i64, serials: &[&str]) -> Value {
    json!({
        "id": id, "customer_id": w.acme.customer, "site_id": w.acme.site,
        "depot_id": w.d.depot, "sku": sku, "quantity": quantity, "serials": serials,
        "note": "replacement under warranty",
    })
}

async fn stock(w: &World) -> Value {
    ok(
        &w.app,
        Method::GET,
        &w.d.manager,
        "/v1/inventory/stock",
        None,
    )
    .await
}

/// The maintained balances equal the sum of the movements.
async fn ledger_agrees(app: &TestApp) {
    assert_eq!(
        app.store.balances().await.unwrap(),
        app.store.balances_from_movements().await.unwrap()
    );
}

async fn a_shipment_travels_the_ledger_to_the_customer(backend: TestBackend) {
    let w = world(backend).await;
    let (app, mgr) = (&w.app, w.d.manager.as_str());
    let depot = w.d.depot;
    let transit: LocationId = transit_of(depot);
    let s0 = stock(&w).await;
    assert_eq!(on_hand(&s0, depot, "VALVE-22"), 6);
    assert_eq!(on_hand(&s0, depot, "PUMP-7"), 1);

    // 1. The shipping team orders a valve and the pump SN-2 to Acme's site.
    let valve = Uuid::new_v4();
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, valve, "VALVE-22", 2, &[])),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "ordered");
    assert_eq!(v["tracking"], Value::Null);
    //    A retry answers the stored order; the id with another order is a 409.
    let (st, again) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, valve, "VALVE-22", 2, &[])),
    )
    .await;
    assert_eq!((st, &again["ordered_at"]), (200, &v["ordered_at"]));
    let (st, e) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, valve, "VALVE-22", 3, &[])),
    )
    .await;
    assert_eq!(st, 409, "{e}");
    let pump = Uuid::new_v4();
    let (st, p) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, pump, "PUMP-7", 1, &["SN-2"])),
    )
    .await;
    assert_eq!(st, 201, "{p}");
    //    Ordering moves no stock.
    assert_eq!(on_hand(&stock(&w).await, depot, "VALVE-22"), 6);

    // 2. Picked, then dispatched with a tracking reference: the depot's
    //    stock drops, the transit holding has the units.
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{valve}/pick"),
        None,
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("picked")), "{v}");
    let track = json!({"tracking": {"carrier": "CTT", "reference": "EA123456789PT"}});
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{valve}/dispatch"),
        Some(track.clone()),
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("in_transit")), "{v}");
    assert_eq!(
        v["tracking"],
        json!({"carrier": "CTT", "reference": "EA123456789PT"})
    );
    assert!(v["dispatched_at"].is_string());
    //    A retried dispatch moves nothing twice.
    let (st, _) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{valve}/dispatch"),
        Some(track),
    )
    .await;
    assert_eq!(st, 200);
    let s1 = stock(&w).await;
    assert_eq!(on_hand(&s1, depot, "VALVE-22"), 4);
    assert_eq!(on_hand(&s1, transit, "VALVE-22"), 2);
    ledger_agrees(app).await;
    //    The tracking reference can be corrected until delivery.
    let (st, v) = call(
        app,
        Method::PUT,
        mgr,
        &format!("/v1/shipments/{valve}/tracking"),
        Some(json!({"carrier": "DHL", "reference": "JD0146000012345"})),
    )
    .await;
    assert_eq!(
        (st, v["tracking"]["carrier"].as_str()),
        (200, Some("DHL")),
        "{v}"
    );

    // 3. Delivered: out of the transit holding, to the customer's site.
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{valve}/deliver"),
        None,
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("delivered")), "{v}");
    let (st, _) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{valve}/deliver"),
        None,
    )
    .await;
    assert_eq!(st, 200, "a retried delivery");
    let s2 = stock(&w).await;
    assert_eq!(on_hand(&s2, depot, "VALVE-22"), 4);
    assert_eq!(on_hand(&s2, transit, "VALVE-22"), 0);
    let delivered: i64 = ok(
        app,
        Method::GET,
        mgr,
        &format!("/v1/inventory/movements?location={transit}&sku=VALVE-22"),
        None,
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .filter(|m| m["kind"] == "delivery")
    .map(|m| m["quantity"].as_i64().unwrap())
    .sum();
    assert_eq!(delivered, 2, "depot 6 = 4 on the shelf + 2 delivered");
    ledger_agrees(app).await;
    let (st, e) = call(
        app,
        Method::PUT,
        mgr,
        &format!("/v1/shipments/{valve}/tracking"),
        Some(json!({"carrier": "DHL", "reference": "X"})),
    )
    .await;
    assert_eq!(st, 409, "tracking is fixed once delivered: {e}");
    let (st, e) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{valve}/cancel"),
        None,
    )
    .await;
    assert_eq!(st, 409, "{e}");

    // 4. The serialized pump: its trail shows received, shipped, delivered.
    for step in ["dispatch", "deliver"] {
        let body = (step == "dispatch").then(|| json!({}));
        let (st, v) = call(
            app,
            Method::POST,
            mgr,
            &format!("/v1/shipments/{pump}/{step}"),
            body,
        )
        .await;
        assert_eq!(st, 200, "{step}: {v}");
    }
    //    The office's retry of the order, after delivery, is still the
    //    same shipment (not a new order of a unit no longer on the shelf).
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, pump, "PUMP-7", 1, &["SN-2"])),
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("delivered")), "{v}");
    let trail = ok(
        app,
        Method::GET,
        mgr,
        "/v1/inventory/movements?sku=PUMP-7&serial=SN-2",
        None,
    )
    .await;
    let kinds: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delivery", "shipment", "receipt"], "{trail}");
    assert!(
        trail[0]["note"].as_str().unwrap().contains(&w.acme.site),
        "{trail}"
    );
    assert_eq!(trail[1]["to"], transit.to_string());
    let units = ok(
        app,
        Method::GET,
        &w.d.admin,
        "/v1/inventory/serials?sku=PUMP-7",
        None,
    )
    .await;
    let sn2 = units
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["serial"] == "SN-2")
        .unwrap();
    assert_eq!(sn2["location_id"], Value::Null, "no longer in stock: {sn2}");
    assert_eq!(on_hand(&stock(&w).await, depot, "PUMP-7"), 0);
    ledger_agrees(app).await;

    // 5. Cancelling a dispatched shipment returns its units to the depot.
    let back = Uuid::new_v4();
    let (st, _) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, back, "VALVE-22", 3, &[])),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{back}/dispatch"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(on_hand(&stock(&w).await, depot, "VALVE-22"), 1);
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{back}/cancel"),
        None,
    )
    .await;
    assert_eq!((st, v["status"].as_str()), (200, Some("cancelled")), "{v}");
    let (st, _) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{back}/cancel"),
        None,
    )
    .await;
    assert_eq!(st, 200, "a retried cancel");
    let s3 = stock(&w).await;
    assert_eq!(on_hand(&s3, depot, "VALVE-22"), 4);
    assert_eq!(on_hand(&s3, transit, "VALVE-22"), 0);
    ledger_agrees(app).await;
    //    More than the shelf holds cannot leave it.
    let big = Uuid::new_v4();
    let (st, _) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, big, "VALVE-22", 5, &[])),
    )
    .await;
    assert_eq!(st, 201);
    let (st, e) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{big}/dispatch"),
        Some(json!({})),
    )
    .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("holds 4"),
        "{e}"
    );
    assert_eq!(on_hand(&stock(&w).await, depot, "VALVE-22"), 4);

    // 6. The customer's single view shows the shipments, status and tracking.
    let view = ok(
        app,
        Method::GET,
        &w.office,
        &format!("/v1/customers/{}", w.acme.customer),
        None,
    )
    .await;
    let shipments = view["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 4, "{view}");
    let find = |id: Uuid| {
        shipments
            .iter()
            .find(|s| s["id"] == id.to_string())
            .unwrap()
    };
    assert_eq!(find(valve)["status"], "delivered");
    assert_eq!(find(valve)["tracking"]["reference"], "JD0146000012345");
    assert_eq!(find(pump)["serials"], json!(["SN-2"]));
    assert_eq!(find(back)["status"], "cancelled");
    assert_eq!(find(big)["status"], "ordered");
    let asset = ok(app, Method::GET, &w.office, "/v1/assets/BX-9", None).await;
    assert_eq!(
        asset["shipments"].as_array().unwrap().len(),
        4,
        "to the asset's site"
    );

    // 7. Another depot's manager cannot see or touch them; a technician or
    //    a dispatcher is not the shipping team.
    let south = ok(
        app,
        Method::POST,
        &w.d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South depot"})),
    )
    .await;
    let south = south["id"].as_str().unwrap().to_owned();
    let other = app.user("mgr2", Role::InventoryManager).await;
    ok(
        app,
        Method::POST,
        &w.d.admin,
        &format!("/v1/inventory/locations/{south}/staff"),
        Some(json!({"user_id": other.to_string()})),
    )
    .await;
    let mgr2 = app.login("mgr2", &actor(71)).await.access_token;
    for (method, path, body) in [
        (Method::GET, format!("/v1/shipments/{big}"), None),
        (
            Method::POST,
            format!("/v1/shipments/{big}/dispatch"),
            Some(json!({})),
        ),
        (Method::POST, format!("/v1/shipments/{big}/cancel"), None),
        (
            Method::PUT,
            format!("/v1/shipments/{big}/tracking"),
            Some(json!({"carrier": "CTT", "reference": "R"})),
        ),
        (
            Method::POST,
            "/v1/shipments".to_owned(),
            Some(order(&w, Uuid::new_v4(), "VALVE-22", 1, &[])),
        ),
    ] {
        let (st, e) = call(app, method, &mgr2, &path, body).await;
        assert_eq!(st, 404, "{path}: {e}");
    }
    let list = ok(app, Method::GET, &mgr2, "/v1/shipments", None).await;
    assert_eq!(list["shipments"], json!([]));
    let mine = ok(app, Method::GET, mgr, "/v1/shipments?status=ordered", None).await;
    assert_eq!(mine["shipments"].as_array().unwrap().len(), 1);
    let (st, _) = call(app, Method::GET, mgr, "/v1/shipments?status=lost", None).await;
    assert_eq!(st, 400);
    let tech = app.login("tech", &actor(72)).await.access_token;
    for token in [&tech, &w.office] {
        let (st, _) = call(
            app,
            Method::POST,
            token,
            "/v1/shipments",
            Some(order(&w, Uuid::new_v4(), "VALVE-22", 1, &[])),
        )
        .await;
        assert_eq!(st, 403);
    }
    assert_eq!(
        on_hand(&stock(&w).await, depot, "VALVE-22"),
        4,
        "nothing moved"
    );

    // 8. Bad input: a clear 400, nothing stored.
    let mut bad_site = order(&w, Uuid::new_v4(), "VALVE-22", 1, &[]);
    bad_site["site_id"] = json!(Uuid::new_v4());
    let mut card = order(&w, Uuid::new_v4(), "VALVE-22", 1, &[]);
    card["note"] = json!("paid with 4111 1111 1111 1111");
    let mut bad_depot = order(&w, Uuid::new_v4(), "VALVE-22", 1, &[]);
    bad_depot["depot_id"] = json!(w.d.van);
    for (body, why) in [
        (order(&w, Uuid::new_v4(), "VALVE-22", 0, &[]), "quantity"),
        (order(&w, Uuid::new_v4(), "PUMP-7", 1, &[]), "serialized"),
        (
            order(&w, Uuid::new_v4(), "PUMP-7", 1, &["SN-1"]),
            "not at the depot",
        ),
        (
            order(&w, Uuid::new_v4(), "VALVE-22", 1, &["X"]),
            "not serialized",
        ),
        (order(&w, Uuid::new_v4(), "NOPE-1", 1, &[]), "unknown sku"),
        (bad_site, "site"),
        (card, "note"),
        (bad_depot, "not a depot"),
    ] {
        let (st, e) = call(app, Method::POST, mgr, "/v1/shipments", Some(body)).await;
        assert_eq!(st, 400, "{why}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(why),
            "{why}: {e}"
        );
    }
    let (st, e) = call(
        app,
        Method::POST,
        mgr,
        &format!("/v1/shipments/{big}/deliver"),
        None,
    )
    .await;
    assert_eq!(st, 409, "not dispatched: {e}");
    //    The transit holding moves by shipments only.
    let res = movement(app, mgr, json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 1, "from": depot, "to": transit})).await;
    assert_eq!(res.status(), 400);
    let res = movement(app, mgr, json!({"id": Uuid::new_v4(), "kind": "delivery", "sku": "VALVE-22", "quantity": 1, "from": depot})).await;
    assert_eq!(res.status(), 400);
    let (st, e) = call(
        app,
        Method::PUT,
        mgr,
        &format!("/v1/inventory/locations/{transit}/reorder/VALVE-22"),
        Some(json!({"reorder_point": 1, "reorder_quantity": 1})),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let listed = ok(app, Method::GET, mgr, "/v1/shipments", None).await;
    assert_eq!(
        listed["shipments"].as_array().unwrap().len(),
        4,
        "no bad order was stored"
    );
    ledger_agrees(app).await;

    // 9. The routes are in /openapi.json.
    let doc = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let doc: Value = doc.json().await.unwrap();
    for (path, method) in [
        ("/v1/shipments", "post"),
        ("/v1/shipments", "get"),
        ("/v1/shipments/{id}", "get"),
        ("/v1/shipments/{id}/pick", "post"),
        ("/v1/shipments/{id}/dispatch", "post"),
        ("/v1/shipments/{id}/deliver", "post"),
        ("/v1/shipments/{id}/cancel", "post"),
        ("/v1/shipments/{id}/tracking", "put"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    assert!(doc["components"]["schemas"]["CustomerView"]["properties"]["shipments"].is_object());
}

/// Waits (bounded) until `css`'s text is `want`.
async fn wait_text(b: &crate::webdriver::Browser, css: &str, want: &str) {
    let mut got = String::new();
    for _ in 0..100 {
        got = b
            .eval(&format!(
                "const e = document.querySelector({}); return e ? e.textContent.trim() : '';",
                json!(css)
            ))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if got == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css}: {got:?}, not {want:?}");
}

/// The "parts to send" section of the shipping queue in headless Chromium
/// (one backend: the section calls the same service as the API, which the
/// tests above run on both): reached by the one "Shipping" menu entry (its
/// old address redirects there), a depot manager marks a valve picked,
/// dispatches it with a tracking reference and marks it delivered; the
/// ledger follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_to_send_section_dispatches_and_delivers_in_a_browser() {
    use crate::webdriver::{Browser, LAPTOP};
    let w = world(TestBackend::Sqlite).await;
    let (app, mgr) = (&w.app, w.d.manager.as_str());
    let depot = w.d.depot;
    let valve = Uuid::new_v4();
    let pump = Uuid::new_v4();
    for (id, sku, n, serials) in [
        (valve, "VALVE-22", 2, &[][..]),
        (pump, "PUMP-7", 1, &["SN-2"][..]),
    ] {
        let (st, v) = call(
            app,
            Method::POST,
            mgr,
            "/v1/shipments",
            Some(order(&w, id, sku, n, serials)),
        )
        .await;
        assert_eq!(st, 201, "{v}");
    }

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "mgr", crate::helpers::PASSWORD)
        .await;
    // The section's old address leads to the one shipping queue page.
    b.goto(&app.url("/console/shipping/parts")).await;
    b.wait_for_path(|p| p == "/console/shipping").await;
    // One menu entry for the queue, which holds both sections.
    b.goto(&app.url("/console")).await;
    let entries = b
        .eval("return [...document.querySelectorAll('header nav a')].map(a => a.getAttribute('href')).filter(h => h.startsWith('/console/shipping'));")
        .await;
    assert_eq!(entries, json!(["/console/shipping"]));
    b.click("header nav a[href='/console/shipping']").await;
    b.wait_for_path(|p| p == "/console/shipping").await;
    assert_eq!(b.text("#parts-to-send h2").await, "Parts to send");
    assert_eq!(b.text("main h2").await, "RMAs to receive");
    let row = format!("tr[data-shipment='{valve}']");
    assert_eq!(b.text(&format!("{row} td.status")).await, "ordered");
    assert_eq!(
        b.text(&format!("{row} td.to")).await,
        "Acme Boilers, Head office: Rua das Flores 1, Porto"
    );
    assert_eq!(
        b.text(&format!("tr[data-shipment='{pump}'] td.serials"))
            .await,
        "SN-2"
    );

    // Picked, then dispatched with the carrier's reference.
    b.click(&format!("{row} form.pick button")).await;
    wait_text(&b, &format!("{row} td.status"), "picked").await;
    b.type_into(&format!("{row} form.dispatch input[name='carrier']"), "CTT")
        .await;
    b.type_into(
        &format!("{row} form.dispatch input[name='reference']"),
        "EA123456789PT",
    )
    .await;
    b.click(&format!("{row} form.dispatch button")).await;
    wait_text(&b, &format!("{row} td.status"), "in transit").await;
    assert_eq!(
        b.text(&format!("{row} td.tracking")).await,
        "CTT EA123456789PT"
    );
    let s = stock(&w).await;
    assert_eq!(on_hand(&s, depot, "VALVE-22"), 4);
    assert_eq!(on_hand(&s, transit_of(depot), "VALVE-22"), 2);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let shot = dir.join("shipping-parts-to-send.png");
    let bytes = b.screenshot(&shot).await;
    assert!(bytes > 1000, "{bytes} bytes");
    assert_eq!(&std::fs::read(&shot).unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // Delivered: it leaves the queue, and the ledger's transit holding.
    b.click(&format!("{row} form.deliver button")).await;
    let mut left = json!(1);
    for _ in 0..100 {
        left = b
            .eval(&format!(
                "return document.querySelectorAll({}).length;",
                json!(row)
            ))
            .await;
        if left == json!(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, json!(0), "a delivered shipment is no longer to send");
    assert_eq!(
        b.text(&format!("tr[data-shipment='{pump}'] td.status"))
            .await,
        "ordered"
    );

    // The office answering Acme's call sees it on the customer's page.
    b.console_login(&app.url(""), "dispatch", crate::helpers::PASSWORD)
        .await;
    b.goto(&app.url(&format!("/console/customers/{}", w.acme.customer)))
        .await;
    let shipped = format!("#shipments tr[data-shipment='{valve}']");
    assert_eq!(b.text(&format!("{shipped} td.status")).await, "delivered");
    assert_eq!(
        b.text(&format!("{shipped} td.tracking")).await,
        "CTT EA123456789PT"
    );
    // The day the server recorded (its clock, UTC).
    let stored = ok(
        app,
        Method::GET,
        mgr,
        &format!("/v1/shipments/{valve}"),
        None,
    )
    .await;
    let day = &stored["delivered_at"].as_str().unwrap()[..10];
    assert_eq!(b.text(&format!("{shipped} td.delivered")).await, day);
    assert_eq!(
        b.text(&format!("#shipments tr[data-shipment='{pump}'] td.status"))
            .await,
        "ordered"
    );
    b.quit().await;
    let v = ok(
        app,
        Method::GET,
        mgr,
        &format!("/v1/shipments/{valve}"),
        None,
    )
    .await;
    assert_eq!(v["status"], "delivered");
    assert_eq!(v["tracking"]["reference"], "EA123456789PT");
    let s = stock(&w).await;
    assert_eq!(on_hand(&s, depot, "VALVE-22"), 4);
    assert_eq!(on_hand(&s, transit_of(depot), "VALVE-22"), 0);
    ledger_agrees(app).await;
}

/// The serial's history (`/v1/returns/trail`) tells the whole path of a
/// unit shipped to a customer and later returned: shipped, delivered,
/// returned (the RMA number), received; its ledger steps are the ledger's
/// own movements of the unit (`/v1/inventory/movements`).
async fn a_shipped_unit_returned_and_received_has_one_history(backend: TestBackend) {
    let w = world(backend).await;
    let (app, mgr) = (&w.app, w.d.manager.as_str());
    let depot = w.d.depot;
    let transit: LocationId = transit_of(depot);

    // Shipped to Acme's site and delivered.
    let pump = Uuid::new_v4();
    let (st, v) = call(
        app,
        Method::POST,
        mgr,
        "/v1/shipments",
        Some(order(&w, pump, "PUMP-7", 1, &["SN-2"])),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    for step in ["dispatch", "deliver"] {
        let body = (step == "dispatch").then(|| json!({}));
        let (st, v) = call(
            app,
            Method::POST,
            mgr,
            &format!("/v1/shipments/{pump}/{step}"),
            body,
        )
        .await;
        assert_eq!(st, 200, "{step}: {v}");
    }

    // Later the customer sends it back: the office opens a return and the
    // depot receives it into stock.
    let rid = Uuid::new_v4();
    let opened = ok(
        app,
        Method::POST,
        &w.office,
        "/v1/returns",
        Some(json!({"id": rid, "sku": "PUMP-7", "serial": "SN-2",
            "reason": "Not the model ordered", "condition": "unused",
            "depot_id": depot, "customer_id": w.acme.customer})),
    )
    .await;
    let number = opened["rma_number"].as_str().unwrap().to_owned();
    let back = Uuid::new_v4();
    ok(
        app,
        Method::POST,
        mgr,
        &format!("/v1/returns/{rid}/receive"),
        Some(json!({"movement_id": back, "depot_id": depot, "disposition": "restock"})),
    )
    .await;
    assert_eq!(on_hand(&stock(&w).await, depot, "PUMP-7"), 1);

    // The ledger's trail of the unit, oldest first.
    let ledger = ok(
        app,
        Method::GET,
        mgr,
        "/v1/inventory/movements?sku=PUMP-7&serial=SN-2",
        None,
    )
    .await;
    let mut ledger = ledger.as_array().unwrap().clone();
    ledger.reverse();
    let kinds: Vec<&str> = ledger.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["receipt", "shipment", "delivery", "return"],
        "{ledger:?}"
    );

    // The serial's history: the same story, in time order, for the
    // shipping team and the office alike.
    for who in [mgr, w.office.as_str()] {
        let trail = ok(
            app,
            Method::GET,
            who,
            "/v1/returns/trail?sku=PUMP-7&serial=SN-2",
            None,
        )
        .await;
        let steps = trail.as_array().unwrap();
        let events: Vec<&str> = steps.iter().map(|s| s["event"].as_str().unwrap()).collect();
        assert_eq!(
            events,
            ["shipped", "delivered", "returned", "received"],
            "{trail}"
        );
        let at: Vec<time::OffsetDateTime> = steps
            .iter()
            .map(|s| {
                time::OffsetDateTime::parse(
                    s["at"].as_str().unwrap(),
                    &time::format_description::well_known::Rfc3339,
                )
                .unwrap()
            })
            .collect();
        assert!(at.windows(2).all(|p| p[0] <= p[1]), "{trail}");
        // Each ledger step is the ledger's movement of the unit.
        assert_eq!(steps[0]["movement_id"], ledger[1]["id"], "{trail}");
        assert_eq!(steps[0]["location_id"], depot.to_string());
        assert!(
            steps[0]["detail"].as_str().unwrap().contains(&w.acme.site),
            "{trail}"
        );
        assert_eq!(steps[1]["movement_id"], ledger[2]["id"], "{trail}");
        assert_eq!(steps[1]["location_id"], transit.to_string());
        assert_eq!(steps[2]["rma_number"], number);
        assert_eq!(steps[3]["rma_number"], number);
        assert_eq!(steps[3]["disposition"], "restock");
        assert_eq!(steps[3]["movement_id"], back.to_string());
        assert_eq!(steps[3]["movement_id"], ledger[3]["id"]);
        assert_eq!(steps[3]["location_id"], depot.to_string());
    }

    // A technician sees no return of this unit, nor its shipment.
    let tech = app.login("tech", &actor(71)).await.access_token;
    let trail = ok(
        app,
        Method::GET,
        &tech,
        "/v1/returns/trail?sku=PUMP-7&serial=SN-2",
        None,
    )
    .await;
    assert_eq!(trail, json!([]));
}
