//! Anti-framing and no-sniffing headers on every answer: console pages
//! (logged in or not, errors too), the public feedback form, and the API.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::redirect::Policy;

use crate::helpers::*;

backend_tests!(no_page_or_answer_may_be_framed);

fn assert_cannot_be_framed(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

/// The `value` of hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// `name=value` of the `Set-Cookie` headers of a response.
fn cookies(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

async fn no_page_or_answer_may_be_framed(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.console_insecure_cookies = true).await;
    app.user("sofia", Role::Supervisor).await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, cookie: &str| {
        client
            .get(app.url(path))
            .header("cookie", cookie.to_owned())
            .send()
    };

    // The console's login page, and the redirect to it.
    let login = get("/console/login", "").await.unwrap();
    assert_eq!(login.status(), 200);
    assert_cannot_be_framed(&login, "login page");
    let login_cookie = cookies(&login);
    let csrf = hidden(&login.text().await.unwrap(), "csrf");
    let res = get("/console", "").await.unwrap();
    assert_eq!(res.status(), 303);
    assert_cannot_be_framed(&res, "redirect to login");

    // Logged in: a page, and a 403 error page (a form without its CSRF token).
    let res = client
        .post(app.url("/console/login"))
        .header("cookie", &login_cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "sofia"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "console login");
    let session = cookies(&res);
    let page = get("/console/feedback", &session).await.unwrap();
    assert_eq!(page.status(), 200);
    assert_cannot_be_framed(&page, "console page");
    let forbidden = client
        .post(app.url("/console/logout"))
        .header("cookie", &session)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    assert_cannot_be_framed(&forbidden, "console error page");
    assert!(
        forbidden.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // The public feedback form's pages keep their own, stricter policy.
    let res = get("/feedback/not-a-token", "").await.unwrap();
    assert_eq!(res.status(), 404);
    assert_cannot_be_framed(&res, "feedback page");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");

    // The API's answers, errors included.
    for (path, status) in [
        ("/healthz", 200),
        ("/openapi.json", 200),
        ("/v1/me", 401),
        ("/nope", 404),
    ] {
        let res = get(path, "").await.unwrap();
        assert_eq!(res.status(), status, "{path}");
        assert_cannot_be_framed(&res, path);
    }
}
