//! No card numbers stored through the JSON API: a card number in any
//! free-text field of any JSON route is a 400 that names the field (never
//! the number), and nothing of that request is stored.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;
use crate::office::*;

backend_tests!(
    card_numbers_are_refused_in_every_json_free_text_field,
    a_patch_with_a_card_number_in_notes_stores_nothing,
);

/// Card numbers as people write them: grouped, dashed, inside a sentence.
const CARDS: [&str; 3] = [
    "4111 1111 1111 1111",
    "paid with 5500-0000-0000-0004 thanks",
    "378282246310005",
];

/// Asserts the 400 that refuses a card number in `field`.
async fn refused(res: reqwest::Response, field: &str) {
    let body = assert_error(res, 400, "bad_request").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(field), "{field}: {message}");
    assert!(message.contains("card number"), "{field}: {message}");
    for digits in ["4111", "5500", "3782"] {
        assert!(!message.contains(digits), "the number echoed: {message}");
    }
}

/// `value` with the string at `path` (object keys) replaced by `text`.
fn with(value: &Value, path: &[&str], text: &str) -> Value {
    let mut v = value.clone();
    let mut at = &mut v;
    for key in path {
        at = &mut at[*key];
    }
    *at = json!(text);
    v
}

/// `value` with the object key `key` under `path` renamed to `text`.
fn with_key(value: &Value, path: &[&str], key: &str, text: &str) -> Value {
    let mut v = value.clone();
    let mut at = &mut v;
    for k in path {
        at = &mut at[*k];
    }
    let map = at.as_object_mut().unwrap();
    let entry = map.remove(key).unwrap();
    map.insert(text.to_owned(), entry);
    v
}

