//! The receipt and adjustment forms over plain HTTP form posts (with the
//! session's CSRF token): their effect on balances, a double submit
//! recorded once, bad input refused with nothing written.

use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::json;

use crate::console_client::Console;
use crate::helpers::{backend_tests, spawn_app_with};
use crate::raw::sql_count;
use crate::setup::{self, ok, on_hand};

backend_tests!(
    receipt_and_adjustment_forms_move_stock_once,
    bad_receipts_and_adjustments_write_nothing,
);

/// A bad post: form, its fields (besides csrf, id and direction), status, message.
type Case<'a> = (&'a str, [(&'a str, &'a str); 4], u16, &'a str);

const MOVES: &str = "SELECT COUNT(*) FROM stock_movements";

async fn receipt_and_adjustment_forms_move_stock_once(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    let mut c = Console::new(&app);
    let csrf = c.login("mgr").await;
    let depot = d.depot.to_string();
    let van = d.van.to_string();

    let page = c
        .get("/console/inventory/receipt")
        .await
        .text()
        .await
        .unwrap();
    let id = Console::hidden(&page, "id");
    let form = [
        ("csrf", csrf.as_str()),
        ("id", &id),
        ("sku", "VALVE-22"),
        ("location", &depot),
        ("quantity", "5"),
        ("note", "delivery note 4471"),
    ];
    let res = c.post("/console/inventory/receipt", &form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let done = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        c.get(&done)
            .await
            .text()
            .await
            .unwrap()
            .contains("Receipt recorded.")
    );
    // The double submit: the same form id records nothing more.
    let moves = sql_count(&app, MOVES).await;
    assert_eq!(
        c.post("/console/inventory/receipt", &form).await.status(),
        303
    );
    assert_eq!(sql_count(&app, MOVES).await, moves);

    let page = c
        .get("/console/inventory/adjustment")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("cycle count"), "{page}");
    let id = Console::hidden(&page, "id");
    let form = [
        ("csrf", csrf.as_str()),
        ("id", &id),
        ("sku", "VALVE-22"),
        ("location", &van),
        ("reason", "damage"),
        ("direction", "out"),
        ("quantity", "2"),
        ("note", ""),
    ];
    let res = c.post("/console/inventory/adjustment", &form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        c.post("/console/inventory/adjustment", &form)
            .await
            .status(),
        303
    );
    // A serialized unit found: added with its serial.
    let page = c
        .get("/console/inventory/adjustment")
        .await
        .text()
        .await
        .unwrap();
    let id = Console::hidden(&page, "id");
    let res = c
        .post(
            "/console/inventory/adjustment",
            &[
                ("csrf", csrf.as_str()),
                ("id", &id),
                ("sku", "PUMP-7"),
                ("location", &depot),
                ("reason", "cycle_count"),
                ("direction", "in"),
                ("quantity", "1"),
                ("serials", "SN-3"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());

    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), 11);
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 2);
    assert_eq!(on_hand(&stock, d.depot, "PUMP-7"), 2);
    assert_eq!(
        sql_count(
            &app,
            "SELECT COUNT(*) FROM stock_movements WHERE kind = 'adjustment' AND reason = 'damage' AND quantity = 2"
        )
        .await,
        1
    );
}

async fn bad_receipts_and_adjustments_write_nothing(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    let other = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South depot"})),
    )
    .await;
    let other = other["id"].as_str().unwrap().to_owned();
    let mut c = Console::new(&app);
    let csrf = c.login("mgr").await;
    let depot = d.depot.to_string();
    let moves = sql_count(&app, MOVES).await;

    let id = uuid::Uuid::new_v4().to_string();
    let cases: [Case; 6] = [
        (
            "receipt",
            [
                ("sku", "VALVE-22"),
                ("location", &depot),
                ("quantity", "-3"),
                ("note", ""),
            ],
            400,
            "whole number from 1",
        ),
        (
            "receipt",
            [
                ("sku", "NOPE-1"),
                ("location", &depot),
                ("quantity", "3"),
                ("note", ""),
            ],
            400,
            "Unknown part NOPE-1",
        ),
        (
            "receipt",
            [
                ("sku", "VALVE-22"),
                ("location", &other),
                ("quantity", "3"),
                ("note", ""),
            ],
            404,
            "ot found",
        ),
        (
            "adjustment",
            [
                ("sku", "VALVE-22"),
                ("location", &depot),
                ("quantity", "0"),
                ("reason", "damage"),
            ],
            400,
            "whole number from 1",
        ),
        (
            "adjustment",
            [
                ("sku", "VALVE-22"),
                ("location", &depot),
                ("quantity", "1"),
                ("reason", "theft"),
            ],
            400,
            "Reason must be",
        ),
        // A serialized part needs its serials.
        (
            "adjustment",
            [
                ("sku", "PUMP-7"),
                ("location", &depot),
                ("quantity", "1"),
                ("reason", "loss"),
            ],
            400,
            "one serial per unit",
        ),
    ];
    for (kind, fields, status, msg) in cases {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("id", id.as_str()),
            ("direction", "out"),
        ];
        form.extend(fields);
        let res = c.post(&format!("/console/inventory/{kind}"), &form).await;
        assert_eq!(res.status().as_u16(), status, "{kind} {fields:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains(msg), "{kind} {fields:?}: {body}");
        assert_eq!(sql_count(&app, MOVES).await, moves, "{kind} {fields:?}");
    }
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), 6);
}
