//! Login throttling on the API and the console: free failures, then
//! doubling waits (429 with `Retry-After`, the password not even checked),
//! then a lockout that is audited; the client address comes from
//! `X-Forwarded-For` only behind a trusted proxy, for logins and for the
//! feedback form's rate limit alike.

use std::time::Duration;

use fieldsync_core::Role;
use fieldsync_server::auth::LoginLockout;
use fieldsync_server::auth::lockouts::Surface;
use fieldsync_server::auth::throttle::Scope;
use fieldsync_server::client_addr::parse_trusted;
use fieldsync_server::config::Settings;
use fieldsync_server::testing::TestBackend;
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::*;

backend_tests!(
    failed_logins_back_off_then_lock_out_and_the_lockout_is_audited,
    the_console_shares_the_count_and_shows_the_wait,
    forwarded_addresses_count_only_behind_a_trusted_proxy,
    the_feedback_form_limits_by_the_same_client_address,
    a_lockout_another_server_recorded_holds_here,
);

/// Per account: 1 free failure, then waits of 1 s and 2 s and 4 s, the
/// fourth failure locks for 3 s. Per address: generous, out of the way.
fn account_limits(s: &mut Settings) {
    s.login.login_max_failures = 4;
    s.login.login_address_max_failures = 1000;
    s.login.login_backoff_ms = 1000;
    s.login.login_lockout_secs = 3;
    s.console_insecure_cookies = true;
}

/// A login from the device whose actor id is `actor(1)`, or `actor(2)` for
/// "bob" (an actor id belongs to one user's device).
async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    xff: Option<&str>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/v1/auth/login")).json(&json!({
        "username": username,
        "password": password,
        "device": {"name": "phone", "actor_id": actor(if username == "bob" { 2 } else { 1 })},
    }));
    if let Some(xff) = xff {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap()
}

/// Asserts a 429 and returns its `Retry-After`.
async fn throttled(res: reqwest::Response) -> Duration {
    let secs: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = assert_error(res, 429, "too_many_requests").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("try again in"), "{message}");
    assert!(secs >= 1);
    Duration::from_secs(secs)
}

async fn failed_logins_back_off_then_lock_out_and_the_lockout_is_audited(backend: TestBackend) {
    let app = spawn_app_with(backend, account_limits).await;
    app.user("ana", Role::Technician).await;

    assert_error(
        login(&app, "ana", "guess 1", None).await,
        401,
        "unauthorized",
    )
    .await;
    for expected_wait in [1, 2, 4] {
        // Too soon: refused without looking at the password (even the right one).
        let wait = throttled(login(&app, "ana", PASSWORD, None).await).await;
        assert_eq!(wait, Duration::from_secs(expected_wait));
        tokio::time::sleep(wait).await;
        assert_error(
            login(&app, "ANA", "another guess", None).await,
            401,
            "unauthorized",
        )
        .await;
    }
    // The fourth failure locked the account, for every address.
    let wait = throttled(login(&app, "ana", PASSWORD, Some("198.51.100.7")).await).await;
    assert_eq!(wait, Duration::from_secs(3));
    // Other accounts are untouched.
    app.user("bob", Role::Technician).await;
    assert_eq!(login(&app, "bob", PASSWORD, None).await.status(), 200);

    // Audited: scope, subject, where it was tried, how many failures.
    let audit = app.store.login_lockouts(10).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    let lockout = &audit[0];
    assert_eq!(lockout.scope, Scope::Account);
    assert_eq!(lockout.subject, "ana");
    assert_eq!(lockout.surface, Surface::Api);
    assert_eq!(lockout.client, "127.0.0.1");
    assert_eq!(lockout.failures, 4);
    assert_eq!(
        lockout.locked_until - lockout.locked_at,
        time::Duration::seconds(3)
    );

    // After the lockout, the right password works and clears the count.
    tokio::time::sleep(wait).await;
    assert_eq!(login(&app, "ana", PASSWORD, None).await.status(), 200);
    assert_error(
        login(&app, "ana", "one more guess", None).await,
        401,
        "unauthorized",
    )
    .await;
}

/// The value of hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn the_console_shares_the_count_and_shows_the_wait(backend: TestBackend) {
    let app = spawn_app_with(backend, account_limits).await;
    app.user("sofia", Role::Supervisor).await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    let console_login = |password: &'static str| {
        client
            .post(app.url("/console/login"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", "sofia"),
                ("password", password),
            ])
            .send()
    };

    // One failure on the API ...
    assert_error(
        login(&app, "sofia", "guess", None).await,
        401,
        "unauthorized",
    )
    .await;
    // ... and the console must wait too, even with the right password.
    let res = console_login(PASSWORD).await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Too many failed attempts. Please wait a second"),
        "{html}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(console_login("wrong again").await.unwrap().status(), 401);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(console_login("still wrong").await.unwrap().status(), 401);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        console_login("wrong to the end").await.unwrap().status(),
        401
    );

    let audit = app.store.login_lockouts(10).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].surface, Surface::Console);
    assert_eq!(audit[0].subject, "sofia");
    let res = console_login(PASSWORD).await.unwrap();
    assert_eq!(res.status(), 429);
    let html = res.text().await.unwrap();
    assert!(html.contains("Please wait 3 seconds"), "{html}");
}

