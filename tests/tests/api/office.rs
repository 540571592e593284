//! The office's side in tests: price book and jobs through the dispatch API.
#![allow(dead_code)]

use fieldsync_core::{JobId, Role, UserId};
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};

use super::helpers::{TestApp, actor, spawn_app};

/// The cast most sync tests start from: an app whose admin put
/// [`price_book`], a technician `tech`, and a dispatcher `dispatch` logged
/// in (actors 1 and 2 are the admin's and the dispatcher's).
pub struct Staffed {
    pub app: TestApp,
    pub admin: String,
    pub office: String,
    pub tech: UserId,
}

pub async fn staffed(backend: TestBackend) -> Staffed {
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    assert_eq!(
        put_price_book(&app, &admin, &price_book()).await.status(),
        200
    );
    let tech = app.user("tech", Role::Technician).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
    Staffed {
        app,
        admin,
        office,
        tech,
    }
}

/// A price book with one plain and one serialized part, a labour rate and 20% tax.
pub fn price_book() -> Value {
    json!({
        "version": 0,
        "currency": "EUR",
        "tax_rate_bps": 2000,
        "callout_fee": 4500,
        "parts": {
            "VALVE-22": {"name": "Valve 22mm", "unit_price": 1250, "serialized": false},
            "PUMP-7": {"name": "Circulation pump", "unit_price": 18900, "serialized": true}
        },
        "labour_rates": {"standard": {"name": "Standard", "hourly": 6000}},
        "contracts": {}
    })
}

pub async fn put_price_book(app: &TestApp, admin_token: &str, book: &Value) -> reqwest::Response {
    app.client
        .put(app.url("/v1/pricebook"))
        .bearer_auth(admin_token)
        .json(book)
        .send()
        .await
        .unwrap()
}

/// A job body for `POST /v1/jobs`, today 09:00-11:00 UTC.
pub fn new_job(customer: &str, technician: Option<UserId>) -> Value {
    let today = time::OffsetDateTime::now_utc().date();
    let at = |h: u8| {
        today
            .with_hms(h, 0, 0)
            .unwrap()
            .assume_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    json!({
        "customer": {"name": customer, "email": "customer@example.com", "phone": "+351 900 000 000"},
        "site": {"name": "Main house", "address": "Rua das Flores 1, Porto"},
        "asset": {"product": "Boiler X200", "serial": "BX-1", "warranty_end": null, "contract_ref": null},
        "problem": "No hot water",
        "priority": "high",
        "window": {"start": at(9), "end": at(11)},
        "technician_id": technician.map(|t| t.to_string()),
        "checklist": [{"question": "Gas pressure checked?", "required": false}],
    })
}

pub async fn create_job(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "create job: {}",
        res.text().await.unwrap()
    );
    res.json().await.unwrap()
}

pub fn job_id(view: &Value) -> JobId {
    view["job"]["id"].as_str().unwrap().parse().unwrap()
}

pub async fn get_job(app: &TestApp, token: &str, id: JobId) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn post_json(app: &TestApp, token: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn patch_json(app: &TestApp, token: &str, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn get_json(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}
