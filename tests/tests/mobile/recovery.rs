//! A job with a rejected change recovers, from Kotlin against the real
//! server: the office moves the technician to another van while they work
//! offline, so the part they took from the old van is refused (`wrong_van`,
//! a rule only the server can check); the library drops that action, reports
//! it, and syncs everything else; nothing valid is lost. The office reads
//! the rejection in the job's record.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{PASSWORD, actor, spawn_app};
use crate::kotlin::kotlin;
use crate::office::{create_job, get_job, job_id, new_job, price_book, put_price_book};
use crate::setup::{movement, ok};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_a_rejected_change_recovers_in_kotlin() {
    let app = spawn_app(TestBackend::Sqlite).await;
    // "tech" drives Van 1 (4 VALVE-22) of the North depot (10 VALVE-22).
    let depot = crate::setup::depot(&app).await;
    let res = put_price_book(&app, &depot.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
    let id = job_id(&create_job(&app, &office, &new_job("Ana Lima", Some(depot.tech))).await);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_owned();

    // 1. Log in, sync, then offline work, with two parts from Van 1.
    let args: Vec<String> = [
        "work",
        &store,
        &app.url(""),
        "tech",
        PASSWORD,
        &id.to_string(),
        &depot.van.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kotlin().java("recovery.RecoveryKt", &args)
    })
    .await
    .unwrap();
    let ids: Vec<String> = out
        .lines()
        .find_map(|l| l.strip_prefix("IDS "))
        .unwrap_or_else(|| panic!("no ids in {out}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    let [part, part2, labour] = &ids[..] else {
        panic!("ids {ids:?}")
    };

    // 2. Meanwhile the office gives the technician Van 2, stocked from the depot.
    let van2 = ok(
        &app,
        Method::POST,
        &depot.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "van", "name": "Van 2", "depot_id": depot.depot.to_string()})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = movement(
        &app,
        &depot.manager,
        json!({"id": Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 3,
               "from": depot.depot, "to": van2}),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    for (van, tech) in [
        (depot.van.to_string(), Value::Null),
        (van2.clone(), json!(depot.tech.to_string())),
    ] {
        ok(
            &app,
            Method::PUT,
            &depot.admin,
            &format!("/v1/inventory/locations/{van}/technician"),
            Some(json!({ "technician_id": tech })),
        )
        .await;
    }

    // 3. A new process syncs: both parts are dropped and reported, the rest
    //    arrives; the technician takes the part again from Van 2.
    let args: Vec<String> = [
        "recover",
        &store,
        &id.to_string(),
        part,
        part2,
        labour,
        &van2,
    ]
    .map(str::to_owned)
    .to_vec();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kotlin().java("recovery.RecoveryKt", &args)
    })
    .await
    .unwrap();
    let again = out
        .lines()
        .find_map(|l| l.strip_prefix("REDONE "))
        .unwrap_or_else(|| panic!("no redo in {out}"))
        .to_owned();

    // 4. The server has every valid action, the redone part from Van 2, and
    //    not the refused one.
    let view: Value = get_job(&app, &office, id).await.json().await.unwrap();
    let job = &view["job"];
    assert_eq!(job["status"], "on_site", "{view}");
    assert_eq!(job["labour"][0]["id"], labour.as_str(), "{view}");
    assert!(job["notes"].as_str().unwrap().contains("customer happy"));
    let parts = job["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{view}");
    assert_eq!(parts[0]["id"], again.as_str());
    assert_eq!(parts[0]["van"], van2.as_str());
    assert!(
        parts
            .iter()
            .all(|p| p["id"] != part.as_str() && p["id"] != part2.as_str())
    );

    // 5. The office sees the one rejection: this device, wrong_van, the
    //    refused change (the second part never reached the server).
    let record = ok(
        &app,
        Method::GET,
        &office,
        &format!("/v1/jobs/{id}/rejections"),
        None,
    )
    .await;
    let rejections = record["rejections"].as_array().unwrap();
    assert_eq!(rejections.len(), 1, "{record}");
    assert_eq!(rejections[0]["code"], "wrong_van", "{record}");
    assert_eq!(rejections[0]["device_name"], "Kotlin recovery device");
    assert_eq!(rejections[0]["username"], "tech");
    assert_eq!(rejections[0]["user_id"], depot.tech.to_string());
    assert_eq!(rejections[0]["change"].as_str().map(str::len), Some(64));
}
