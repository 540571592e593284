//! User administration (issue #18 item 3): create, disable, re-enable,
//! reset a password, roles and depots, over `/v1/users`; each user's
//! devices with what their last sync reported.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::*;

backend_tests!(
    a_disabled_user_is_cut_off_at_once_and_enabled_again,
    a_password_reset_revokes_the_devices,
    roles_and_depots_are_assigned_by_admins_only,
    the_devices_list_shows_what_the_last_sync_reported,
);

async fn admin_token(app: &TestApp) -> String {
    app.user("root", Role::Admin).await;
    app.login("root", &actor(200)).await.access_token
}

async fn post(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let req = app.client.post(app.url(path)).bearer_auth(token);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    req.send().await.unwrap()
}

async fn put(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .put(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn a_disabled_user_is_cut_off_at_once_and_enabled_again(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;

    // The admin creates a technician, who logs in on two phones.
    let res = post(
        &app,
        &admin,
        "/v1/users",
        Some(json!({"username": "leaver", "role": "technician", "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["role"], "technician");
    assert!(created["disabled_at"].is_null());
    let mut phone = Device::login(&app, "leaver", Role::Technician, 1).await;
    let other = app.login("leaver", &actor(2)).await;
    phone.sync(&app).await;

    let res = post(&app, &admin, &format!("/v1/users/{id}/disable"), None).await;
    assert_eq!(res.status(), 200);
    let disabled: Value = res.json().await.unwrap();
    assert!(disabled["disabled_at"].is_string(), "{disabled}");

    // The very next sync is refused, while the access token has not expired.
    let body = phone.session.start(&phone.docs).encode();
    let res = phone.post(&app, body).await;
    assert_error(res, 401, "unauthorized").await;
    assert_error(app.me(&other.access_token).await, 401, "unauthorized").await;
    assert_error(app.refresh(&other.refresh_token).await, 401, "unauthorized").await;
    // Logging in is refused, with the right password too (and a new phone).
    let body = assert_error(
        app.login_raw("leaver", PASSWORD, &actor(3)).await,
        403,
        "forbidden",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "{body}"
    );
    assert_error(
        app.login_raw("leaver", "wrong password!", &actor(3)).await,
        401,
        "unauthorized",
    )
    .await;
    // Every device of theirs is revoked, as the detail shows.
    let detail: Value = get(&app, &admin, &format!("/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let devices = detail["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{detail}");
    assert!(
        devices.iter().all(|d| d["revoked_at"].is_string()),
        "{detail}"
    );

    // Re-enabled: a new login works (the old phones stay revoked).
    let res = post(&app, &admin, &format!("/v1/users/{id}/enable"), None).await;
    assert_eq!(res.status(), 200);
    let enabled: Value = res.json().await.unwrap();
    assert!(enabled["disabled_at"].is_null());
    let back = app.login("leaver", &actor(4)).await;
    assert_eq!(app.me(&back.access_token).await.status(), 200);
    assert_error(app.me(&other.access_token).await, 401, "unauthorized").await;

    // Disabling oneself is refused; unknown users are 404; non-admins 403.
    let root = app.login("root", &actor(201)).await;
    let res = post(
        &app,
        &admin,
        &format!("/v1/users/{}/disable", root.user.id),
        None,
    )
    .await;
    assert_error(res, 409, "conflict").await;
    let res = post(
        &app,
        &admin,
        &format!("/v1/users/{}/disable", uuid::Uuid::new_v4()),
        None,
    )
    .await;
    assert_error(res, 404, "not_found").await;
    let res = post(&app, &admin, "/v1/users/not-a-uuid/disable", None).await;
    assert_error(res, 404, "not_found").await;
    app.user("sup", Role::Supervisor).await;
    let sup = app.login("sup", &actor(5)).await;
    let res = post(
        &app,
        &sup.access_token,
        &format!("/v1/users/{id}/disable"),
        None,
    )
    .await;
    assert_error(res, 403, "forbidden").await;
    assert_error(
        get(&app, &sup.access_token, "/v1/users").await,
        403,
        "forbidden",
    )
    .await;
    // Still enabled after the refused attempt.
    assert_eq!(app.me(&back.access_token).await.status(), 200);
}

async fn a_password_reset_revokes_the_devices(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let id = app.user("ana", Role::Technician).await;
    let old = app.login("ana", &actor(1)).await;

    let path = format!("/v1/users/{id}/password");
    let res = post(&app, &admin, &path, Some(json!({"password": "short"}))).await;
    assert_error(res, 400, "bad_request").await;
    // A refused reset changed nothing.
    assert_eq!(app.me(&old.access_token).await.status(), 200);
    let res = post(
        &app,
        &admin,
        &path,
        Some(json!({"password": "a new long password"})),
    )
    .await;
    assert_eq!(res.status(), 204);

    assert_error(app.me(&old.access_token).await, 401, "unauthorized").await;
    assert_error(
        app.login_raw("ana", PASSWORD, &actor(2)).await,
        401,
        "unauthorized",
    )
    .await;
    let res = app.login_raw("ana", "a new long password", &actor(2)).await;
    assert_eq!(res.status(), 200);
}

async fn roles_and_depots_are_assigned_by_admins_only(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let id = app.user("ines", Role::Technician).await;
    let ines = app.login("ines", &actor(1)).await;

    let res = put(
        &app,
        &admin,
        &format!("/v1/users/{id}/role"),
        json!({"role": "supervisor"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["role"], "supervisor");
    // The role applies to her next request.
    let me: Value = app.me(&ines.access_token).await.json().await.unwrap();
    assert_eq!(me["user"]["role"], "supervisor");
    let res = put(
        &app,
        &admin,
        &format!("/v1/users/{id}/role"),
        json!({"role": "root"}),
    )
    .await;
    assert_error(res, 400, "bad_request").await;

    let mut depots = Vec::new();
    for name in ["North", "South"] {
        let res = post(
            &app,
            &admin,
            "/v1/inventory/locations",
            Some(json!({"kind": "depot", "name": name})),
        )
        .await;
        assert_eq!(res.status(), 201);
        let loc: Value = res.json().await.unwrap();
        depots.push(loc["id"].as_str().unwrap().to_owned());
    }
    let path = format!("/v1/users/{id}/depots");
    let res = put(
        &app,
        &admin,
        &path,
        json!({"depots": [depots[1], depots[0]]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let mut want = depots.clone();
    want.sort();
    assert_eq!(body["depots"], json!(want));
    let res = put(&app, &admin, &path, json!({"depots": [depots[0]]})).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["depots"], json!([depots[0]]));
    // Not a depot: 400, and the list is unchanged.
    let res = put(
        &app,
        &admin,
        &path,
        json!({"depots": [uuid::Uuid::new_v4()]}),
    )
    .await;
    assert_error(res, 400, "bad_request").await;
    let list: Value = get(&app, &admin, "/v1/users").await.json().await.unwrap();
    let ines_row = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "ines")
        .unwrap()
        .clone();
    assert_eq!(ines_row["depots"], json!([depots[0]]));

    // Ines (a supervisor now) may not manage users, nor make herself admin.
    let ines = app.login("ines", &actor(2)).await;
    let res = put(
        &app,
        &ines.access_token,
        &format!("/v1/users/{id}/role"),
        json!({"role": "admin"}),
    )
    .await;
    assert_error(res, 403, "forbidden").await;
    // An admin may not demote themselves (the last way back in).
    let root = app.login("root", &actor(202)).await;
    let res = put(
        &app,
        &admin,
        &format!("/v1/users/{}/role", root.user.id),
        json!({"role": "technician"}),
    )
    .await;
    assert_error(res, 409, "conflict").await;
    // A taken username is 409, a bad one 400.
    let res = post(
        &app,
        &admin,
        "/v1/users",
        Some(json!({"username": "ines", "role": "technician", "password": PASSWORD})),
    )
    .await;
    assert_error(res, 409, "conflict").await;
    let res = post(
        &app,
        &admin,
        "/v1/users",
        Some(json!({"username": "", "role": "technician", "password": PASSWORD})),
    )
    .await;
    assert_error(res, 400, "bad_request").await;
}

async fn the_devices_list_shows_what_the_last_sync_reported(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let admin = admin_token(&app).await;
    let id = app.user("tom", Role::Technician).await;
    let mut phone = Device::login(&app, "tom", Role::Technician, 1).await;

    let detail: Value = get(&app, &admin, &format!("/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(detail["devices"][0]["last_sync_at"].is_null(), "{detail}");

    let res = app
        .client
        .post(app.url("/v1/sync"))
        .bearer_auth(&phone.token)
        .header("content-type", "application/cbor")
        .header("x-fieldsync-app-version", "2.4.0")
        .header("x-fieldsync-pending-changes", "7")
        .body(phone.session.start(&phone.docs).encode())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let detail: Value = get(&app, &admin, &format!("/v1/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let d = &detail["devices"][0];
    assert!(d["last_sync_at"].is_string(), "{detail}");
    assert_eq!(d["app_version"], "2.4.0");
    assert_eq!(d["pending_changes"], 7);
    assert_eq!(d["id"], phone.device_id);

    // Revoking from the list (the device API) cuts the phone off.
    let res = post(
        &app,
        &admin,
        &format!("/v1/devices/{}/revoke", phone.device_id),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let body = phone.session.start(&phone.docs).encode();
    let res = phone.post(&app, body).await;
    assert_error(res, 401, "unauthorized").await;
}
