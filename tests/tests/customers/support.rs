//! The office's side of the registry in tests: a customer with a site, a
//! contact and an asset, made through the API.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::setup::{ok, send};

/// A customer made through the API, with one site, contact and asset.
pub struct Made {
    pub customer: String,
    pub site: String,
    pub contact: String,
    pub asset: String,
}

/// "Acme Boilers" (company) served by `depot`, its head office at
/// `postcode`, contact Ana Lima (`email`, `phone`), and boiler
/// BOILER-X200 `serial` under warranty until `warranty_end`.
pub async fn customer(
    app: &TestApp,
    token: &str,
    depot: &str,
    name: &str,
    serial: &str,
    warranty_end: &str,
) -> Made {
    let c = ok(
        app,
        Method::POST,
        token,
        "/v1/customers",
        Some(json!({"kind": "company", "name": name, "depot_id": depot})),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let s = ok(
        app,
        Method::POST,
        token,
        &format!("/v1/customers/{id}/sites"),
        Some(json!({"name": "Head office", "address": "Rua das Flores 1, Porto", "postcode": "4050-262"})),
    )
    .await;
    let site = s["id"].as_str().unwrap().to_owned();
    let k = ok(
        app,
        Method::POST,
        token,
        &format!("/v1/customers/{id}/contacts"),
        Some(json!({
            "name": "Ana Lima",
            "email": format!("ana@{}.example", serial.to_lowercase()),
            "phone": "+351 900 000 001",
            "preferred_channel": "sms",
            "feedback_opt_out": true,
        })),
    )
    .await;
    let a = ok(
        app,
        Method::POST,
        token,
        &format!("/v1/customers/{id}/assets"),
        Some(json!({
            "site_id": site,
            "sku": "BOILER-X200",
            "product": "Boiler X200",
            "serial": serial,
            "install_date": "2024-03-01",
            "warranty_end": warranty_end,
        })),
    )
    .await;
    Made {
        customer: id,
        site,
        contact: k["id"].as_str().unwrap().to_owned(),
        asset: a["id"].as_str().unwrap().to_owned(),
    }
}

/// A `(status, body)` for any request.
pub async fn call(
    app: &TestApp,
    method: Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let res = send(app, method, token, path, body).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A job body made from registry ids (no inline customer, site or asset).
pub fn job_from_registry(fields: Value, technician: Option<&str>) -> Value {
    let mut body = crate::office::new_job("unused", None);
    let map = body.as_object_mut().unwrap();
    for k in ["customer", "site", "asset"] {
        map.remove(k);
    }
    map.insert("technician_id".into(), json!(technician));
    for (k, v) in fields.as_object().unwrap() {
        map.insert(k.clone(), v.clone());
    }
    body
}

/// Whether a response repeats the test card number 4111 1111 1111 1111,
/// spaced or not. (Not a bare "4111": random ids in a response can hold it.)
pub fn echoes_card(response: &str) -> bool {
    response.contains("4111 1111") || response.contains("41111111")
}
