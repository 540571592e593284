//! The console in headless Chromium (chromedriver over raw WebDriver): a
//! depot manager logs in, finds a low-stock part, transfers to the van and
//! sees the stock change. Screenshot: target/test-artifacts/inventory-transfer.png.

use anyhow::Result;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, spawn_app_with};
use crate::setup::{self, ok, on_hand};
use crate::webdriver::{Browser, LAPTOP};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depot_manager_transfers_low_stock_to_a_van() -> Result<()> {
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    // The van uses two valves: 2 left, below its reorder point of 3.
    let res = setup::movement(&app, &d.manager, json!({
        "id": Uuid::new_v4(), "kind": "consumption", "sku": "VALVE-22", "quantity": 2, "from": d.van,
    })).await;
    assert_eq!(res.status(), 201);

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "mgr", PASSWORD).await;
    // The console's home is the day's figures; the stock page is one link on.
    b.goto(&app.url("/console/inventory/stock")).await;

    // The stock page marks the van's valves low; its link opens the transfer form.
    let low = format!(
        "table[data-location='{}'] tr.low[data-sku='VALVE-22']",
        d.van
    );
    assert_eq!(b.text(&format!("{low} td.qty")).await, "2");
    b.click(&format!("{low} a.transfer")).await;
    b.type_into("#quantity", "5").await;
    b.click("#submit").await;

    assert_eq!(b.text("#notice").await, "Transfer recorded.");
    let row = format!("table[data-location='{}'] tr[data-sku='VALVE-22']", d.van);
    assert_eq!(b.text(&format!("{row} td.qty")).await, "7");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir)?;
    let bytes = b.screenshot(&dir.join("inventory-transfer.png")).await;
    assert!(bytes > 1000);
    b.quit().await;

    // The ledger agrees: 6 - 5 in the depot, 2 + 5 in the van.
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), 1);
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 7);
    Ok(())
}

/// The cycle count on a tablet-sized window: the manager counts the van,
/// posts the sheet, and the API's balances are the counted quantities;
/// posting the same sheet again changes nothing. Screenshot:
/// target/test-artifacts/inventory-cycle-count.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depot_manager_completes_a_cycle_count() -> Result<()> {
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    let b = Browser::start((800, 1100)).await;
    b.console_login(&app.url(""), "mgr", PASSWORD).await;

    // The van holds 4 valves and pump SN-1; the count finds 3 valves and
    // SN-1 plus SN-5, which the ledger did not know.
    b.goto(&app.url(&format!("/console/inventory/count?location={}", d.van)))
        .await;
    assert_eq!(b.text("tr[data-sku='VALVE-22'] td.expected").await, "4");
    b.type_into("#count-VALVE-22", "3").await;
    b.click("#found-PUMP-7-SN-1").await;
    b.type_into("#extra-PUMP-7", "SN-5").await;
    // What the sheet will post, to post it again below.
    let fields = b
        .eval("return new URLSearchParams(new FormData(document.querySelector('#count-sheet'))).toString();")
        .await;
    let fields = fields.as_str().unwrap().to_owned();
    b.click("#post-count").await;
    b.wait_for_path(|p| p.contains("posted=")).await;
    assert_eq!(
        b.text("#notice").await,
        "Count posted: 2 adjustment(s) recorded."
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let bytes = b.screenshot(&dir.join("inventory-cycle-count.png")).await;
    assert!(bytes > 1000);

    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 3);
    assert_eq!(on_hand(&stock, d.van, "PUMP-7"), 2);
    let moves = crate::raw::sql_count(&app, "SELECT COUNT(*) FROM stock_movements").await;

    // The same sheet posted again (a double submit, or a resent form).
    // Built as a plain form from the fields captured above, so the browser
    // posts it exactly as the sheet did.
    b.eval(&format!(
        "var f = document.createElement('form'); f.method = 'post'; \
         f.action = '/console/inventory/count'; \
         for (const [k, v] of new URLSearchParams('{fields}')) {{ \
           var i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }} \
         document.body.appendChild(f); f.submit(); return null;"
    ))
    .await;
    b.wait_for_path(|p| p.ends_with("posted=0")).await;
    assert_eq!(
        b.text("#notice").await,
        "Count posted: 0 adjustment(s) recorded."
    );
    b.quit().await;
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 3);
    assert_eq!(on_hand(&stock, d.van, "PUMP-7"), 2);
    assert_eq!(
        crate::raw::sql_count(&app, "SELECT COUNT(*) FROM stock_movements").await,
        moves
    );
    Ok(())
}