async fn forwarded_addresses_count_only_behind_a_trusted_proxy(backend: TestBackend) {
    // Per address: 1 free failure then a 5 s wait; accounts out of the way.
    let limits = |s: &mut Settings| {
        s.login.login_max_failures = 1000;
        s.login.login_address_max_failures = 3;
        s.login.login_backoff_ms = 5000;
    };
    let behind_proxy = spawn_app_with(backend, |s| {
        limits(s);
        s.trusted_proxies = vec![parse_trusted("127.0.0.0/8").unwrap()];
    })
    .await;
    let app = &behind_proxy;
    let a = Some("203.0.113.1");
    assert_error(login(app, "x1", "guess", a).await, 401, "unauthorized").await;
    throttled(login(app, "x2", "guess", a).await).await;
    // A client writing its own header left of the proxy's does not escape.
    throttled(login(app, "x3", "guess", Some("10.9.9.9, 203.0.113.1")).await).await;
    // Another client behind the same proxy has its own count.
    assert_error(
        login(app, "x4", "guess", Some("203.0.113.2")).await,
        401,
        "unauthorized",
    )
    .await;

    // Without a trusted proxy the header is ignored: one peer, one count.
    let direct = spawn_app_with(backend, limits).await;
    let app = &direct;
    assert_error(login(app, "x1", "guess", a).await, 401, "unauthorized").await;
    throttled(login(app, "x2", "guess", Some("203.0.113.2")).await).await;
    throttled(login(app, "x3", "guess", None).await).await;
}

async fn the_feedback_form_limits_by_the_same_client_address(backend: TestBackend) {
    let rate = |s: &mut Settings| s.feedback.feedback_rate_per_min = 2;
    let form = |app: &TestApp, xff: &'static str| {
        app.client
            .get(app.url("/feedback/not-a-real-token"))
            .header("x-forwarded-for", xff)
            .send()
    };
    let behind_proxy = spawn_app_with(backend, |s| {
        rate(s);
        s.trusted_proxies = vec![parse_trusted("127.0.0.1").unwrap()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            form(&behind_proxy, "203.0.113.1").await.unwrap().status(),
            404
        );
    }
    assert_eq!(
        form(&behind_proxy, "203.0.113.1").await.unwrap().status(),
        429
    );
    assert_eq!(
        form(&behind_proxy, "203.0.113.2").await.unwrap().status(),
        404
    );

    let direct = spawn_app_with(backend, rate).await;
    assert_eq!(form(&direct, "203.0.113.1").await.unwrap().status(), 404);
    assert_eq!(form(&direct, "203.0.113.2").await.unwrap().status(), 404);
    assert_eq!(form(&direct, "203.0.113.3").await.unwrap().status(), 429);
}

/// Another server process on the same database locked "ana" and then an
/// address: this one, which counted nothing itself, refuses them too, for
/// as long as the audit says.
async fn a_lockout_another_server_recorded_holds_here(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec![parse_trusted("127.0.0.1").unwrap()];
    })
    .await;
    app.user("ana", Role::Technician).await;
    app.user("bob", Role::Technician).await;
    let locked_at = fieldsync_server::store::now_utc();
    let elsewhere = |scope, subject: &str, secs| LoginLockout {
        id: uuid::Uuid::new_v4(),
        scope,
        subject: subject.to_owned(),
        surface: Surface::Api,
        client: "198.51.100.9".to_owned(),
        failures: 10,
        locked_at,
        locked_until: locked_at + time::Duration::seconds(secs),
    };
    app.store
        .record_login_lockout(&elsewhere(Scope::Account, "ana", 600))
        .await
        .unwrap();
    let wait = throttled(login(&app, "Ana", PASSWORD, None).await).await;
    assert!(
        (599..=600).contains(&wait.as_secs()),
        "Retry-After {wait:?}"
    );
    assert_eq!(login(&app, "bob", PASSWORD, None).await.status(), 200);

    app.store
        .record_login_lockout(&elsewhere(Scope::Address, "203.0.113.5", 2))
        .await
        .unwrap();
    let from = Some("203.0.113.5");
    throttled(login(&app, "bob", PASSWORD, from).await).await;
    assert_eq!(
        login(&app, "bob", PASSWORD, Some("203.0.113.6"))
            .await
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(login(&app, "bob", PASSWORD, from).await.status(), 200);
    // Refusals are not lockouts of their own: the audit has what was written.
    assert_eq!(app.store.login_lockouts(10).await.unwrap().len(), 2);
}
