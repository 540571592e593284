//! SMS through the gateway webhook: signed JSON, retried after a 5xx with
//! the same idempotency key, a 4xx is permanent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use fieldsync_server::store::now_utc;
use fieldsync_server::testing::TestBackend;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::backend_tests;
use crate::support::{SmtpSink, fast, scene, visit};

const SECRET: &str = "gateway-shared-secret";

#[derive(Clone, Default)]
struct Gateway {
    calls: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

async fn receive(State(g): State<Gateway>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut calls = g.calls.lock().unwrap();
    calls.push((headers, body.clone()));
    let to = serde_json::from_slice::<Value>(&body).unwrap()["to"].clone();
    if to == json!("+351900000099") {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    // The first call fails like a gateway hiccup; later ones succeed.
    if calls.len() == 1 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn spawn_gateway() -> (Gateway, String) {
    let g = Gateway::default();
    let app = Router::new()
        .route("/sms", post(receive))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (g, url)
}

fn verify(headers: &HeaderMap, body: &[u8]) {
    let ts = headers["x-fieldsync-timestamp"].to_str().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now - ts.parse::<i64>().unwrap()).abs() < 60,
        "fresh timestamp"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-fieldsync-signature"], expected.as_str());
}

async fn customers_without_email_get_a_signed_sms(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let (gateway, url) = spawn_gateway().await;
    let s = scene(backend, |c| {
        fast(c, port);
        c.feedback.sms_webhook_url = Some(url);
        c.feedback.sms_webhook_secret = Some(SECRET.into());
    })
    .await;
    let job = s
        .job(json!({"name": "Rui", "email": null, "phone": "+351 900 000 042"}))
        .await;
    let bad = s
        .job(json!({"name": "Eva", "phone": "+351 900 000 099"}))
        .await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    let t0 = now_utc();
    assert_eq!(s.deliver_at(t0).await, 1);
    assert_eq!(s.message(job).await["status"], "pending", "the 503");
    assert_eq!(s.deliver_at(t0 + Duration::from_secs(60)).await, 1);
    let m = s.message(job).await;
    assert_eq!(m["status"], "sent", "{m}");
    assert_eq!(m["channel"], "sms");
    assert_eq!(m["attempts"], 2, "one 503, then delivered: {m}");

    let calls = gateway.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let mut keys = Vec::new();
    for (headers, body) in &calls {
        verify(headers, body);
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["to"], "+351900000042");
        assert_eq!(
            headers["idempotency-key"],
            v["idempotency_key"].as_str().unwrap()
        );
        keys.push(v["idempotency_key"].as_str().unwrap().to_owned());
    }
    assert_eq!(keys[0], keys[1], "retries carry the same idempotency key");
    let text = serde_json::from_slice::<Value>(&calls[1].1).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("Marta's visit") && text.len() < 300,
        "short SMS: {text}"
    );
    let start = text.find("http://").unwrap();
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let res = s.app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(smtp.messages().is_empty(), "no email for an SMS customer");

    // A 4xx from the gateway is permanent: failed after one attempt.
    phone.sync(&s.app).await;
    visit(&mut phone, bad);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let m = s.message(bad).await;
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["attempts"], 1, "{m}");
    assert!(m["last_error"].as_str().unwrap().contains("422"), "{m}");
    s.assert_nothing_left().await;
    assert_eq!(s.message(bad).await["attempts"], 1);
    assert_eq!(
        gateway.calls.lock().unwrap().len(),
        3,
        "no second call for the 422"
    );
}

backend_tests!(customers_without_email_get_a_signed_sms);
