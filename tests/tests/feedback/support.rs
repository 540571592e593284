//! What the feedback tests share: a real SMTP server (aiosmtpd child
//! process), the scene (office, technician with a van in a depot, a
//! supervisor), and small HTTP helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fieldsync_core::{JobAction, JobId, LineId, Role, Timestamp, UserId};
use fieldsync_server::config::Settings;
use fieldsync_server::feedback::SmtpTls;
use fieldsync_server::store::Backend;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, spawn_app_with};
use crate::office::{create_job, job_id, new_job, price_book, put_price_book};

/// Polls happen every 50 ms; this many make the longest wait (15 s).
const MAX_POLLS: usize = 300;

/// A real SMTP server: `smtp_sink.py` under aiosmtpd, writing each message
/// as JSON into a temporary directory. Dropping it stops it.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On a given port (0: any free one).
    pub async fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/feedback/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(dir.path())
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 not found (the SMTP tests need python3 with aiosmtpd: scripts/install-test-tools)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("SMTP sink did not start in 10 s")
            .unwrap()
            .expect("SMTP sink exited: is aiosmtpd installed? (scripts/install-test-tools)");
        let port = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected SMTP sink output {line:?}"));
        Self {
            port,
            dir,
            _child: child,
        }
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits (bounded) until at least `n` messages arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..MAX_POLLS {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} messages, got {}: {:?}",
            self.messages().len(),
            self.messages()
        );
    }
}

/// A port nothing listens on (right now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Feedback settings for tests: no delay, fast polling and retries, plain
/// SMTP to the sink on `smtp_port`.
pub fn fast(settings: &mut Settings, smtp_port: u16) {
    let f = &mut settings.feedback;
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
    pub dispatcher: String,
    pub admin: String,
    pub tech: UserId,
    pub supervisor: UserId,
    pub supervisor_token: String,
    pub depot: Uuid,
}

pub async fn scene(backend: TestBackend, adjust: impl FnOnce(&mut Settings)) -> Scene {
    let app = spawn_app_with(backend, adjust).await;
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
        dispatcher: dispatcher.access_token,
        admin: admin.access_token,
        tech,
        supervisor,
        supervisor_token: sup.access_token,
        depot,
    }
}

impl Scene {
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

    /// Waits (bounded) until the job's first message satisfies `done`.
    pub async fn wait_message(&self, job: JobId, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = None;
        for _ in 0..MAX_POLLS {
            if let Some(f) = self.feedback(job).await {
                let m = f["messages"][0].clone();
                if done(&m) {
                    return m;
                }
                last = Some(m);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("message never reached the expected state; last: {last:?}");
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
