//! Bad input and limits: every failure is a JSON error body, never a 500.

use std::time::Duration;

use fieldsync_server::testing::TestBackend;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::*;

backend_tests!(
    malformed_json_is_400,
    json_without_content_type_is_415,
    oversized_bodies_are_413,
    unknown_routes_are_404_and_wrong_methods_405,
    request_ids_are_set_and_propagated,
    client_errors_read_as_text_for_people,
    nul_characters_in_text_are_a_client_error,
);

async fn malformed_json_is_400(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let post = |body: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_error(post("{not json").await.unwrap(), 400, "bad_request").await;
    assert_error(post("").await.unwrap(), 400, "bad_request").await;
    // Well-formed, wrong shape: missing fields, wrong types, unknown fields.
    assert_error(
        post(r#"{"username": "ana"}"#).await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    let body = assert_error(
        post(r#"{"username": 1, "password": "x", "device": {"name": "t", "actor_id": "00"}}"#)
            .await
            .unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("username"),
        "{body}"
    );
    assert_error(
        post(r#"{"refresh_token": "x", "extra": 1}"#).await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("content-type", "application/json")
        .body(r#"{"refresh_token": "x", "extra": 1}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "bad_request").await;
}

async fn json_without_content_type_is_415(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .body(r#"{"refresh_token": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
}

/// Small, so an oversized request still fits in the socket buffers and the
/// client never races the server's early answer.
const LIMIT: usize = 4096;

async fn oversized_bodies_are_413(backend: TestBackend) {
    let app = spawn_app_with(backend, |s| s.max_body_bytes = LIMIT).await;
    let big = format!(r#"{{"refresh_token": "{}"}}"#, "a".repeat(LIMIT));

    // Declared length over the limit: refused by the limit layer before any handler.
    let res = app
        .client
        .post(app.url("/v1/auth/refresh"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "payload_too_large").await;

    // Chunked, no declared length: cut off while the body is read.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut request = format!(
        "POST /v1/auth/refresh HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        app.addr
    );
    request.push_str(&format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#""code":"payload_too_large""#),
        "{response}"
    );

    // Under the limit is read: a bad token is just a 401.
    assert_error(
        app.refresh(&"a".repeat(LIMIT - 100)).await,
        401,
        "unauthorized",
    )
    .await;

    // The configured limit is the only one: axum's 2 MB extractor default is off.
    let big_limit = 3 * 1024 * 1024;
    let app = spawn_app_with(backend, |s| s.max_body_bytes = big_limit).await;
    let res = app.refresh(&"a".repeat(big_limit - 100)).await;
    assert_error(res, 401, "unauthorized").await;
}

async fn unknown_routes_are_404_and_wrong_methods_405(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let res = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "not_found").await;
    let res = app.client.post(app.url("/v1")).send().await.unwrap();
    assert_error(res, 404, "not_found").await;
    let res = app
        .client
        .get(app.url("/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "method_not_allowed").await;
}

async fn request_ids_are_set_and_propagated(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let res = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
}

/// What a client gets for its mistakes is written for people: never Rust's
/// error formatting (`Io(Error { kind: UnexpectedEof, .. })`).
async fn client_errors_read_as_text_for_people(backend: TestBackend) {
    use fieldsync_core::DocId;
    use fieldsync_core::sync::{DocMessage, PROTOCOL_VERSION, SyncRequest};

    let app = spawn_app(backend).await;
    app.user("ana", fieldsync_core::Role::Technician).await;
    let token = app.login("ana", &actor(1)).await.access_token;
    let batch = SyncRequest {
        v: PROTOCOL_VERSION,
        docs: vec![DocMessage {
            id: DocId::PriceBook,
            msg: serde_bytes::ByteBuf::from(vec![0x42; 40]),
        }],
        known: Vec::new(),
        cursor: None,
        held: None,
    }
    .encode();
    let internal = [
        "Error {",
        "kind:",
        "Io(",
        "Syntax(",
        "Semantic(",
        "UnexpectedEof",
    ];
    let cbor: [(&[u8], &str); 3] = [
        (&batch[..batch.len() - 7], "ends before it is complete"),
        (&[0x1c], "not valid CBOR"),
        (&[0x01], "expected shape"),
    ];
    for (body, expected) in cbor {
        let res = app
            .client
            .post(app.url("/v1/sync"))
            .bearer_auth(&token)
            .header("content-type", "application/cbor")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let body = assert_error(res, 400, "bad_request").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
        for bad in internal {
            assert!(!message.contains(bad), "{message}");
        }
    }
    for body in [r#"{"username": "ana", "#, r#"{"username": 7}"#, "[]"] {
        let res = app
            .client
            .post(app.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let body = assert_error(res, 400, "bad_request").await;
        let message = body["error"]["message"].as_str().unwrap();
        for bad in internal {
            assert!(!message.contains(bad), "{message}");
        }
    }
}

/// PostgreSQL cannot store U+0000 in text; whatever the backend, a NUL in
/// a JSON string is the client's mistake (400), never a 500.
async fn nul_characters_in_text_are_a_client_error(backend: TestBackend) {
    use serde_json::json;

    let app = spawn_app(backend).await;
    app.user("admin", fieldsync_core::Role::Admin).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let nul = "North\u{0}depot";
    for (method, path, body) in [
        (
            reqwest::Method::POST,
            "/v1/inventory/locations",
            json!({"kind": "depot", "name": nul}),
        ),
        (
            reqwest::Method::PUT,
            "/v1/inventory/parts/P-1",
            json!({"name": nul, "unit_cost_minor": 1}),
        ),
        (reqwest::Method::POST, "/v1/jobs", {
            let mut job = crate::office::new_job(nul, None);
            job["problem"] = json!(nul);
            job
        }),
    ] {
        let res = send(method, path, body).await.unwrap();
        let body = assert_error(res, 400, "bad_request").await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{body}"
        );
    }
    // In identifiers and in query strings too.
    let res = send(
        reqwest::Method::POST,
        "/v1/inventory/movements",
        json!({"id": uuid::Uuid::new_v4(), "kind": "receipt", "sku": "P-1", "quantity": 1,
            "to": uuid::Uuid::new_v4(), "serials": ["S\u{0}1"]}),
    )
    .await
    .unwrap();
    assert_error(res, 400, "bad_request").await;
    for path in ["/v1/jobs?customer=An%00a", "/v1/inventory/parts/P%001"] {
        let res = app
            .client
            .get(app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        let body = assert_error(res, 400, "bad_request").await;
        assert!(
            body["error"]["message"].as_str().unwrap().contains("NUL"),
            "{path}: {body}"
        );
    }
}
