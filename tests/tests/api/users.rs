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
    sync_health_gauges_count_a_seeded_situation,
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

/// The value of the sample `name` (with its labels) in a Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn metrics(app: &TestApp) -> String {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn sync_health_gauges_count_a_seeded_situation(backend: TestBackend) {
    use fieldsync_core::{DocId, JobId, Status};
    use fieldsync_server::feedback::{Channel, Delivery, FeedbackTrigger};
    use fieldsync_server::jobs::rejections::NewRejection;
    use fieldsync_server::store::{DeviceId, DocCommit, now_utc};
    use fieldsync_server::users::store::SyncReport;
    use uuid::Uuid;

    // No outbox worker: the seeded messages stay as seeded.
    let app = spawn_app_with(backend, |s| s.feedback.outbox_worker = false).await;
    let empty = metrics(&app).await;
    assert_eq!(
        sample(&empty, "fieldsync_devices_not_synced{hours=\"24\"}"),
        0.0
    );
    assert_eq!(sample(&empty, "fieldsync_jobs_with_rejected_changes"), 0.0);
    assert_eq!(sample(&empty, "fieldsync_outbox_backlog"), 0.0);
    assert_eq!(sample(&empty, "fieldsync_outbox_failed"), 0.0);

    // Four phones: one last synced 30 hours ago (stale), one syncs now, one
    // stale but revoked (not counted), one registered now and never synced.
    let user = app.user("tom", Role::Technician).await;
    let stale = app.login("tom", &actor(1)).await;
    let mut fresh = Device::login(&app, "tom", Role::Technician, 2).await;
    let revoked = app.login("tom", &actor(3)).await;
    app.login("tom", &actor(4)).await;
    let long_ago = now_utc() - time::Duration::hours(30);
    for device in [stale.device_id, revoked.device_id] {
        app.store
            .record_sync(&SyncReport {
                device,
                at: long_ago,
                app_version: Some("1.0.0"),
                pending_changes: Some(3),
            })
            .await
            .unwrap();
    }
    fresh.sync(&app).await;
    app.store
        .revoke_device(revoked.device_id, now_utc())
        .await
        .unwrap();

    // Two jobs with rejected changes (one of them twice).
    let device: DeviceId = stale.device_id;
    let (job_a, job_b) = (
        JobId::from_uuid(Uuid::new_v4()),
        JobId::from_uuid(Uuid::new_v4()),
    );
    let rejection = |job_id| NewRejection {
        job_id,
        device_id: device,
        user_id: user,
        code: "forbidden".into(),
        message: "not your job".into(),
        change: None,
        at: now_utc(),
    };
    app.store
        .record_rejections(&[rejection(job_a), rejection(job_a), rejection(job_b)])
        .await
        .unwrap();

    // Three feedback messages queued; one fails for good.
    for _ in 0..3 {
        let job = JobId::from_uuid(Uuid::new_v4());
        let mut commit = DocCommit::new(DocId::Job(job), 0);
        commit.project(FeedbackTrigger {
            request_id: Uuid::new_v4(),
            message_id: Uuid::new_v4(),
            job_id: job,
            job_status: Status::Completed,
            technician_id: None,
            customer_name: "Ana Lima".into(),
            channel: Channel::Email,
            contact: "ana@example.com".into(),
            opt_out_keys: vec!["ana@example.com".into()],
            visit_date: "2026-11-23".into(),
            work_done: "Replaced valve".into(),
            send_after: now_utc() - time::Duration::minutes(1),
            max_attempts: 5,
        });
        app.store.commit(&commit).await.unwrap();
    }
    let t = now_utc();
    let claimed = app
        .store
        .claim_outbox("test", t, t + time::Duration::minutes(5), 1)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let failed = Delivery::Failed {
        error: "mailbox unavailable".into(),
    };
    app.store
        .finish_outbox(claimed[0].id, "test", &failed, t)
        .await
        .unwrap();

    let text = metrics(&app).await;
    assert_eq!(
        sample(&text, "fieldsync_devices_not_synced{hours=\"24\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "fieldsync_jobs_with_rejected_changes"), 2.0);
    assert_eq!(sample(&text, "fieldsync_outbox_backlog"), 2.0);
    assert_eq!(sample(&text, "fieldsync_outbox_failed"), 1.0);

    // A day later by the server's clock, every phone not revoked is stale.
    app.clock.advance(time::Duration::hours(25));
    let text = metrics(&app).await;
    assert_eq!(
        sample(&text, "fieldsync_devices_not_synced{hours=\"24\"}"),
        3.0,
        "{text}"
    );
}

/// Polls `script` in the page (bounded) until it returns `want`.
async fn wait_for(b: &crate::webdriver::Browser, script: &str, want: Value) {
    let mut got = Value::Null;
    for _ in 0..100 {
        got = b.eval(script).await;
        if got == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{script} gave {got}, wanted {want}");
}

/// The users page in headless Chromium: the devices list shows a phone's
/// last sync and app version, revoking one phone from it cuts that phone
/// off (only), and disabling the user from the users page makes the other
/// phone's next sync a 401 and refuses their console login.
/// Screenshot: target/test-artifacts/users-page.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_disables_a_user_in_chromium() {
    use crate::webdriver::{Browser, LAPTOP};
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    app.user("root", Role::Admin).await;
    let id = app.user("leaver", Role::Technician).await;
    let mut phone = Device::login(&app, "leaver", Role::Technician, 1).await;
    let lost = app.login("leaver", &actor(2)).await;
    let body = phone.session.start(&phone.docs).encode();
    let res = app
        .client
        .post(app.url("/v1/sync"))
        .bearer_auth(&phone.token)
        .header("content-type", "application/cbor")
        .header("x-fieldsync-app-version", "3.1.0")
        .header("x-fieldsync-pending-changes", "2")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "root", PASSWORD).await;
    b.goto(&app.url(&format!("/console/users/{id}"))).await;
    let row = format!("tr[data-device='{}']", phone.device_id);
    let last_sync = b.text(&format!("{row} td.last-sync")).await;
    assert!(
        last_sync.starts_with("20"),
        "last sync shown: {last_sync:?}"
    );
    assert_eq!(b.text(&format!("{row} td.app-version")).await, "3.1.0");
    assert_eq!(b.text(&format!("{row} td.pending")).await, "2");
    let lost_row = format!("tr[data-device='{}']", lost.device_id);
    assert_eq!(b.text(&format!("{lost_row} td.last-sync")).await, "never");

    // Revoke the lost phone from the list.
    b.click(&format!("{lost_row} button.revoke")).await;
    let state = format!(
        "const c = document.querySelector(\"{lost_row} td.state\"); \
         return c ? c.textContent.trim().startsWith('revoked') : null;"
    );
    wait_for(&b, &state, json!(true)).await;
    assert_error(app.me(&lost.access_token).await, 401, "unauthorized").await;
    assert_eq!(app.me(&phone.token).await.status(), 200, "only that phone");

    // Disable the user from the users page.
    b.goto(&app.url("/console/users")).await;
    b.click("tr[data-username='leaver'] button.disable").await;
    let state = "const c = document.querySelector(\"tr[data-username='leaver'] td.state\"); \
         return c ? c.textContent.trim() : null;";
    wait_for(&b, state, json!("disabled")).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let bytes = b.screenshot(&dir.join("users-page.png")).await;
    assert!(bytes > 1000);

    // The phone's next sync is refused; so are API and console logins.
    let body = phone.session.start(&phone.docs).encode();
    assert_error(phone.post(&app, body).await, 401, "unauthorized").await;
    assert_error(
        app.login_raw("leaver", PASSWORD, &actor(3)).await,
        403,
        "forbidden",
    )
    .await;
    b.click("#logout").await;
    b.wait_for_path(|p| p == "/console/login").await;
    b.type_into("#username", "leaver").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#login").await;
    wait_for(
        &b,
        "const e = document.querySelector('.error'); return e ? e.textContent.trim() : null;",
        json!("This account is disabled."),
    )
    .await;

    // Re-enabled from the users page: a new login works.
    b.console_login(&app.url(""), "root", PASSWORD).await;
    b.goto(&app.url("/console/users")).await;
    b.click("tr[data-username='leaver'] button.enable").await;
    wait_for(&b, state, json!("active")).await;
    let back = app.login("leaver", &actor(4)).await;
    assert_eq!(app.me(&back.access_token).await.status(), 200);

    // The sync-health page counts the stale devices for the hours asked
    // (revoked phones never count; the new one registered just now).
    b.goto(&app.url("/console/sync-health?hours=1")).await;
    assert_eq!(b.text("#stale-devices").await, "0");
    app.clock.advance(time::Duration::hours(2));
    b.goto(&app.url("/console/sync-health?hours=1")).await;
    assert_eq!(b.text("#stale-devices").await, "1");
    b.goto(&app.url("/console/sync-health?hours=3")).await;
    assert_eq!(b.text("#stale-devices").await, "0");
    b.quit().await;
}
