//! A depot with a van, a manager and a technician, parts and opening stock,
//! all made through the API the way an admin and a depot manager would.

use fieldsync_core::{LocationId, Role, UserId};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, actor};

#[allow(dead_code)]
pub struct Depot {
    pub admin: String,
    pub manager: String,
    pub manager_id: UserId,
    pub tech: UserId,
    pub depot: LocationId,
    pub van: LocationId,
}

pub async fn send(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

pub async fn ok(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> Value {
    let res = send(app, method, token, path, body).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

pub async fn movement(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    send(
        app,
        reqwest::Method::POST,
        token,
        "/v1/inventory/movements",
        Some(body),
    )
    .await
}

/// Admin "admin", manager "mgr" of "North depot" with "Van 1" of technician
/// "tech"; parts VALVE-22 (plain) and PUMP-7 (serialized); the depot holds
/// 10 VALVE-22 and PUMP-7 SN-1, SN-2; the van 4 VALVE-22 and SN-1; the
/// van's reorder point for VALVE-22 is 3 (reorder 5).
pub async fn depot(app: &TestApp) -> Depot {
    use reqwest::Method;
    app.user("admin", Role::Admin).await;
    let manager_id = app.user("mgr", Role::InventoryManager).await;
    let tech = app.user("tech", Role::Technician).await;
    let admin = app.login("admin", &actor(210)).await.access_token;
    let manager = app.login("mgr", &actor(211)).await.access_token;
    let d = ok(
        app,
        Method::POST,
        &admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "North depot"})),
    )
    .await;
    let depot: LocationId = d["id"].as_str().unwrap().parse().unwrap();
    let v = ok(
        app,
        Method::POST,
        &admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "van", "name": "Van 1", "depot_id": depot.to_string(), "technician_id": tech.to_string()})),
    )
    .await;
    let van: LocationId = v["id"].as_str().unwrap().parse().unwrap();
    ok(
        app,
        Method::POST,
        &admin,
        &format!("/v1/inventory/locations/{depot}/staff"),
        Some(json!({"user_id": manager_id.to_string()})),
    )
    .await;
    ok(
        app,
        Method::PUT,
        &manager,
        "/v1/inventory/parts/VALVE-22",
        Some(json!({"name": "Valve 22mm", "unit_cost_minor": 700})),
    )
    .await;
    ok(
        app,
        Method::PUT,
        &manager,
        "/v1/inventory/parts/PUMP-7",
        Some(json!({"name": "Circulation pump", "unit_cost_minor": 12000, "serialized": true})),
    )
    .await;
    ok(
        app,
        Method::PUT,
        &manager,
        &format!("/v1/inventory/locations/{van}/reorder/VALVE-22"),
        Some(json!({"reorder_point": 3, "reorder_quantity": 5})),
    )
    .await;
    for body in [
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "VALVE-22", "quantity": 10, "to": depot}),
        json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "PUMP-7", "quantity": 2, "to": depot, "serials": ["SN-1", "SN-2"]}),
        json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 4, "from": depot, "to": van}),
        json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "PUMP-7", "quantity": 1, "from": depot, "to": van, "serials": ["SN-1"]}),
    ] {
        let res = movement(app, &manager, body).await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    Depot {
        admin,
        manager,
        manager_id,
        tech,
        depot,
        van,
    }
}

/// On-hand quantity from `GET /v1/inventory/stock`.
pub fn on_hand(stock: &Value, location: LocationId, sku: &str) -> i64 {
    stock
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["location_id"] == location.to_string() && r["sku"] == sku)
        .map_or(0, |r| r["quantity"].as_i64().unwrap())
}
