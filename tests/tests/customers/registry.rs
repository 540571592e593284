//! Accounts, sites, contacts and assets through the API: created, changed,
//! found by each search key, and bad input refused with a JSON error that
//! stores nothing.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{actor, backend_tests, spawn_app};
use crate::setup;
use crate::support::{call, customer, echoes_card};

backend_tests!(
    records_are_made_changed_and_found,
    bad_input_is_refused_and_stores_nothing
);

async fn records_are_made_changed_and_found(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(40)).await.access_token;
    let depot = d.depot.to_string();
    let acme = customer(&app, &office, &depot, "Acme Boilers", "BX-1", "2027-02-28").await;
    let zen = customer(&app, &office, &depot, "Zen Bakery", "ZB-77", "2025-01-31").await;

    // The view holds what was made.
    let (status, view) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/customers/{}", acme.customer),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["customer"]["name"], "Acme Boilers");
    assert_eq!(view["customer"]["kind"], "company");
    assert_eq!(view["customer"]["depot_id"], depot);
    assert_eq!(view["sites"][0]["id"], acme.site);
    assert_eq!(view["sites"][0]["postcode"], "4050-262");
    assert_eq!(view["contacts"][0]["id"], acme.contact);
    assert_eq!(view["contacts"][0]["preferred_channel"], "sms");
    assert_eq!(view["contacts"][0]["feedback_opt_out"], true);
    assert_eq!(view["assets"][0]["asset"]["id"], acme.asset);
    assert_eq!(view["assets"][0]["asset"]["serial"], "BX-1");
    assert_eq!(view["assets"][0]["asset"]["install_date"], "2024-03-01");

    // Changes.
    let c = &acme.customer;
    for (path, body, key, want) in [
        (
            format!("/v1/customers/{c}"),
            json!({"name": "Acme Heating", "kind": "person"}),
            "name",
            json!("Acme Heating"),
        ),
        (
            format!("/v1/customers/{c}/sites/{}", acme.site),
            json!({"postcode": "4000-001", "name": null}),
            "postcode",
            json!("4000-001"),
        ),
        (
            format!("/v1/customers/{c}/contacts/{}", acme.contact),
            json!({"email": "ops@acme.example", "preferred_channel": "email"}),
            "email",
            json!("ops@acme.example"),
        ),
        (
            format!("/v1/customers/{c}/assets/{}", acme.asset),
            json!({"warranty_end": "2028-02-29", "contract_ref": "SC-GOLD-1"}),
            "warranty_end",
            json!("2028-02-29"),
        ),
    ] {
        let (status, body) = call(&app, Method::PATCH, &office, &path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body[key], want, "{path}");
    }
    let (_, view) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/customers/{c}"),
        None,
    )
    .await;
    assert_eq!(view["customer"]["kind"], "person");
    assert_eq!(view["sites"][0]["name"], json!(null));
    assert_eq!(view["contacts"][0]["preferred_channel"], "email");
    assert_eq!(view["assets"][0]["asset"]["contract_ref"], "SC-GOLD-1");

    // Search by each key; every answer names only the matching customer.
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (q, want) in [
        ("heat", vec!["Acme Heating"]),
        ("BAKERY", vec!["Zen Bakery"]),
        ("ops@acme.example", vec!["Acme Heating"]),
        ("ana@zb-77.example", vec!["Zen Bakery"]),
        ("4000001", vec!["Acme Heating"]),
        ("4050 262", vec!["Zen Bakery"]),
        ("zb-77", vec!["Zen Bakery"]),
        ("BX-1", vec!["Acme Heating"]),
        ("351900000001", vec!["Acme Heating", "Zen Bakery"]),
        ("nobody", vec![]),
    ] {
        let path = format!("/v1/customers?q={}", urlencode(q));
        let (status, body) = call(&app, Method::GET, &office, &path, None).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert_eq!(names(&body), want, "search {q:?}");
    }
    let (_, all) = call(&app, Method::GET, &office, "/v1/customers?limit=1", None).await;
    assert_eq!(names(&all), ["Acme Heating"], "by name, limited");
    let _ = zen;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn bad_input_is_refused_and_stores_nothing(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(41)).await.access_token;
    let depot = d.depot.to_string();
    let made = customer(&app, &office, &depot, "Acme Boilers", "BX-1", "2027-02-28").await;
    let c = &made.customer;
    let van = d.van.to_string();
    let cases = [
        (
            "/v1/customers".to_owned(),
            json!({"kind": "company", "name": " ", "depot_id": depot}),
            400,
        ),
        (
            "/v1/customers".to_owned(),
            json!({"kind": "alien", "name": "X", "depot_id": depot}),
            400,
        ),
        (
            "/v1/customers".to_owned(),
            json!({"kind": "person", "name": "X", "depot_id": van}),
            400,
        ),
        (
            "/v1/customers".to_owned(),
            json!({"kind": "person", "name": "X", "depot_id": uuid::Uuid::new_v4()}),
            400,
        ),
        (
            "/v1/customers".to_owned(),
            json!({"kind": "person", "name": "X", "depot_id": depot, "vip": true}),
            400,
        ),
        (
            "/v1/customers".to_owned(),
            json!({"kind": "person", "name": "Card 4111 1111 1111 1111", "depot_id": depot}),
            400,
        ),
        (
            "/v1/customers".to_owned(),
            json!({"kind": "person", "name": "x".repeat(201), "depot_id": depot}),
            400,
        ),
        (
            format!("/v1/customers/{c}/contacts"),
            json!({"name": "Rui", "email": "not-an-email", "preferred_channel": "email"}),
            400,
        ),
        (
            format!("/v1/customers/{c}/contacts"),
            json!({"name": "Rui", "email": "rui@example.com", "preferred_channel": "sms"}),
            400,
        ),
        (
            format!("/v1/customers/{c}/contacts"),
            json!({"name": "Rui", "phone": "call me", "preferred_channel": "phone"}),
            400,
        ),
        (
            format!("/v1/customers/{c}/sites"),
            json!({"address": ""}),
            400,
        ),
        (
            format!("/v1/customers/{c}/assets"),
            json!({"site_id": uuid::Uuid::new_v4(), "sku": "BOILER-X200", "product": "Boiler", "serial": "BX-9"}),
            400,
        ),
        (
            format!("/v1/customers/{c}/assets"),
            json!({"site_id": made.site, "sku": "not a sku", "product": "Boiler", "serial": "BX-9"}),
            400,
        ),
        (
            format!("/v1/customers/{c}/assets"),
            json!({"site_id": made.site, "sku": "BOILER-X200", "product": "Boiler", "serial": "BX-9", "warranty_end": "2027-02-30"}),
            400,
        ),
        (
            format!("/v1/customers/{c}/assets"),
            json!({"site_id": made.site, "sku": "BOILER-X200", "product": "Boiler", "serial": "BX-1"}),
            409,
        ),
        (
            format!("/v1/customers/{}/sites", uuid::Uuid::new_v4()),
            json!({"address": "Rua 2"}),
            404,
        ),
    ];
    for (path, body, want) in cases {
        let (status, answer) = call(&app, Method::POST, &office, &path, Some(body.clone())).await;
        assert_eq!(status, want, "{path} {body}: {answer}");
        assert!(
            answer["error"]["message"].is_string(),
            "a JSON error body: {answer}"
        );
        assert!(
            !echoes_card(&answer.to_string()),
            "the number is not echoed"
        );
    }
    let (status, answer) = call(
        &app,
        Method::PATCH,
        &office,
        &format!("/v1/customers/{c}/contacts/{}", made.contact),
        Some(json!({"phone": null})),
    )
    .await;
    assert_eq!(status, 400, "sms without a phone: {answer}");
    let (status, _) = call(
        &app,
        Method::PATCH,
        &office,
        &format!("/v1/customers/{c}/sites/{}", uuid::Uuid::new_v4()),
        Some(json!({"address": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(&app, Method::GET, &office, "/v1/customers?limit=x", None).await;
    assert_eq!(status, 400);

    // Nothing of the refused requests was stored.
    let (_, list) = call(&app, Method::GET, &office, "/v1/customers", None).await;
    assert_eq!(list["customers"].as_array().unwrap().len(), 1, "{list}");
    let (_, view) = call(
        &app,
        Method::GET,
        &office,
        &format!("/v1/customers/{c}"),
        None,
    )
    .await;
    assert_eq!(view["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(view["contacts"][0]["phone"], "+351 900 000 001");
    assert_eq!(view["sites"].as_array().unwrap().len(), 1);
    assert_eq!(view["assets"].as_array().unwrap().len(), 1);
}
