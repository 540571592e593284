//! No secrets in logs. The real `fieldsync` binary runs with every log
//! line on (`RUST_LOG=trace`, JSON lines), every flow is driven through it
//! (admin commands, API logins, refresh and its reuse, sync, dispatch, the
//! outbox mailing a real SMTP server, the customer's form and unsubscribe,
//! the console's login, pages and logout, wrong passwords and bad tokens),
//! then the captured log is searched for every password, token, cookie,
//! CSRF token, link token, query string and body text the test used.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use fieldsync_core::{JobId, Role};
use fieldsync_server::auth::TokenResponse;
use fieldsync_server::testing::{TestBackend, TestDatabase};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{actor, backend_tests, fieldsync_bin, run_fieldsync};
use crate::office::{new_job, price_book};
use crate::support::{SmtpSink, answers, customer, link_in, token_of, visit};

backend_tests!(no_password_token_or_link_secret_reaches_the_log);

/// A random value that cannot occur in a log by accident.
fn secret(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4().simple())
}

/// The server as a child process; every line it logs is kept.
struct Server {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(database_url: &str, smtp_port: u16, webhook_secret: &str) -> Self {
        let mut child = Command::new(fieldsync_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(["--feedback-delay-secs", "0", "--outbox-poll-ms", "50"])
            .args(["--smtp-host", "127.0.0.1", "--smtp-tls", "none"])
            .args(["--smtp-port", &smtp_port.to_string()])
            .args(["--mail-from", "Fieldsync <feedback@fieldsync.test>"])
            .args([
                "--console-insecure-cookies",
                "--refresh-reuse-grace-secs",
                "0",
            ])
            .env("FIELDSYNC_SMS_WEBHOOK_SECRET", webhook_secret)
            .env("FIELDSYNC_LOG_JSON", "1")
            .env("RUST_LOG", "trace")
            .env_remove("FIELDSYNC_PASSWORD")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fieldsync");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let kept = lines.clone();
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(sender) = &tx
                    && let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "serving"
                    && let Some(addr) = v["addr"].as_str()
                {
                    let _ = sender.send(addr.parse::<SocketAddr>().unwrap());
                    tx = None;
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("fieldsync did not start serving within 60 s");
            }
        };
        Self {
            child,
            addr,
            lines,
            reader: Some(reader),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and returns everything it logged.
    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// What the test sent that must never be logged.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, value: impl Into<String>) -> String {
        let value = value.into();
        assert!(
            value.len() >= 8,
            "{what} is too short to search for: {value:?}"
        );
        self.0.push((what.to_owned(), value.clone()));
        value
    }
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// `name=value` of a response's cookies.
fn cookies(res: &reqwest::Response) -> Vec<(String, String)> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| {
            let pair = v.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=')?;
            (!v.is_empty()).then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

async fn no_password_token_or_link_secret_reaches_the_log(backend: TestBackend) {
    let mut secrets = Secrets::default();
    let password = secrets.add("password", secret("pw"));
    let wrong = secrets.add("wrong password", secret("wrong"));
    let webhook_secret = secrets.add("webhook secret", secret("hook"));
    let query = secrets.add("query string", secret("query"));
    let body_text = secrets.add("request body", secret("body"));
    let db = TestDatabase::new(backend).await;
    let smtp = SmtpSink::start().await;

    // Admin commands: the password travels on standard input.
    let mut admin_output = String::new();
    for (name, role, extra) in [
        ("admin", "admin", vec![]),
        ("dispatch", "dispatcher", vec![]),
        ("marta", "technician", vec!["--display-name", "Marta Sousa"]),
        (
            "sofia",
            "supervisor",
            vec!["--email", "sofia@fieldsync.test"],
        ),
    ] {
        let mut args = vec!["admin", "create-user", "--username", name, "--role", role];
        args.extend(extra);
        let out = run_fieldsync(&db.url, &args, &[("RUST_LOG", "trace")], Some(&password));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        admin_output.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    let server = Server::start(&db.url, smtp.port, &webhook_secret);
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let login = |name: &'static str, password: &str, n: u8| {
        client
            .post(server.url("/v1/auth/login"))
            .json(&json!({"username": name, "password": password,
                "device": {"name": "phone", "actor_id": actor(n)}}))
            .send()
    };
    let tokens = |t: &TokenResponse, secrets: &mut Secrets| {
        secrets.add("access token", t.access_token.clone());
        secrets.add("refresh token", t.refresh_token.clone());
    };

    // API logins, a wrong password, token refresh and a refresh reused.
    let admin: TokenResponse =
        serde_json::from_value(ok(login("admin", &password, 1).await.unwrap()).await).unwrap();
    tokens(&admin, &mut secrets);
    let office: TokenResponse =
        serde_json::from_value(ok(login("dispatch", &password, 2).await.unwrap()).await).unwrap();
    tokens(&office, &mut secrets);
    assert_eq!(login("marta", &wrong, 3).await.unwrap().status(), 401);
    let first: TokenResponse =
        serde_json::from_value(ok(login("marta", &password, 3).await.unwrap()).await).unwrap();
    tokens(&first, &mut secrets);
    let refreshed: TokenResponse = serde_json::from_value(
        ok(client
            .post(server.url("/v1/auth/refresh"))
            .json(&json!({"refresh_token": first.refresh_token}))
            .send()
            .await
            .unwrap())
        .await,
    )
    .unwrap();
    tokens(&refreshed, &mut secrets);
    let reuse = client
        .post(server.url("/v1/auth/refresh"))
        .json(&json!({"refresh_token": first.refresh_token}))
        .send()
        .await
        .unwrap();
    assert_eq!(reuse.status(), 401, "reuse after the grace revokes");
    let marta: TokenResponse =
        serde_json::from_value(ok(login("marta", &password, 3).await.unwrap()).await).unwrap();
    tokens(&marta, &mut secrets);

    // A token in a query string, and a bad bearer token.
    let res = client
        .get(server.url(&format!(
            "/v1/me?access_token={}&q={query}",
            marta.access_token
        )))
        .bearer_auth(&marta.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let forged = secrets.add("bad token", secret("eyJforged"));
    let res = client
        .get(server.url("/v1/me"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // The office sets up the price book, a depot and van, and a job.
    let put = |path: &str, token: &str, body: Value| {
        client
            .put(server.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let post = |path: &str, token: &str, body: Value| {
        client
            .post(server.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    ok(put("/v1/pricebook", &admin.access_token, price_book())
        .await
        .unwrap())
    .await;
    let depot = ok(post(
        "/v1/inventory/locations",
        &admin.access_token,
        json!({"kind": "depot", "name": "North"}),
    )
    .await
    .unwrap())
    .await;
    ok(post(
        "/v1/inventory/locations",
        &admin.access_token,
        json!({"kind": "van", "name": "Van 1", "depot_id": depot["id"], "technician_id": marta.user.id}),
    )
    .await
    .unwrap())
    .await;
    let sofia_id = login_as(&client, &server, "sofia", &password, &mut secrets).await;
    let res = post(
        &format!(
            "/v1/inventory/locations/{}/staff",
            depot["id"].as_str().unwrap()
        ),
        &admin.access_token,
        json!({"user_id": sofia_id}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    let mut job = new_job("Ana Lima", Some(marta.user.id));
    job["customer"] = customer("ana@example.com");
    let created = ok(post("/v1/jobs", &office.access_token, job).await.unwrap()).await;
    let job_id: JobId = created["job"]["id"].as_str().unwrap().parse().unwrap();
    let res = client
        .patch(server.url(&format!("/v1/jobs/{job_id}")))
        .bearer_auth(&office.access_token)
        .json(&json!({"notes": body_text}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The technician's phone: sync, the visit, sync: the job completes.
    let mut phone = Device::from_tokens(marta, Role::Technician, 3);
    let base = server.url("/v1/sync");
    phone.sync_at(&client, &base).await;
    visit(&mut phone, job_id);
    let synced = phone.sync_at(&client, &base).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    // The outbox mails the customer a feedback link and the invoice (with
    // a link to its printable page, opened once: its token is a secret
    // too); the customer answers the feedback form.
    let mail = smtp.wait_for(2).await;
    let links: Vec<String> = mail.iter().map(link_in).collect();
    let link = links
        .iter()
        .find(|l| l.contains("/feedback/"))
        .unwrap_or_else(|| panic!("{links:?}"))
        .clone();
    let invoice = links
        .iter()
        .find(|l| l.contains("/invoice/"))
        .unwrap_or_else(|| panic!("{links:?}"));
    secrets.add("invoice link token", token_of(invoice));
    let page = client.get(invoice).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let token = secrets.add("feedback link token", token_of(&link));
    let form = client
        .get(server.url(&format!("/feedback/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let res = client
        .get(server.url(&format!("/feedback/{token}?ref={query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .post(server.url(&format!("/feedback/{token}")))
        .form(&answers("yes", "5", &body_text))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(server.url(&format!("/feedback/{token}/unsubscribe")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .post(server.url(&format!("/feedback/{token}/unsubscribe")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let unknown = secrets.add(
        "unknown link token",
        "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE",
    );
    let res = client
        .get(server.url(&format!("/feedback/{unknown}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // The console: login form (double-submit cookie), login, a page, logout.
    let page = client
        .get(server.url("/console/login"))
        .send()
        .await
        .unwrap();
    let mut jar: Vec<(String, String)> = cookies(&page);
    for (_, v) in &jar {
        secrets.add("login cookie", v.clone());
    }
    let login_csrf = secrets.add(
        "login CSRF token",
        hidden(&page.text().await.unwrap(), "csrf"),
    );
    let cookie_header = |jar: &[(String, String)]| {
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let res = client
        .post(server.url("/console/login"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrf", login_csrf.as_str()),
            ("username", "sofia"),
            ("password", wrong.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client
        .post(server.url("/console/login"))
        .header("cookie", cookie_header(&jar))
        .form(&[
            ("csrf", login_csrf.as_str()),
            ("username", "sofia"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    jar = cookies(&res);
    for (_, v) in &jar {
        secrets.add("session cookie", v.clone());
    }
    let page = client
        .get(server.url(&format!("/console/feedback?q={query}")))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = secrets.add(
        "session CSRF token",
        hidden(&page.text().await.unwrap(), "csrf"),
    );
    let res = client
        .post(server.url("/console/logout"))
        .header("cookie", cookie_header(&jar))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let log = server.stop();
    let text = log.join("\n");

    // The log is there and says what happened (so an empty capture cannot pass).
    for expected in [
        r#""message":"serving""#,
        r#""message":"login""#,
        r#""route":"/v1/auth/login""#,
        r#""route":"/v1/auth/refresh""#,
        r#""route":"/v1/sync""#,
        r#""route":"/v1/jobs/{id}""#,
        r#""route":"/feedback/{token}""#,
        r#""route":"/feedback/{token}/unsubscribe""#,
        r#""route":"/console/login""#,
        r#""message":"message sent""#,
        r#""message":"feedback received""#,
        r#""message":"refresh token reused: token family revoked""#,
    ] {
        assert!(text.contains(expected), "log lacks {expected}:\n{text}");
    }
    assert!(log.len() > 50, "only {} log lines", log.len());
    for (what, value) in &secrets.0 {
        for (source, haystack) in [
            ("server log", &text),
            ("admin command output", &admin_output),
        ] {
            if let Some(line) = haystack.lines().find(|l| l.contains(value.as_str())) {
                panic!("the {what} is in the {source}: {line}");
            }
        }
    }
}

/// Logs `name` in (its tokens join the secrets); returns the user id.
async fn login_as(
    client: &reqwest::Client,
    server: &Server,
    name: &str,
    password: &str,
    secrets: &mut Secrets,
) -> String {
    let res = client
        .post(server.url("/v1/auth/login"))
        .json(&json!({"username": name, "password": password,
            "device": {"name": "laptop", "actor_id": actor(9)}}))
        .send()
        .await
        .unwrap();
    let t: TokenResponse = serde_json::from_value(ok(res).await).unwrap();
    secrets.add("access token", t.access_token.clone());
    secrets.add("refresh token", t.refresh_token.clone());
    t.user.id.to_string()
}
