//! One visit end to end against the real `fieldsync` binary and nothing
//! in-process: users made with `fieldsync admin create-user`, the server
//! started with `fieldsync serve` and configured through its environment
//! (SMTP with STARTTLS, the default, and AUTH, to a relay whose self-signed
//! certificate it is told to trust), the office over HTTP, the technician's
//! phone as the mobile library (login, offline work, sync), the office
//! editing the job while the phone is offline, and the customer's feedback
//! from the email the server's own worker sent. On SQLite and PostgreSQL.

#[path = "api/helpers.rs"]
#[allow(dead_code, unused_macros, unused_imports)]
mod helpers;
#[path = "api/process.rs"]
mod process;
#[path = "common/smtp.rs"]
mod smtp;

use std::sync::Arc;

use fieldsync_ffi::{FieldsyncClient, JobSyncOutcome};
use fieldsync_server::testing::{TestBackend, TestDatabase};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, actor, run_fieldsync};
use crate::process::ServerProcess;
use crate::smtp::{SmtpSecurity, SmtpSink, TestCert};

/// HTTP calls to the running binary.
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn login(&self, username: &str, n: u8) -> String {
        let res = self
            .client
            .post(format!("{}/v1/auth/login", self.base))
            .json(&json!({"username": username, "password": PASSWORD,
                "device": {"name": "office", "actor_id": actor(n)}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login {username}");
        res.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A call that must succeed; its JSON body (`null` when empty).
    async fn ok(&self, method: Method, token: &str, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

/// Runs `f` with the phone on a blocking thread (the library's HTTP is blocking).
async fn on_phone<T: Send + 'static>(
    phone: &Arc<FieldsyncClient>,
    f: impl FnOnce(&FieldsyncClient) -> T + Send + 'static,
) -> T {
    let phone = phone.clone();
    tokio::task::spawn_blocking(move || f(&phone))
        .await
        .unwrap()
}

/// `fieldsync admin create-user ARGS`; returns the id it prints.
fn create_user(db: &str, args: &[&str]) -> String {
    let mut all = vec!["admin", "create-user"];
    all.extend_from_slice(args);
    let out = run_fieldsync(db, &all, &[("FIELDSYNC_PASSWORD", PASSWORD)], None);
    assert!(
        out.status.success(),
        "create-user {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id:?}");
    id
}

async fn a_visit_against_the_real_binary(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    create_user(&db.url, &["--username", "admin", "--role", "admin"]);
    create_user(&db.url, &["--username", "dispatch", "--role", "dispatcher"]);
    let marta = create_user(
        &db.url,
        &[
            "--username",
            "marta",
            "--role",
            "technician",
            "--display-name",
            "Marta Sousa",
        ],
    );
    let sofia = create_user(
        &db.url,
        &[
            "--username",
            "sofia",
            "--role",
            "supervisor",
            "--email",
            "sofia@fieldsync.test",
        ],
    );
    let cert = TestCert::new();
    let smtp = SmtpSink::start_with(SmtpSecurity {
        tls: Some(&cert),
        auth: Some(("fieldsync", "relay pass")),
    })
    .await;
    let port = smtp.port.to_string();
    let ca = cert.cert.to_str().unwrap().to_owned();
    let data_dir = db.dir.path().to_str().unwrap().to_owned();
    let server = ServerProcess::start_with_env(
        &db.url,
        &[
            ("FIELDSYNC_DATA_DIR", &data_dir),
            ("FIELDSYNC_SMTP_HOST", "127.0.0.1"),
            ("FIELDSYNC_SMTP_PORT", &port),
            // FIELDSYNC_SMTP_TLS left at its default: starttls.
            ("FIELDSYNC_SMTP_CA_FILE", &ca),
            ("FIELDSYNC_SMTP_USERNAME", "fieldsync"),
            ("FIELDSYNC_SMTP_PASSWORD", "relay pass"),
            ("FIELDSYNC_MAIL_FROM", "Fieldsync <feedback@fieldsync.test>"),
            ("FIELDSYNC_FEEDBACK_DELAY_SECS", "0"),
            ("FIELDSYNC_OUTBOX_POLL_MS", "100"),
        ],
    );
    let http = Http {
        client: reqwest::Client::new(),
        base: server.url(""),
    };

    // The office sets up: price book, a depot with the technician's van
    // stocked, the supervisor on the depot's staff, and a job.
    let admin = http.login("admin", 100).await;
    let office = http.login("dispatch", 101).await;
    http.ok(
        Method::PUT,
        &admin,
        "/v1/pricebook",
        Some(json!({
            "version": 0, "currency": "EUR", "tax_rate_bps": 2000, "callout_fee": 4500,
            "parts": {"VALVE-22": {"name": "Valve 22mm", "unit_price": 1250, "serialized": false}},
            "labour_rates": {"standard": {"name": "Standard", "hourly": 6000}},
            "contracts": {}
        })),
    )
    .await;
    let depot = http
        .ok(
            Method::POST,
            &admin,
            "/v1/inventory/locations",
            Some(json!({"kind": "depot", "name": "North"})),
        )
        .await["id"]
        .clone();
    let van = http
        .ok(
            Method::POST,
            &admin,
            "/v1/inventory/locations",
            Some(
                json!({"kind": "van", "name": "Van 1", "depot_id": depot, "technician_id": marta}),
            ),
        )
        .await["id"]
        .clone();
    http.ok(
        Method::POST,
        &admin,
        &format!("/v1/inventory/locations/{}/staff", depot.as_str().unwrap()),
        Some(json!({"user_id": sofia})),
    )
    .await;
    http.ok(
        Method::PUT,
        &admin,
        "/v1/inventory/parts/VALVE-22",
        Some(json!({"name": "Valve 22mm", "unit_cost_minor": 700})),
    )
    .await;
    for body in [
        json!({"id": uuid::Uuid::new_v4(), "kind": "receipt", "sku": "VALVE-22", "quantity": 10, "to": depot}),
        json!({"id": uuid::Uuid::new_v4(), "kind": "transfer", "sku": "VALVE-22", "quantity": 4, "from": depot, "to": van}),
    ] {
        http.ok(Method::POST, &admin, "/v1/inventory/movements", Some(body))
            .await;
    }
    let today = time::OffsetDateTime::now_utc().date();
    let at = |h: u8| {
        today
            .with_hms(h, 0, 0)
            .unwrap()
            .assume_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let job = http
        .ok(
            Method::POST,
            &office,
            "/v1/jobs",
            Some(json!({
                "customer": {"name": "Ana Lima", "email": "ana@example.com", "phone": null},
                "site": {"name": null, "address": "Rua das Flores 1, Porto"},
                "asset": {"product": "Boiler X200", "serial": null, "warranty_end": null, "contract_ref": null},
                "problem": "No hot water",
                "priority": "normal",
                "window": {"start": at(9), "end": at(11)},
                "technician_id": marta,
                "checklist": [],
            })),
        )
        .await["job"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The phone logs in and syncs: the job, the price book, its van.
    let dir = tempfile::tempdir().unwrap();
    let phone = FieldsyncClient::open(dir.path().to_str().unwrap().into()).unwrap();
    let base = http.base.clone();
    let first = on_phone(&phone, move |p| {
        p.login(
            base,
            "marta".into(),
            PASSWORD.into(),
            "Marta's phone".into(),
        )
        .unwrap();
        p.sync().unwrap()
    })
    .await;
    assert_eq!(first.added_jobs, 1, "{first:?}");
    let van_stock = on_phone(&phone, |p| p.van_stock().unwrap()).await.unwrap();
    assert_eq!(van_stock.van_id, van.as_str().unwrap());
    let valves = van_stock
        .items
        .iter()
        .find(|i| i.sku == "VALVE-22")
        .unwrap();
    assert_eq!((valves.server_quantity, valves.available), (4, 4));

    // Offline on site; meanwhile the office changes the job.
    let id = job.clone();
    let (labour, part) = on_phone(&phone, move |p| {
        p.start_travel(id.clone()).unwrap();
        p.arrive(id.clone()).unwrap();
        let labour = p
            .add_labour(
                id.clone(),
                45,
                "standard".into(),
                "Replaced the valve".into(),
            )
            .unwrap();
        let part = p
            .use_part(id.clone(), "VALVE-22".into(), 1, vec![], None)
            .unwrap();
        p.add_note(id, "Valve was leaking".into()).unwrap();
        (labour, part)
    })
    .await;
    http.ok(
        Method::PATCH,
        &office,
        &format!("/v1/jobs/{job}"),
        Some(json!({"problem": "No hot water since Monday", "priority": "urgent"})),
    )
    .await;

    // One sync merges both sides.
    let synced = on_phone(&phone, |p| p.sync().unwrap()).await;
    assert!(
        synced
            .jobs
            .iter()
            .all(|j| matches!(j.outcome, JobSyncOutcome::Accepted)),
        "{synced:?}"
    );
    let id = job.clone();
    let device = on_phone(&phone, move |p| p.job(id).unwrap()).await;
    assert_eq!(device.summary.problem, "No hot water since Monday");
    assert_eq!(device.summary.priority, "urgent");
    let view = http
        .ok(Method::GET, &office, &format!("/v1/jobs/{job}"), None)
        .await;
    assert_eq!(view["job"]["status"], "on_site", "{view}");
    assert_eq!(view["job"]["labour"][0]["id"], labour.as_str());
    assert_eq!(view["job"]["parts"][0]["id"], part.as_str());
    assert_eq!(view["job"]["notes"], "Valve was leaking");
    assert_eq!(view["job"]["problem"], "No hot water since Monday");
    // The ledger took the valve; the phone's copy of its van follows on the
    // next sync (the server refreshes van documents after the commit).
    let stock = http
        .ok(Method::GET, &admin, "/v1/inventory/stock", None)
        .await;
    let on_van = stock
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["location_id"] == van && r["sku"] == "VALVE-22")
        .unwrap_or_else(|| panic!("{stock}"));
    assert_eq!(on_van["quantity"], 3, "{stock}");
    let van_stock = on_phone(&phone, |p| {
        p.sync().unwrap();
        p.van_stock().unwrap()
    })
    .await
    .unwrap();
    let valves = van_stock
        .items
        .iter()
        .find(|i| i.sku == "VALVE-22")
        .unwrap();
    assert_eq!((valves.server_quantity, valves.available), (3, 3));

    // The customer signs, the job completes, and the server's worker mails
    // the feedback request over STARTTLS with AUTH.
    let id = job.clone();
    on_phone(&phone, move |p| {
        p.capture_signature(id.clone(), "Ana Lima".into(), "ab".repeat(32))
            .unwrap();
        p.complete(id).unwrap();
        p.sync().unwrap()
    })
    .await;
    // The customer also gets the invoice, numbered at completion.
    let mail = smtp.wait_for(2).await;
    let link_of = |m: &serde_json::Value| -> String {
        let text = m["text"].as_str().unwrap();
        let start = text.find("http://").expect("a link in the email");
        text[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect()
    };
    for m in &mail {
        assert_eq!(m["to"], json!(["ana@example.com"]));
        assert_eq!((&m["tls"], &m["auth"]), (&json!(true), &json!("fieldsync")));
    }
    let invoice = mail
        .iter()
        .find(|m| link_of(m).contains("/invoice/"))
        .unwrap_or_else(|| panic!("{mail:?}"));
    assert!(
        invoice["subject"].as_str().unwrap().contains("INV-"),
        "{invoice}"
    );
    let link = mail
        .iter()
        .map(link_of)
        .find(|l| l.contains("/feedback/"))
        .unwrap_or_else(|| panic!("{mail:?}"));
    assert!(link.starts_with(&http.base), "{link}");
    let page = http.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Marta"));
    let res = http
        .client
        .post(&link)
        .form(&[
            ("fixed", "no"),
            ("rating", "2"),
            ("courtesy", "4"),
            ("recommend", "3"),
            ("comment", "Still no hot water"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // A low result: the depot's supervisor is alerted and sees the answer.
    let mail = smtp.wait_for(3).await;
    assert_eq!(mail[2]["to"], json!(["sofia@fieldsync.test"]));
    let supervisor = http.login("sofia", 102).await;
    let responses = http
        .ok(Method::GET, &supervisor, "/v1/feedback/responses", None)
        .await;
    assert_eq!(responses.as_array().unwrap().len(), 1, "{responses}");
    assert_eq!(responses[0]["job_id"], job.as_str());
    assert_eq!(responses[0]["technician_name"], "Marta Sousa");
    assert_eq!(responses[0]["answer"]["comment"], "Still no hot water");
    let followups = http
        .ok(Method::GET, &supervisor, "/v1/feedback/followups", None)
        .await;
    assert_eq!(
        followups[0]["reason"], "not fixed, rated 2/5",
        "{followups}"
    );

    let phone_dir = dir;
    tokio::task::spawn_blocking(move || drop(phone))
        .await
        .unwrap();
    drop(phone_dir);
}

helpers::backend_tests!(a_visit_against_the_real_binary);