async fn body_of(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn card_numbers_are_refused_in_every_json_free_text_field(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    app.user("dispatch", Role::Dispatcher).await;
    let tech = app.user("marta", Role::Technician).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    let office = app.login("dispatch", &actor(2)).await.access_token;

    // Login: the device's name is stored with the device.
    for card in CARDS {
        let res = app
            .client
            .post(app.url("/v1/auth/login"))
            .json(&json!({"username": "marta", "password": PASSWORD,
                "device": {"name": card, "actor_id": actor(3)}}))
            .send()
            .await
            .unwrap();
        refused(res, "device.name").await;
    }
    // Nothing was registered: the device's first real login names it.
    let tokens = app.login("marta", &actor(3)).await;
    let me: Value = body_of(app.me(&tokens.access_token).await).await;
    assert_eq!(me["device"]["name"], "test device");

    // The price book: names, labour codes, contract references, currency.
    let mut book = price_book();
    book["contracts"] = json!({"SC-1": {"name": "Gold", "covers_labour": true,
        "covers_parts": false, "covers_callout": true, "valid_from": null,
        "valid_until": "2030-12-31"}});
    assert_eq!(put_price_book(&app, &admin, &book).await.status(), 200);
    let stored = body_of(get_json(&app, &admin, "/v1/pricebook").await).await;
    for card in CARDS {
        for (bad, field) in [
            (
                with(&book, &["parts", "VALVE-22", "name"], card),
                "parts.name",
            ),
            (
                with(&book, &["labour_rates", "standard", "name"], card),
                "labour_rates.name",
            ),
            (
                with(&book, &["contracts", "SC-1", "name"], card),
                "contracts.name",
            ),
            (
                with_key(&book, &["labour_rates"], "standard", card),
                "labour_rates (code)",
            ),
            (
                with_key(&book, &["contracts"], "SC-1", card),
                "contracts (reference)",
            ),
            (with(&book, &["currency"], card), "currency"),
        ] {
            refused(put_price_book(&app, &admin, &bad).await, field).await;
        }
    }
    assert_eq!(
        body_of(get_json(&app, &admin, "/v1/pricebook").await).await,
        stored,
        "the price book is as it was"
    );

    // Jobs: every free-text field of a new job.
    let job = new_job("Ana Lima", Some(tech));
    let created = create_job(&app, &office, &job).await;
    let id = job_id(&created);
    for card in CARDS {
        for (path, field) in [
            (&["customer", "name"][..], "customer.name"),
            (&["customer", "email"], "customer.email"),
            (&["customer", "phone"], "customer.phone"),
            (&["site", "name"], "site.name"),
            (&["site", "address"], "site.address"),
            (&["asset", "product"], "asset.product"),
            (&["asset", "contract_ref"], "asset.contract_ref"),
            (&["problem"], "problem"),
        ] {
            let res = post_json(&app, &office, "/v1/jobs", &with(&job, path, card)).await;
            refused(res, field).await;
        }
        let mut bad = job.clone();
        bad["checklist"][0]["question"] = json!(card);
        refused(
            post_json(&app, &office, "/v1/jobs", &bad).await,
            "checklist.question",
        )
        .await;
    }
    let list = body_of(get_json(&app, &office, "/v1/jobs").await).await;
    assert_eq!(
        list["jobs"].as_array().unwrap().len(),
        1,
        "no job was created"
    );

    // Office edits and cancellation of the job.
    let path = format!("/v1/jobs/{id}");
    let before = body_of(get_job(&app, &office, id).await).await;
    for card in CARDS {
        for field in [
            "customer_name",
            "customer_email",
            "customer_phone",
            "site_name",
            "site_address",
            "asset_product",
            "contract_ref",
            "problem",
            "notes",
        ] {
            let res = patch_json(&app, &office, &path, &json!({ field: card })).await;
            refused(res, field).await;
        }
        let res = post_json(
            &app,
            &office,
            &format!("{path}/cancel"),
            &json!({"reason": card}),
        )
        .await;
        refused(res, "reason").await;
    }
    let after = body_of(get_job(&app, &office, id).await).await;
    assert_eq!(after, before, "the job is as it was");

    // Inventory: location and part names, movement notes.
    let depot = body_of_created(
        post_json(
            &app,
            &admin,
            "/v1/inventory/locations",
            &json!({"kind": "depot", "name": "North"}),
        )
        .await,
    )
    .await;
    let part = json!({"name": "Valve 22mm", "unit_cost_minor": 800, "serialized": false});
    let res = app
        .client
        .put(app.url("/v1/inventory/parts/VALVE-22"))
        .bearer_auth(&admin)
        .json(&part)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let locations = body_of(get_json(&app, &admin, "/v1/inventory/locations").await).await;
    let parts = body_of(get_json(&app, &admin, "/v1/inventory/parts").await).await;
    for card in CARDS {
        let res = post_json(
            &app,
            &admin,
            "/v1/inventory/locations",
            &json!({"kind": "depot", "name": card}),
        )
        .await;
        refused(res, "name").await;
        let res = app
            .client
            .put(app.url("/v1/inventory/parts/VALVE-22"))
            .bearer_auth(&admin)
            .json(&with(&part, &["name"], card))
            .send()
            .await
            .unwrap();
        refused(res, "name").await;
        let movement = json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "VALVE-22",
            "quantity": 2, "to": depot["id"], "note": card});
        refused(
            post_json(&app, &admin, "/v1/inventory/movements", &movement).await,
            "note",
        )
        .await;
    }
    assert_eq!(
        body_of(get_json(&app, &admin, "/v1/inventory/locations").await).await,
        locations
    );
    assert_eq!(
        body_of(get_json(&app, &admin, "/v1/inventory/parts").await).await,
        parts
    );
    let movements = body_of(get_json(&app, &admin, "/v1/inventory/movements").await).await;
    assert_eq!(movements, json!([]), "no movement was recorded");

    // Identifiers are not free text: a 15-digit IMEI (which passes the
    // Luhn check by design) is a fine serial number.
    let res = app
        .client
        .put(app.url("/v1/inventory/parts/MODEM-1"))
        .bearer_auth(&admin)
        .json(&json!({"name": "GSM modem", "unit_cost_minor": 4000, "serialized": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let imei = json!({"id": Uuid::new_v4(), "kind": "receipt", "sku": "MODEM-1",
        "quantity": 1, "to": depot["id"], "note": "modem swap", "serials": ["490154203237518"]});
    let res = post_json(&app, &admin, "/v1/inventory/movements", &imei).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

async fn body_of_created(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// `PATCH /v1/jobs/{id}` with a card number in the notes: 400, and the
/// stored job (its version, its notes) is unchanged.
async fn a_patch_with_a_card_number_in_notes_stores_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(1)).await.access_token;
    let id = job_id(&create_job(&app, &office, &new_job("Ana Lima", None)).await);
    let path = format!("/v1/jobs/{id}");
    let res = patch_json(&app, &office, &path, &json!({"notes": "gate code 1234"})).await;
    let before = body_of(res).await;
    let res = patch_json(
        &app,
        &office,
        &path,
        &json!({"notes": "card 4111 1111 1111 1111 exp 12/29"}),
    )
    .await;
    refused(res, "notes").await;
    let after = body_of(get_job(&app, &office, id).await).await;
    assert_eq!(after["version"], before["version"]);
    assert_eq!(after["job"]["notes"], "gate code 1234");
}
