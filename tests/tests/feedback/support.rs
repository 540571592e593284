//! What the feedback tests share: a real SMTP server (aiosmtpd child
//! process, `common/smtp.rs`), the scene (office, technician with a van in a
//! depot, a supervisor, and the outbox worker the test drives itself), and
//! small HTTP helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::{JobAction, JobId, LineId, Role, Timestamp, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::brand::Brand;
use fieldsync_server::config::Settings;
use fieldsync_server::feedback::{FeedbackSettings, SmtpTls};
use fieldsync_server::outbox::Worker;
use fieldsync_server::store::{Backend, now_utc};
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, spawn_app_with};
use crate::office::{create_job, job_id, new_job, price_book, put_price_book};

pub use crate::smtp::{SmtpSecurity, SmtpSink, TestCert};

/// Feedback settings for tests: no delay, short retries, plain SMTP to the
/// sink on `smtp_port`, and no background worker: the test runs each
/// delivery round itself ([`Scene::deliver`]), so "nothing more was sent"
/// is a fact about a round that ran, not about a sleep that was long enough.
pub fn fast(settings: &mut Settings, smtp_port: u16) {
    let f = &mut settings.feedback;
    f.outbox_worker = false;
    f.feedback_delay_secs = 0;
    f.smtp_host = Some("127.0.0.1".into());
    f.smtp_port = smtp_port;
    f.smtp_tls = SmtpTls::None;
    f.mail_from = "Fieldsync <feedback@fieldsync.test>".into();
    f.outbox_poll_ms = 50;
    f.outbox_backoff_ms = 100;
    f.outbox_backoff_max_secs = 1;
}

/// Runs SQL on the app's database (the one written for its backend).
pub async fn sql(app: &TestApp, sqlite: &str, postgres: &str) {
    match app.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_owned()))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// Who is there: the office, a technician with a van in depot "North",
/// and North's supervisor (with an email for alerts).
pub struct Scene {
    pub app: TestApp,
    /// The feedback settings the app runs with (for more workers).
    pub settings: FeedbackSettings,
    /// The outbox worker, driven by the test.
    pub worker: Worker,
    pub dispatcher: String,
    pub admin: String,
    pub tech: UserId,
    pub supervisor: UserId,
    pub supervisor_token: String,
    pub depot: Uuid,
}

