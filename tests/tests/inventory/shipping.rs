//! The shipping queue in headless Chromium: the depot manager sees the RMAs
//! to receive (and the "Parts to send" section beside them), opens a
//! packing slip (print CSS), and receives one for
//! scrap through the page; the ledger agrees. A technician gets the 403
//! page. Screenshot: target/test-artifacts/shipping-queue.png.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, spawn_app_with};
use crate::setup::{self, ok, on_hand};
use crate::webdriver::{Browser, LAPTOP};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipping_queue_receives_an_rma_and_prints_its_packing_slip() {
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    app.user("dispatch", Role::Dispatcher).await;
    let dispatcher = app
        .login("dispatch", &crate::helpers::actor(216))
        .await
        .access_token;
    let mut numbers = Vec::new();
    for (serial, reason) in [("V-1", "Wrong size"), ("V-2", "Cracked housing")] {
        let body = json!({"id": Uuid::new_v4(), "sku": "VALVE-22", "serial": serial,
            "reason": reason, "condition": "damaged", "depot_id": d.depot});
        let r = ok(&app, Method::POST, &dispatcher, "/v1/returns", Some(body)).await;
        numbers.push(r["rma_number"].as_str().unwrap().to_owned());
    }
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    let before = on_hand(&stock, d.depot, "VALVE-22");

    let base = app.url("");
    let b = Browser::start(LAPTOP).await;
    b.console_login(&base, "mgr", PASSWORD).await;
    b.goto(&app.url("/console/shipping")).await;
    assert_eq!(b.text("#rmas-to-receive h2").await, "RMAs to receive");
    // The shipments' section shares the page.
    assert_eq!(b.text("#parts-to-send h2").await, "Parts to send");
    let rows = b
        .eval("return [...document.querySelectorAll('#rmas-to-receive tr[data-rma]')].map(r => r.dataset.rma);")
        .await;
    assert_eq!(rows, json!(numbers));
    let row = format!("#rmas-to-receive tr[data-rma='{}']", numbers[1]);
    assert_eq!(b.text(&format!("{row} td.serial")).await, "V-2");

    // The packing slip: the RMA number, what is inside, where it goes, and
    // a print style sheet.
    b.click(&format!("{row} td.rma a")).await;
    b.wait_for_path(|p| p.ends_with("/slip")).await;
    assert_eq!(b.text("#rma-number").await, numbers[1]);
    assert_eq!(b.text("#serial").await, "V-2");
    assert_eq!(b.text("#reason").await, "Cracked housing");
    assert_eq!(b.text("#depot").await, "North depot");
    let print = b
        .eval("return [...document.styleSheets].flatMap(s => [...s.cssRules]).some(r => r.media && r.media.mediaText === 'print');")
        .await;
    assert_eq!(print, json!(true), "the slip has print CSS");

    // Receive the second one for scrap through the page.
    b.goto(&app.url("/console/shipping")).await;
    b.click(&format!(
        "{row} select[name=disposition] option[value=scrap]"
    ))
    .await;
    b.click(&format!("{row} button")).await;
    b.wait_for_path(|p| p.contains("received=")).await;
    assert_eq!(
        b.text("#message").await,
        format!("Received {}.", numbers[1])
    );
    let rows = b
        .eval("return [...document.querySelectorAll('#rmas-to-receive tr[data-rma]')].map(r => r.dataset.rma);")
        .await;
    assert_eq!(rows, json!([numbers[0].clone()]));
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let bytes = b.screenshot(&dir.join("shipping-queue.png")).await;
    assert!(bytes > 1000);

    // A technician has no shipping queue: no menu entry, the 403 page.
    b.console_login(&base, "tech", PASSWORD).await;
    let entries = b
        .eval("return document.querySelectorAll(\"a[href='/console/shipping']\").length;")
        .await;
    assert_eq!(entries, json!(0));
    b.goto(&app.url("/console/shipping")).await;
    assert_eq!(b.text("h1").await, "403 Forbidden");
    b.quit().await;

    // The ledger: the scrap unit came back into the depot and was held off
    // its sellable stock.
    let all = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/returns?status=received",
        None,
    )
    .await;
    let received = &all["returns"][0];
    assert_eq!(received["rma_number"], numbers[1]);
    assert_eq!(received["disposition"], "scrap");
    let moves = ok(
        &app,
        Method::GET,
        &d.manager,
        &format!("/v1/inventory/movements?location={}&limit=1000", d.depot),
        None,
    )
    .await;
    let ret: Vec<&Value> = moves
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["note"].as_str().is_some_and(|n| n.contains(&numbers[1])))
        .collect();
    let kinds: Vec<&str> = ret.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"return") && kinds.contains(&"adjustment"),
        "{kinds:?}"
    );
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), before);
}
