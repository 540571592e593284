//! The cycle-count sheet over plain HTTP form posts (with the session's
//! CSRF token): counted quantities and serials become `cycle_count`
//! adjustments once; bad input is refused and writes nothing.

use fieldsync_core::LocationId;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::json;

use crate::console_client::Console;
use crate::helpers::{TestApp, backend_tests, spawn_app_with};
use crate::raw::sql_count;
use crate::setup::{self, ok, on_hand};

backend_tests!(
    a_cycle_count_adjusts_balances_and_serials_once,
    bad_cycle_counts_are_refused_and_write_nothing,
);

/// Form fields of one bad post (besides csrf, batch and location).
type Fields = Vec<(&'static str, &'static str)>;

const MOVES: &str = "SELECT COUNT(*) FROM stock_movements";

async fn stock(app: &TestApp, token: &str, at: LocationId, sku: &str) -> i64 {
    on_hand(
        &ok(app, Method::GET, token, "/v1/inventory/stock", None).await,
        at,
        sku,
    )
}

async fn sheet(c: &mut Console<'_>, at: LocationId) -> String {
    let res = c
        .get(&format!("/console/inventory/count?location={at}"))
        .await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn a_cycle_count_adjusts_balances_and_serials_once(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    let mut c = Console::new(&app);
    let csrf = c.login("mgr").await;

    // The depot's sheet shows 6 valves and pump SN-2 (SN-1 is in the van).
    let html = sheet(&mut c, d.depot).await;
    assert_eq!(Console::hidden(&html, "shown:VALVE-22"), "6");
    assert_eq!(Console::hidden(&html, "serial:PUMP-7"), "SN-2");
    assert!(!html.contains("SN-1"), "{html}");
    assert!(html.contains("@media print"));
    let batch = Console::hidden(&html, "batch");
    let depot = d.depot.to_string();
    // 4 valves counted; SN-2 not found, SN-9 found instead.
    let form = [
        ("csrf", csrf.as_str()),
        ("batch", &batch),
        ("location", &depot),
        ("shown:VALVE-22", "6"),
        ("count:VALVE-22", "4"),
        ("serial:PUMP-7", "SN-2"),
        ("extra:PUMP-7", "SN-9"),
    ];
    let res = c.post("/console/inventory/count", &form).await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        res.headers()["location"],
        format!("/console/inventory/count?location={depot}&posted=3")
    );
    assert_eq!(stock(&app, &d.manager, d.depot, "VALVE-22").await, 4);
    assert_eq!(stock(&app, &d.manager, d.depot, "PUMP-7").await, 1);
    let units = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/inventory/serials?sku=PUMP-7",
        None,
    )
    .await;
    let at = |serial: &str| {
        units
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["serial"] == serial)
            .map(|u| u["location_id"].clone())
    };
    assert_eq!(at("SN-9"), Some(json!(depot)), "{units}");
    // SN-2 left the ledger's stock (a loss found by the count).
    assert_eq!(at("SN-2"), None, "{units}");
    let moves = sql_count(&app, MOVES).await;
    assert_eq!(
        sql_count(
            &app,
            "SELECT COUNT(*) FROM stock_movements WHERE kind = 'adjustment' AND reason = 'cycle_count'"
        )
        .await,
        3
    );
    // The new sheet shows the counted state.
    let html = sheet(&mut c, d.depot).await;
    assert_eq!(Console::hidden(&html, "shown:VALVE-22"), "4");
    assert_eq!(Console::hidden(&html, "serial:PUMP-7"), "SN-9");

    // Posting the same sheet again moves nothing.
    let res = c.post("/console/inventory/count", &form).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("posted=0")
    );
    assert_eq!(sql_count(&app, MOVES).await, moves);
    assert_eq!(stock(&app, &d.manager, d.depot, "VALVE-22").await, 4);
    // The same batch with other counts is a conflict, not a second count.
    let mut changed = form;
    changed[4] = ("count:VALVE-22", "5");
    let res = c.post("/console/inventory/count", &changed).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("already posted"));
    assert_eq!(sql_count(&app, MOVES).await, moves);
    assert_eq!(stock(&app, &d.manager, d.depot, "VALVE-22").await, 4);
}