pub async fn scene(backend: TestBackend, adjust: impl FnOnce(&mut Settings)) -> Scene {
    let mut feedback = None;
    let mut brand = None;
    let app = spawn_app_with(backend, |s| {
        // These tests count the outbox's messages: feedback only (the
        // invoice email has its own tests, customers::invoices).
        s.invoices.invoice_email = false;
        adjust(s);
        feedback = Some(s.feedback.clone());
        brand = Some(s.brand.clone());
    })
    .await;
    let settings = feedback.unwrap();
    let brand = Arc::new(Brand::load(&brand.unwrap()).expect("the test's brand loads"));
    assert!(
        !settings.outbox_worker,
        "the feedback tests drive the worker themselves (support::fast)"
    );
    let worker = worker_on(app.store.clone(), &settings, &app).with_brand(brand);
    app.user("admin", Role::Admin).await;
    app.user("dispatch", Role::Dispatcher).await;
    let tech = app.user("marta", Role::Technician).await;
    let supervisor = app.user("sofia", Role::Supervisor).await;
    app.store
        .set_user_profile(tech, Some("Marta Sousa"), None)
        .await
        .unwrap();
    app.store
        .set_user_profile(supervisor, Some("Sofia Reis"), Some("sofia@fieldsync.test"))
        .await
        .unwrap();
    let admin = app.login("admin", &crate::helpers::actor(200)).await;
    let res = put_price_book(&app, &admin.access_token, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let dispatcher = app.login("dispatch", &crate::helpers::actor(201)).await;
    let sup = app.login("sofia", &crate::helpers::actor(202)).await;
    let depot = Uuid::new_v4();
    let van = Uuid::new_v4();
    let rows = format!(
        "INSERT INTO locations (id, kind, name, depot_id, technician_id, created_at) \
             VALUES ('{depot}', 'depot', 'North', NULL, NULL, {{now}}); \
         INSERT INTO locations (id, kind, name, depot_id, technician_id, created_at) \
             VALUES ('{van}', 'van', 'Van 1', '{depot}', '{tech}', {{now}}); \
         INSERT INTO depot_staff (user_id, depot_id) VALUES ('{supervisor}', '{depot}');"
    );
    sql(
        &app,
        &rows.replace("{now}", "0"),
        &rows.replace("{now}", "now()"),
    )
    .await;
    Scene {
        app,
        settings,
        worker,
        dispatcher: dispatcher.access_token,
        admin: admin.access_token,
        tech,
        supervisor,
        supervisor_token: sup.access_token,
        depot,
    }
}

/// A worker like the one `serve` starts, with links to `app`.
pub fn worker_on(store: Arc<dyn AppStore>, settings: &FeedbackSettings, app: &TestApp) -> Worker {
    let public_url = settings.public_url.clone().unwrap_or_else(|| app.url(""));
    Worker::new(store, settings.clone(), public_url)
}

impl Scene {
    /// One delivery round now; returns how many messages it attempted.
    pub async fn deliver(&self) -> usize {
        self.deliver_at(now_utc()).await
    }

    /// One delivery round as if the time were `at`.
    pub async fn deliver_at(&self, at: OffsetDateTime) -> usize {
        self.worker.run_once_at(at).await.expect("outbox round")
    }

    /// A round a day from now attempts nothing: no message is waiting for
    /// a retry or a delay, and none is left to send.
    pub async fn assert_nothing_left(&self) {
        let later = now_utc() + Duration::from_secs(24 * 3600);
        assert_eq!(self.deliver_at(later).await, 0, "a message was still due");
    }

    /// A job for the technician; `customer` is the JSON customer object.
    pub async fn job(&self, customer: Value) -> JobId {
        let mut body = new_job("Ana Lima", Some(self.tech));
        body["customer"] = customer;
        job_id(&create_job(&self.app, &self.dispatcher, &body).await)
    }

    pub async fn device(&self, n: u8) -> Device {
        let mut d = Device::login(&self.app, "marta", Role::Technician, n).await;
        d.sync(&self.app).await;
        d
    }

    /// The job's feedback request and messages (`None`: no request).
    pub async fn feedback(&self, job: JobId) -> Option<Value> {
        let res = self
            .app
            .client
            .get(self.app.url(&format!("/v1/feedback/jobs/{job}")))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        match res.status().as_u16() {
            200 => Some(res.json().await.unwrap()),
            404 => None,
            s => panic!("GET feedback: {s} {}", res.text().await.unwrap()),
        }
    }

    /// The job's first outbox message.
    pub async fn message(&self, job: JobId) -> Value {
        let f = self.feedback(job).await.expect("a feedback request");
        f["messages"][0].clone()
    }
}

pub fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// Everything a technician does on a visit, up to and including completion.
pub fn visit(device: &mut Device, job: JobId) {
    device.act(job, JobAction::StartTravel, now());
    device.act(job, JobAction::Arrive, now());
    device.act(
        job,
        JobAction::AddLabour {
            entry: LineId::from_uuid(Uuid::new_v4()),
            minutes: 45,
            rate: "standard".into(),
            description: "Replaced the <b>valve</b> & bled radiators".into(),
        },
        now(),
    );
    device.act(
        job,
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
        now(),
    );
    device.act(job, JobAction::Complete, now());
}

pub fn customer(email: &str) -> Value {
    json!({"name": "Ana Lima", "email": email, "phone": "+351 900 000 001"})
}

/// The feedback link in an email's text part.
pub fn link_in(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let start = text.find("http://").expect("a link in the email");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    assert!(!link.ends_with("/unsubscribe"), "{text}");
    link
}

/// The token at the end of a feedback link.
pub fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_owned()
}

/// A valid form submission.
pub fn answers<'a>(fixed: &'a str, rating: &'a str, comment: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("fixed", fixed),
        ("rating", rating),
        ("courtesy", "5"),
        ("recommend", "9"),
        ("comment", comment),
    ]
}

/// One text value from the app's database (`None` for SQL NULL).
pub async fn sql_text(app: &TestApp, query: &str) -> Option<String> {
    match app.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
            let v = sqlx::query_scalar(sqlx::AssertSqlSafe(query.to_owned()))
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            v
        }
    }
}
