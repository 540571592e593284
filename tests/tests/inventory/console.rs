//! The console skeleton: login, session cookie, CSRF, logout, escaping.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;

use crate::console_client::Console;
use sha2::{Digest, Sha256};

use crate::helpers::{backend_tests, spawn_app_with};
use crate::raw::{assert_absent, database_contents, sql_blobs};

backend_tests!(
    login_sets_a_strict_http_only_cookie_and_logout_ends_the_session,
    posts_without_the_session_csrf_token_are_refused,
    wrong_passwords_and_missing_sessions_do_not_get_in,
);

async fn login_sets_a_strict_http_only_cookie_and_logout_ends_the_session(backend: TestBackend) {
    let app = spawn_app_with(backend, |_| {}).await;
    app.user("mgr", Role::InventoryManager).await;
    let mut c = Console::new(&app);
    let page = c.get("/console/login").await.text().await.unwrap();
    let token = Console::hidden(&page, "csrf");
    let res = c
        .post(
            "/console/login",
            &[
                ("csrf", &token),
                ("username", "mgr"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("fs_session="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    // The token is stored hashed: the session's row holds the SHA-256 of
    // the cookie's value, and the value itself is nowhere in the database.
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("fs_session=")
        .to_owned();
    assert_eq!(token.len(), 64);
    let stored = sql_blobs(&app, "SELECT token_hash FROM web_sessions").await;
    assert_eq!(stored, vec![Sha256::digest(token.as_bytes()).to_vec()]);
    assert_absent(&database_contents(&app).await, &token, "the session token");

    let stock = c.get("/console/inventory/stock").await;
    assert_eq!(stock.status(), 200);
    let html = stock.text().await.unwrap();
    assert!(html.contains("mgr (inventory_manager)"), "{html}");
    let csrf = Console::hidden(&html, "csrf");

    let res = c.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/login");
    // The old cookie no longer works, even when replayed.
    c.cookies.insert("fs_session".into(), token);
    let res = c.get("/console/inventory/stock").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/console/login");
}

async fn posts_without_the_session_csrf_token_are_refused(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    app.user("mgr", Role::InventoryManager).await;
    let mut c = Console::new(&app);
    let csrf = c.login("mgr").await;
    assert_eq!(csrf.len(), 64);
    for bad in [
        vec![],
        vec![("csrf", "0".repeat(64))],
        vec![("csrf", "short".to_owned())],
    ] {
        let form: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = c.post("/console/logout", &form).await;
        assert_eq!(res.status(), 403);
        assert!(res.text().await.unwrap().contains("CSRF"));
    }
    // Still logged in after the refused posts.
    assert_eq!(c.get("/console/inventory/stock").await.status(), 200);
    // Another user's token does not work for this session either.
    app.user("mgr2", Role::InventoryManager).await;
    let mut other = Console::new(&app);
    let other_csrf = other.login("mgr2").await;
    assert_ne!(other_csrf, csrf);
    assert_eq!(
        c.post("/console/logout", &[("csrf", &other_csrf)])
            .await
            .status(),
        403
    );
    // The login form itself needs its double-submit token.
    let mut fresh = Console::new(&app);
    let res = fresh
        .post(
            "/console/login",
            &[
                ("csrf", "x"),
                ("username", "mgr"),
                ("password", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);
}

async fn wrong_passwords_and_missing_sessions_do_not_get_in(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    app.user("mgr", Role::InventoryManager).await;
    let mut c = Console::new(&app);
    let res = c.get("/console/inventory/stock").await;
    assert_eq!(res.status(), 303);
    let page = c.get("/console/login").await.text().await.unwrap();
    let token = Console::hidden(&page, "csrf");
    let res = c
        .post(
            "/console/login",
            &[
                ("csrf", &token),
                ("username", "mgr"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(res.status(), 401);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Wrong username or password")
    );
    assert!(!c.cookies.contains_key("fs_session"));
    // A made-up session cookie is no session.
    c.cookies.insert("fs_session".into(), "ab".repeat(32));
    assert_eq!(c.get("/console/inventory/stock").await.status(), 303);
}
