//! The dispatch API: what the office can do with jobs and the price book,
//! and the errors everyone else gets.

use fieldsync_core::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{assert_error, backend_tests, spawn_app};
use crate::office::{
    create_job, get_job, get_json, job_id, new_job, patch_json, post_json, price_book,
    put_price_book,
};
use crate::sync::office;

async fn creating_checks_its_input(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let tech = app.user("tech", Role::Technician).await;
    let token = &office.dispatcher;

    let mut body = new_job("Ana", Some(tech));
    body["customer"]["email"] = json!("not an email");
    assert_error(
        post_json(&app, token, "/v1/jobs", &body).await,
        400,
        "bad_request",
    )
    .await;

    let mut body = new_job("Ana", Some(tech));
    let start = body["window"]["start"].clone();
    body["window"]["start"] = body["window"]["end"].clone();
    body["window"]["end"] = start;
    assert_error(
        post_json(&app, token, "/v1/jobs", &body).await,
        400,
        "bad_request",
    )
    .await;

    let body = new_job(
        "Ana",
        Some(fieldsync_core::UserId::from_uuid(Uuid::new_v4())),
    );
    assert_error(
        post_json(&app, token, "/v1/jobs", &body).await,
        400,
        "bad_request",
    )
    .await;

    let dispatcher = app.user("other-dispatcher", Role::Dispatcher).await;
    let body = new_job("Ana", Some(dispatcher));
    assert_error(
        post_json(&app, token, "/v1/jobs", &body).await,
        400,
        "bad_request",
    )
    .await;

    let mut body = new_job("Ana", Some(tech));
    body["surprise"] = json!(1);
    assert_error(
        post_json(&app, token, "/v1/jobs", &body).await,
        400,
        "bad_request",
    )
    .await;

    let res = app
        .client
        .post(app.url("/v1/jobs"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{\"customer\": ")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "bad_request").await;

    // A technician may not create jobs.
    let device = Device::login(&app, "tech", Role::Technician, 1).await;
    let res = post_json(&app, &device.token, "/v1/jobs", &new_job("Ana", Some(tech))).await;
    assert_error(res, 403, "forbidden").await;

    // A client-chosen id makes a retried create a 409, not a second job.
    let id = Uuid::new_v4();
    let mut body = new_job("Ana", Some(tech));
    body["id"] = json!(id);
    let view = create_job(&app, token, &body).await;
    assert_eq!(view["job"]["id"], id.to_string());
    assert_eq!(view["job"]["status"], "scheduled");
    assert_eq!(
        view["billing"]["total"], 0,
        "nothing done, nothing owed: {view}"
    );
    assert_error(
        post_json(&app, token, "/v1/jobs", &body).await,
        409,
        "conflict",
    )
    .await;
    let list: Value = get_json(&app, token, "/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
}

async fn listing_filters_and_scopes(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let t2 = app.user("tech2", Role::Technician).await;
    let token = &office.dispatcher;
    let a = job_id(&create_job(&app, token, &new_job("Ana Lima", Some(t1))).await);
    let b = job_id(&create_job(&app, token, &new_job("Bruno Reis", Some(t2))).await);
    let c = job_id(&create_job(&app, token, &new_job("Ana Sousa", None)).await);
    let res = post_json(
        &app,
        token,
        &format!("/v1/jobs/{c}/cancel"),
        &json!({"reason": "duplicate"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["job"]["status"], "cancelled");
    assert_eq!(view["job"]["cancel_reason"], "duplicate");
    // Cancelling twice is a conflict with the job's state.
    let res = post_json(
        &app,
        token,
        &format!("/v1/jobs/{c}/cancel"),
        &json!({"reason": "again"}),
    )
    .await;
    assert_error(res, 409, "conflict").await;

    let ids = |v: Value| -> Vec<String> {
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let app = &app;
    let q = |path: String| async move { get_json(app, token, &path).await };
    assert_eq!(
        ids(q("/v1/jobs?customer=ana".to_owned())
            .await
            .json()
            .await
            .unwrap())
        .len(),
        2
    );
    assert_eq!(
        ids(q("/v1/jobs?status=cancelled".to_owned())
            .await
            .json()
            .await
            .unwrap()),
        vec![c.to_string()]
    );
    assert_eq!(
        ids(q(format!("/v1/jobs?technician_id={t2}"))
            .await
            .json()
            .await
            .unwrap()),
        vec![b.to_string()]
    );
    let today = time::OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap();
    assert_eq!(
        ids(q(format!("/v1/jobs?from={today}&until={today}"))
            .await
            .json()
            .await
            .unwrap())
        .len(),
        3
    );
    assert!(
        ids(q(format!("/v1/jobs?from={tomorrow}"))
            .await
            .json()
            .await
            .unwrap())
        .is_empty()
    );
    assert_error(
        q("/v1/jobs?status=finished".to_owned()).await,
        400,
        "bad_request",
    )
    .await;
    assert_error(
        q("/v1/jobs?from=yesterday".to_owned()).await,
        400,
        "bad_request",
    )
    .await;

    // A technician's list is their own, whatever they ask for.
    let tech1 = Device::login(app, "tech1", Role::Technician, 1).await;
    let mine = get_json(app, &tech1.token, &format!("/v1/jobs?technician_id={t2}")).await;
    assert_eq!(ids(mine.json().await.unwrap()), vec![a.to_string()]);
    // Inventory managers do not see jobs.
    app.user("stock", Role::InventoryManager).await;
    let stock = app.login("stock", &crate::helpers::actor(50)).await;
    assert_error(
        get_json(app, &stock.access_token, "/v1/jobs").await,
        403,
        "forbidden",
    )
    .await;
    assert_error(get_job(app, &stock.access_token, a).await, 404, "not_found").await;

    assert_error(
        get_job(app, token, fieldsync_core::JobId::from_uuid(Uuid::new_v4())).await,
        404,
        "not_found",
    )
    .await;
    let res = get_json(app, token, "/v1/jobs/not-a-uuid").await;
    assert_eq!(res.status(), 400);
}

async fn office_edits_and_reassignment(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let t2 = app.user("tech2", Role::Technician).await;
    let token = &office.dispatcher;
    let a = job_id(&create_job(&app, token, &new_job("Ana", Some(t1))).await);

    let res = patch_json(
        &app,
        token,
        &format!("/v1/jobs/{a}"),
        &json!({
            "customer_email": null, "site_address": "Rua Nova 2", "notes": "Dog in the garden",
            "window": {"start": "2030-01-02T08:00:00Z", "end": "2030-01-02T10:00:00Z"}
        }),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let view: Value = get_job(&app, token, a).await.json().await.unwrap();
    assert_eq!(view["job"]["customer"]["email"], Value::Null);
    assert_eq!(view["job"]["site"]["address"], "Rua Nova 2");
    assert_eq!(view["job"]["notes"], "Dog in the garden");
    let row: Value = get_json(&app, token, "/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        row["jobs"][0]["window_start"], "2030-01-02T08:00:00Z",
        "projection follows the edit"
    );

    assert_error(
        patch_json(&app, token, &format!("/v1/jobs/{a}"), &json!({})).await,
        400,
        "bad_request",
    )
    .await;
    let res = post_json(
        &app,
        token,
        &format!("/v1/jobs/{a}/assign"),
        &json!({"technician_id": t2}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let row: Value = get_json(&app, token, &format!("/v1/jobs?technician_id={t2}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(row["jobs"].as_array().unwrap().len(), 1);
    let res = post_json(
        &app,
        token,
        &format!("/v1/jobs/{}/assign", Uuid::new_v4()),
        &json!({"technician_id": t2}),
    )
    .await;
    assert_error(res, 404, "not_found").await;
}

/// Many office edits of one job at the same moment: each waits its turn
/// (or backs off) and lands; none is answered 503 for losing races.
async fn concurrent_edits_of_one_job_all_land(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let tech = app.user("tech", Role::Technician).await;
    let token = &office.dispatcher;
    let a = job_id(&create_job(&app, token, &new_job("Ana", Some(tech))).await);

    const EDITS: usize = 24;
    let mut edits = tokio::task::JoinSet::new();
    for k in 0..EDITS {
        let req = app
            .client
            .patch(app.url(&format!("/v1/jobs/{a}")))
            .bearer_auth(token)
            .json(&json!({"notes": format!("edit {k}")}));
        edits.spawn(async move {
            let res = req.send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        });
    }
    while let Some(done) = edits.join_next().await {
        let (status, text) = done.unwrap();
        assert_eq!(status, 200, "{text}");
    }
    let view: Value = get_job(&app, token, a).await.json().await.unwrap();
    let notes = view["job"]["notes"].as_str().unwrap();
    assert!(
        (0..EDITS).any(|k| notes == format!("edit {k}")),
        "the job reads {notes:?}, not one of the edits"
    );
}

async fn the_price_book_is_the_admins(backend: fieldsync_server::testing::TestBackend) {
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    app.user("dispatch", Role::Dispatcher).await;
    let admin = app
        .login("admin", &crate::helpers::actor(1))
        .await
        .access_token;
    let dispatch = app
        .login("dispatch", &crate::helpers::actor(2))
        .await
        .access_token;
    assert_error(
        get_json(&app, &admin, "/v1/pricebook").await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        put_price_book(&app, &dispatch, &price_book()).await,
        403,
        "forbidden",
    )
    .await;
    let mut bad = price_book();
    bad["currency"] = json!("euro");
    assert_error(put_price_book(&app, &admin, &bad).await, 400, "bad_request").await;

    let first: Value = put_price_book(&app, &admin, &price_book())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["version"], 1);
    let same: Value = put_price_book(&app, &admin, &price_book())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same["version"], 1, "an unchanged book keeps its version");
    let mut dearer = price_book();
    dearer["parts"]["VALVE-22"]["unit_price"] = json!(1400);
    let second: Value = put_price_book(&app, &admin, &dearer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["version"], 2);
    let read: Value = get_json(&app, &dispatch, "/v1/pricebook")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["parts"]["VALVE-22"]["unit_price"], 1400);
}

async fn openapi_and_metrics_describe_sync_and_dispatch(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    create_job(&app, &office.dispatcher, &new_job("Ana", Some(t1))).await;
    let mut tech1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    tech1.sync(&app).await;

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
        "/v1/sync",
        "/v1/jobs",
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/assign",
        "/v1/jobs/{id}/cancel",
        "/v1/pricebook",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "sync_requests_total",
        "sync_documents_total",
        "sync_request_duration_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
}

backend_tests!(
    creating_checks_its_input,
    listing_filters_and_scopes,
    office_edits_and_reassignment,
    concurrent_edits_of_one_job_all_land,
    the_price_book_is_the_admins,
    openapi_and_metrics_describe_sync_and_dispatch,
);
