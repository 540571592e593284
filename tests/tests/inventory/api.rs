//! The inventory API's access rules and input checks.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console_client::Console;
use crate::helpers::{actor, assert_error, backend_tests, spawn_app_with};
use crate::setup::{self, movement, ok, on_hand, send};

backend_tests!(
    each_role_sees_and_moves_only_its_own_locations,
    bad_movements_are_4xx_with_json_bodies,
    console_pages_render_escaped_and_enforce_roles,
);

async fn each_role_sees_and_moves_only_its_own_locations(backend: TestBackend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let d = setup::depot(&app).await;
    // A second depot with its own manager.
    app.user("mgr2", Role::InventoryManager).await;
    let mgr2 = app.login("mgr2", &actor(220)).await;
    let south = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South"})),
    )
    .await;
    let south_id = south["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        Method::POST,
        &d.admin,
        &format!("/v1/inventory/locations/{south_id}/staff"),
        Some(json!({"user_id": mgr2.user.id})),
    )
    .await;

    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ok(&app, Method::GET, &d.admin, "/v1/inventory/locations", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let mine = ok(
        &app,
        Method::GET,
        &d.manager,
        "/v1/inventory/locations",
        None,
    )
    .await;
    assert_eq!(names(&mine), vec!["North depot", "Van 1"]);
    let theirs = ok(
        &app,
        Method::GET,
        &mgr2.access_token,
        "/v1/inventory/locations",
        None,
    )
    .await;
    assert_eq!(names(&theirs), vec!["South"]);

    // The other depot's manager cannot see or move North's stock: 404, no data.
    for path in [
        format!("/v1/inventory/stock?location={}", d.van),
        format!("/v1/inventory/movements?location={}", d.depot),
        format!("/v1/inventory/discrepancies?location={}", d.van),
    ] {
        assert_error(
            send(&app, Method::GET, &mgr2.access_token, &path, None).await,
            404,
            "not_found",
        )
        .await;
    }
    let stock = ok(
        &app,
        Method::GET,
        &mgr2.access_token,
        "/v1/inventory/stock",
        None,
    )
    .await;
    assert_eq!(stock, json!([]));
    let steal = json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 1, "from": d.depot, "to": south_id});
    assert_error(
        movement(&app, &mgr2.access_token, steal.clone()).await,
        404,
        "not_found",
    )
    .await;
    assert_error(movement(&app, &d.manager, steal).await, 404, "not_found").await;
    assert!(
        ok(
            &app,
            Method::GET,
            &mgr2.access_token,
            "/v1/inventory/discrepancies",
            None
        )
        .await
        .as_array()
        .unwrap()
        .is_empty()
    );
    assert!(
        ok(
            &app,
            Method::GET,
            &mgr2.access_token,
            "/v1/inventory/serials",
            None
        )
        .await
        .as_array()
        .unwrap()
        .is_empty()
    );

    // The technician sees their van only, read-only.
    let tech = app.login("tech", &actor(221)).await.access_token;
    let vans = ok(&app, Method::GET, &tech, "/v1/inventory/locations", None).await;
    assert_eq!(names(&vans), vec!["Van 1"]);
    let stock = ok(&app, Method::GET, &tech, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 4);
    assert_eq!(
        on_hand(&stock, d.depot, "VALVE-22"),
        0,
        "the depot is not in the technician's view"
    );
    assert_error(
        send(
            &app,
            Method::GET,
            &tech,
            &format!("/v1/inventory/stock?location={}", d.depot),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let take = json!({"id": Uuid::new_v4(), "kind": "consumption", "sku": "VALVE-22", "quantity": 1, "from": d.van});
    assert_error(movement(&app, &tech, take).await, 403, "forbidden").await;

    // A dispatcher has no inventory scope; only admins create locations.
    app.user("disp", Role::Dispatcher).await;
    let disp = app.login("disp", &actor(222)).await.access_token;
    assert_eq!(
        ok(&app, Method::GET, &disp, "/v1/inventory/locations", None).await,
        json!([])
    );
    let depot = json!({"kind": "depot", "name": "X"});
    assert_error(
        send(
            &app,
            Method::POST,
            &d.manager,
            "/v1/inventory/locations",
            Some(depot),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        send(
            &app,
            Method::GET,
            "not-a-token",
            "/v1/inventory/stock",
            None,
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
}

async fn bad_movements_are_4xx_with_json_bodies(backend: TestBackend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let d = setup::depot(&app).await;
    let id = Uuid::new_v4();
    let good =
        json!({"id": id, "kind": "receipt", "sku": "VALVE-22", "quantity": 3, "to": d.depot});
    assert_eq!(movement(&app, &d.manager, good.clone()).await.status(), 201);
    let replay = movement(&app, &d.manager, good).await;
    assert_eq!(
        replay.status(),
        200,
        "same id, same content: the stored movement"
    );
    let changed =
        json!({"id": id, "kind": "receipt", "sku": "VALVE-22", "quantity": 4, "to": d.depot});
    assert_error(movement(&app, &d.manager, changed).await, 409, "conflict").await;
    for bad in [
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "bad sku!", "quantity": 1, "to": d.depot}),
        json!({"id": Uuid::new_v4(), "kind": "teleport", "sku": "VALVE-22", "quantity": 1, "to": d.depot}),
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "NOPE", "quantity": 1, "to": d.depot}),
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "VALVE-22", "quantity": -1, "to": d.depot}),
        json!({"id": Uuid::new_v4(), "kind": "adjustment", "sku": "VALVE-22", "quantity": 1, "from": d.depot}),
        json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "PUMP-7", "quantity": 1, "from": d.depot, "to": d.van, "serials": ["SN-1"]}),
        json!({"id": "nope", "kind": "receipt", "sku": "VALVE-22", "quantity": 1, "to": d.depot}),
    ] {
        assert_error(movement(&app, &d.manager, bad).await, 400, "bad_request").await;
    }
    let adj = json!({"id": Uuid::new_v4(), "kind": "adjustment", "sku": "VALVE-22", "quantity": 1, "from": d.depot, "reason": "damage"});
    assert_eq!(movement(&app, &d.manager, adj).await.status(), 201);
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), 10 - 4 + 3 - 1);
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/inventory/movements",
        "/v1/inventory/stock",
        "/v1/inventory/discrepancies",
        "/v1/inventory/replenishment",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
}

