//! Health, readiness, metrics and the OpenAPI document.

use fieldsync_core::Role;
use fieldsync_server::app::{AppState, serve_listeners};
use fieldsync_server::config::Settings;
use fieldsync_server::testing::{TestBackend, TestDatabase};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::helpers::*;

backend_tests!(
    health_and_readiness,
    metrics_count_requests_by_route_and_status,
    metrics_can_have_a_listener_of_their_own,
    openapi_documents_the_auth_routes,
);

async fn health_and_readiness(backend: TestBackend) {
    let app = spawn_app(backend).await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], status);
    }
}

async fn metrics_count_requests_by_route_and_status(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("ana", Role::Technician).await;
    app.login("ana", &actor(1)).await;
    let _ = app.login_raw("ana", "wrong password", &actor(1)).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for needle in [
        r#"http_requests_total{method="POST",route="/v1/auth/login",status="200"}"#,
        r#"http_requests_total{method="POST",route="/v1/auth/login",status="401"}"#,
        r#"http_request_duration_seconds_bucket{method="POST",route="/v1/auth/login",status="200",le="0.5"}"#,
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

/// `--metrics-listen`: `/metrics` answers there and nowhere else; one
/// shutdown stops both listeners.
async fn metrics_can_have_a_listener_of_their_own(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    let metrics = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let settings = Settings {
        listen: api_addr,
        metrics_listen: Some(metrics_addr),
        data_dir: db.dir.path().to_owned(),
        database_url: Some(db.url.clone()),
        ..Settings::default()
    };
    let state = AppState::build(settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_listeners(state, api, Some(metrics), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let get =
        |addr: std::net::SocketAddr, path: &str| client.get(format!("http://{addr}{path}")).send();

    assert_eq!(get(api_addr, "/healthz").await.unwrap().status(), 200);
    let res = get(api_addr, "/metrics").await.unwrap();
    assert_error(res, 404, "not_found").await;

    let res = get(metrics_addr, "/metrics").await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"}"#),
        "{text}"
    );
    let res = get(metrics_addr, "/healthz").await.unwrap();
    assert_error(res, 404, "not_found").await;

    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("both listeners stop")
        .unwrap()
        .unwrap();
    assert!(
        get(metrics_addr, "/metrics").await.is_err(),
        "metrics listener closed"
    );
}

async fn openapi_documents_the_auth_routes(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/auth/login",
        "/v1/auth/refresh",
        "/v1/me",
        "/v1/devices/{id}/revoke",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} not documented");
    }
    for schema in ["LoginRequest", "TokenResponse", "ErrorBody"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
