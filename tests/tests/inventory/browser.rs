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
    b.goto(&app.url("/console/login")).await;
    b.type_into("#username", "mgr").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#login").await;

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