async fn console_pages_render_escaped_and_enforce_roles(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    ok(
        &app,
        Method::PUT,
        &d.manager,
        "/v1/inventory/parts/XSS-1",
        Some(json!({"name": "<script>alert(1)</script>", "unit_cost_minor": 1})),
    )
    .await;
    let r = json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "XSS-1", "quantity": 1, "to": d.depot});
    assert_eq!(movement(&app, &d.manager, r).await.status(), 201);
    let mut c = Console::new(&app);
    let csrf = c.login("mgr").await;
    let html = c
        .get("/console/inventory/stock")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"),
        "escaped"
    );
    for (path, needle) in [
        (
            "/console/inventory/discrepancies",
            "Nothing needs attention",
        ),
        (
            "/console/inventory/replenishment",
            "Every location is above",
        ),
        (
            "/console/inventory/consumption?sku=VALVE-22",
            "<svg id=\"consumption-chart\"",
        ),
        ("/console/inventory/parts/VALVE-22", "transfer"),
        (
            "/console/inventory/transfer?sku=VALVE-22",
            "Record transfer",
        ),
    ] {
        let res = c.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let body = res.text().await.unwrap();
        assert!(body.contains(needle), "{path}: {needle} missing");
    }
    // A transfer without the session's CSRF token is refused and records nothing.
    let form = [
        ("id", Uuid::new_v4().to_string()),
        ("sku", "VALVE-22".into()),
        ("from", d.depot.to_string()),
        ("to", d.van.to_string()),
        ("quantity", "1".into()),
    ];
    let as_refs = |extra: Option<(&'static str, String)>| {
        let mut f: Vec<(&str, String)> = form.iter().map(|(k, v)| (*k, v.clone())).collect();
        f.extend(extra);
        f
    };
    let owned = as_refs(None);
    let refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        c.post("/console/inventory/transfer", &refs).await.status(),
        403
    );
    // Too many units is fine (stock may go negative), a bad quantity is a 400 page.
    let owned = as_refs(Some(("csrf", csrf.clone())));
    let mut refs: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    refs.retain(|(k, _)| *k != "quantity");
    refs.push(("quantity", "many"));
    assert_eq!(
        c.post("/console/inventory/transfer", &refs).await.status(),
        400
    );
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 4);

    // Technicians and dispatchers get a 403 page, not the stock.
    app.user("disp", Role::Dispatcher).await;
    let mut t = Console::new(&app);
    let page = t.get("/console/login").await.text().await.unwrap();
    let token = Console::hidden(&page, "csrf");
    let res = t
        .post(
            "/console/login",
            &[
                ("csrf", &token),
                ("username", "disp"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let res = t.get("/console/inventory/stock").await;
    assert_eq!(res.status(), 403);
    assert!(!res.text().await.unwrap().contains("VALVE-22"));
}
