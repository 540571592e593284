//! What each role sees: a technician the customers and assets of their own
//! jobs, office roles their depots' customers (dispatchers and admins all),
//! an inventory manager none. Outside the scope is a 404, the same answer
//! as for a record that does not exist; a missing permission is a 403.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, actor, backend_tests, spawn_app};
use crate::setup::{self, ok};
use crate::support::{call, customer, job_from_registry};

backend_tests!(each_role_sees_its_customers);

async fn names(app: &TestApp, token: &str) -> Vec<String> {
    let (status, body) = call(app, Method::GET, token, "/v1/customers", None).await;
    assert_eq!(status, 200, "{body}");
    body["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn status(app: &TestApp, token: &str, path: &str) -> u16 {
    call(app, Method::GET, token, path, None).await.0
}

async fn each_role_sees_its_customers(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let north = d.depot.to_string();
    let south = ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/inventory/locations",
        Some(json!({"kind": "depot", "name": "South depot"})),
    )
    .await;
    let south = south["id"].as_str().unwrap().to_owned();
    let sup_id = app.user("sup", Role::Supervisor).await;
    ok(
        &app,
        Method::POST,
        &d.admin,
        &format!("/v1/inventory/locations/{north}/staff"),
        Some(json!({"user_id": sup_id.to_string()})),
    )
    .await;
    app.user("dispatch", Role::Dispatcher).await;
    app.user("tech2", Role::Technician).await;
    let login = |name: &'static str, n: u8| {
        let app = &app;
        async move { app.login(name, &actor(n)).await.access_token }
    };
    let (dispatcher, sup, tech, tech2) = (
        login("dispatch", 60).await,
        login("sup", 61).await,
        login("tech", 62).await,
        login("tech2", 63).await,
    );
    let (admin, manager) = (d.admin.clone(), d.manager.clone());

    let acme = customer(
        &app,
        &dispatcher,
        &north,
        "Acme Boilers",
        "BX-1",
        "2031-01-31",
    )
    .await;
    let zen = customer(
        &app,
        &dispatcher,
        &south,
        "Zen Bakery",
        "ZB-77",
        "2031-01-31",
    )
    .await;
    // A second boiler at Acme that no job references.
    ok(&app, Method::POST, &dispatcher, &format!("/v1/customers/{}/assets", acme.customer), Some(json!({"site_id": acme.site, "sku": "BOILER-X200", "product": "Boiler X200", "serial": "BX-2"}))).await;
    ok(
        &app,
        Method::POST,
        &dispatcher,
        "/v1/jobs",
        Some(job_from_registry(
            json!({"asset_id": acme.asset}),
            Some(&d.tech.to_string()),
        )),
    )
    .await;

    let acme_path = format!("/v1/customers/{}", acme.customer);
    let zen_path = format!("/v1/customers/{}", zen.customer);
    let ghost_path = format!("/v1/customers/{}", Uuid::new_v4());
    let new_customer =
        |depot: &str| json!({"kind": "person", "name": "New One", "depot_id": depot});

    // Technician: their job's customer and asset only.
    assert_eq!(names(&app, &tech).await, ["Acme Boilers"]);
    let (s, view) = call(&app, Method::GET, &tech, &acme_path, None).await;
    assert_eq!(s, 200, "{view}");
    let serials: Vec<&Value> = view["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["asset"]["serial"])
        .collect();
    assert_eq!(serials, [&json!("BX-1")], "only the asset of their job");
    assert_eq!(status(&app, &tech, "/v1/assets/BX-1").await, 200);
    assert_eq!(status(&app, &tech, "/v1/assets/BX-2").await, 404);
    assert_eq!(status(&app, &tech, "/v1/assets/ZB-77").await, 404);
    let (s, outside) = call(&app, Method::GET, &tech, &zen_path, None).await;
    let (_, missing) = call(&app, Method::GET, &tech, &ghost_path, None).await;
    assert_eq!(s, 404);
    assert_eq!(outside, missing, "outside the scope reads as not existing");
    assert_eq!(
        call(
            &app,
            Method::POST,
            &tech,
            "/v1/customers",
            Some(new_customer(&north))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &tech,
            &acme_path,
            Some(json!({"name": "X"}))
        )
        .await
        .0,
        403
    );
    // Another technician: nothing.
    assert!(names(&app, &tech2).await.is_empty());
    assert_eq!(status(&app, &tech2, &acme_path).await, 404);
    assert_eq!(status(&app, &tech2, "/v1/assets/BX-1").await, 404);

    // Supervisor of North: North's customers.
    assert_eq!(names(&app, &sup).await, ["Acme Boilers"]);
    assert_eq!(status(&app, &sup, &acme_path).await, 200);
    assert_eq!(status(&app, &sup, "/v1/assets/BX-2").await, 200);
    assert_eq!(status(&app, &sup, &zen_path).await, 404);
    assert_eq!(status(&app, &sup, "/v1/assets/ZB-77").await, 404);
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &sup,
            &zen_path,
            Some(json!({"name": "X"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &sup,
            &format!("{zen_path}/sites"),
            Some(json!({"address": "Rua 9"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &sup,
            "/v1/customers",
            Some(new_customer(&south))
        )
        .await
        .0,
        400,
        "another depot"
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &sup,
            "/v1/customers",
            Some(new_customer(&north))
        )
        .await
        .0,
        201
    );
    let (s, answer) = call(
        &app,
        Method::POST,
        &sup,
        "/v1/jobs",
        Some(job_from_registry(json!({"asset_id": zen.asset}), None)),
    )
    .await;
    assert_eq!(s, 400, "a job from another depot's asset: {answer}");
    // Moving a customer to a depot the supervisor does not staff is refused.
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &sup,
            &acme_path,
            Some(json!({"depot_id": south}))
        )
        .await
        .0,
        400
    );

    // Dispatcher and admin: everyone.
    assert_eq!(
        names(&app, &dispatcher).await,
        ["Acme Boilers", "New One", "Zen Bakery"]
    );
    assert_eq!(
        names(&app, &admin).await,
        ["Acme Boilers", "New One", "Zen Bakery"]
    );
    for token in [&dispatcher, &admin] {
        assert_eq!(status(&app, token, &zen_path).await, 200);
        assert_eq!(status(&app, token, "/v1/assets/ZB-77").await, 200);
    }
    assert_eq!(
        call(
            &app,
            Method::POST,
            &dispatcher,
            "/v1/customers",
            Some(new_customer(&south))
        )
        .await
        .0,
        201
    );

    // Inventory manager: no customers at all (403, naming no role).
    let (s, body) = call(&app, Method::GET, &manager, &acme_path, None).await;
    assert_eq!(s, 403);
    assert_eq!(body["error"]["message"], "your role may not see customers");
    assert_eq!(status(&app, &manager, "/v1/customers").await, 403);
    assert_eq!(status(&app, &manager, "/v1/assets/BX-1").await, 403);
    assert_eq!(
        call(
            &app,
            Method::POST,
            &manager,
            "/v1/customers",
            Some(new_customer(&north))
        )
        .await
        .0,
        403
    );

    // No token: 401.
    let res = app.client.get(app.url(&acme_path)).send().await.unwrap();
    assert_eq!(res.status(), 401);
}