async fn bad_cycle_counts_are_refused_and_write_nothing(backend: TestBackend) {
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
    let html = sheet(&mut c, d.depot).await;
    let batch = Console::hidden(&html, "batch");
    let depot = d.depot.to_string();
    let moves = sql_count(&app, MOVES).await;

    let cases: Vec<(Fields, u16, &str)> = vec![
        (
            vec![("shown:VALVE-22", "6"), ("count:VALVE-22", "-2")],
            400,
            "whole number from 0",
        ),
        (
            vec![("shown:VALVE-22", "6"), ("count:VALVE-22", "two")],
            400,
            "whole number from 0",
        ),
        (
            vec![("shown:NOPE-1", "0"), ("count:NOPE-1", "3")],
            400,
            "Unknown part NOPE-1",
        ),
        // SN-1 is in the van: counting it in at the depot would hide a transfer.
        (
            vec![
                ("serial:PUMP-7", "SN-2"),
                ("found:PUMP-7", "SN-2"),
                ("extra:PUMP-7", "SN-1"),
            ],
            400,
            "recorded at Van 1",
        ),
        // A valid line first: nothing of it is written either.
        (
            vec![
                ("shown:VALVE-22", "6"),
                ("count:VALVE-22", "5"),
                ("count:PUMP-7", "1"),
            ],
            400,
            "PUMP-7 is serialized",
        ),
    ];
    for (lines, status, msg) in cases {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("batch", batch.as_str()),
            ("location", depot.as_str()),
        ];
        form.extend(lines.iter().copied());
        let res = c.post("/console/inventory/count", &form).await;
        assert_eq!(res.status().as_u16(), status, "{lines:?}");
        let body = res.text().await.unwrap();
        assert!(body.contains(msg), "{lines:?}: {body}");
        assert_eq!(sql_count(&app, MOVES).await, moves, "{lines:?}");
    }

    // Stock moved after the sheet was printed (a valve went to the van):
    // whether the count saw it is unknown, so the post is refused whole.
    let res = setup::movement(
        &app,
        &d.manager,
        json!({
            "id": uuid::Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 1,
            "from": d.depot, "to": d.van,
        }),
    )
    .await;
    assert_eq!(res.status(), 201);
    let moves = sql_count(&app, MOVES).await;
    let res = c
        .post(
            "/console/inventory/count",
            &[
                ("csrf", csrf.as_str()),
                ("batch", batch.as_str()),
                ("location", depot.as_str()),
                ("shown:VALVE-22", "6"),
                ("count:VALVE-22", "5"),
                ("serial:PUMP-7", "SN-2"),
            ],
        )
        .await;
    assert_eq!(res.status(), 409);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Stock changed since this sheet was printed (VALVE-22)"),
        "{body}"
    );
    assert_eq!(sql_count(&app, MOVES).await, moves);

    // Another depot's sheet: not found, to view or to post.
    let res = c
        .get(&format!("/console/inventory/count?location={other}"))
        .await;
    assert_eq!(res.status(), 404);
    let res = c
        .post(
            "/console/inventory/count",
            &[
                ("csrf", csrf.as_str()),
                ("batch", batch.as_str()),
                ("location", other.as_str()),
                ("shown:VALVE-22", "0"),
                ("count:VALVE-22", "9"),
            ],
        )
        .await;
    assert_eq!(res.status(), 404);
    // Without the session's CSRF token: refused.
    let res = c
        .post(
            "/console/inventory/count",
            &[
                ("batch", batch.as_str()),
                ("location", depot.as_str()),
                ("shown:VALVE-22", "6"),
                ("count:VALVE-22", "9"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
    assert_eq!(sql_count(&app, MOVES).await, moves);
    assert_eq!(stock(&app, &d.manager, d.depot, "VALVE-22").await, 5);
}
