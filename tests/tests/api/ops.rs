//! Health, readiness, metrics and the OpenAPI document.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::Value;

use crate::helpers::*;

backend_tests!(
    health_and_readiness,
    metrics_count_requests_by_route_and_status,
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
