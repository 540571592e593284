//! `fieldsync demo` as a real process: on an empty database (SQLite in a
//! fresh data dir, the embedded default; or PostgreSQL) it makes the demo
//! company, prints the console and the logins, and serves them; the logins
//! work on the API and the console; the console's home page shows the
//! numbers the API counts; a second demo on the same database refuses,
//! writing nothing.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldsync_server::app::AppStore;
use fieldsync_server::jobs::JobFilter;
use fieldsync_server::testing::{TestBackend, TestDatabase};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::*;

backend_tests!(the_demo_serves_a_company_its_logins_open_and_it_refuses_twice);

/// A demo process on `db`: the embedded SQLite of its data dir, or PostgreSQL.
fn demo(db: &TestDatabase, backend: TestBackend) -> Command {
    let mut cmd = Command::new(fieldsync_bin());
    cmd.args(["demo", "--listen", "127.0.0.1:0"])
        .env("FIELDSYNC_DATA_DIR", db.dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match backend {
        TestBackend::Sqlite => cmd.env_remove("DATABASE_URL"),
        TestBackend::Postgres => cmd.env("DATABASE_URL", &db.url),
    };
    cmd
}

/// Kills the demo if the test fails before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the demo printed before it served: every line up to the last.
fn printout(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("the demo printed no more ({e}): {lines:#?}"));
        let last = line.contains("Stop with Ctrl-C");
        lines.push(line);
        if last {
            return lines;
        }
    }
}

/// The number in the console cell `id`.
fn figure(html: &str, id: &str) -> i64 {
    let marker = format!("id=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} on the dashboard: {html}"))
        + marker.len();
    html[start..start + html[start..].find('<').unwrap()]
        .parse()
        .unwrap()
}

async fn counts(store: &dyn AppStore) -> (usize, usize, usize) {
    (
        store.user_accounts().await.unwrap().len(),
        store
            .list_jobs(&JobFilter {
                limit: Some(1000),
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .len(),
        store.locations().await.unwrap().len(),
    )
}

async fn the_demo_serves_a_company_its_logins_open_and_it_refuses_twice(backend: TestBackend) {
    let db = TestDatabase::new(backend).await;
    let started = Instant::now();
    let mut running = Running(demo(&db, backend).stderr(Stdio::inherit()).spawn().unwrap());
    let lines = printout(&mut running.0);
    let took = started.elapsed();
    let text = lines.join("\n");
    assert!(text.contains("DEMO DATA"), "{text}");
    let console = lines
        .iter()
        .find_map(|l| l.strip_prefix("Console: "))
        .unwrap_or_else(|| panic!("no console address: {text}"));
    let base = console.strip_suffix("/console").unwrap().to_owned();
    // "  username  role  password" lines.
    let logins: Vec<(String, String, String)> = lines
        .iter()
        .filter(|l| l.starts_with("  "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
        })
        .collect();
    assert_eq!(logins.len(), 12, "{text}");
    for role in [
        "admin",
        "dispatcher",
        "inventory_manager",
        "supervisor",
        "technician",
    ] {
        assert!(
            logins.iter().any(|(_, r, _)| r == role),
            "no {role}: {text}"
        );
    }
    assert_eq!(
        logins.iter().filter(|(_, r, _)| r == "technician").count(),
        6
    );
    eprintln!("fieldsync demo: company made and served in {took:?}");

    // Every printed login works on the API, as the role printed.
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let mut tokens = std::collections::HashMap::new();
    for (n, (username, role, password)) in logins.iter().enumerate() {
        let res = client
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"username": username, "password": password,
                "device": {"name": "test", "actor_id": actor(200 + n as u8)}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "login {username}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["user"]["role"], role.as_str(), "{body}");
        tokens.insert(
            username.clone(),
            body["access_token"].as_str().unwrap().to_owned(),
        );
    }
    let admin = &tokens["admin"];
    let get = |path: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let res = client
                .get(format!("{base}{path}"))
                .bearer_auth(admin)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200, "{path}");
            res.text().await.unwrap()
        }
    };

    // The admin logs in to the console.
    let page = client
        .get(format!("{base}/console/login"))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let csrf = {
        let marker = "name=\"csrf\" value=\"";
        let start = html.find(marker).unwrap() + marker.len();
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    };
    let (_, _, admin_password) = logins.iter().find(|(u, _, _)| u == "admin").unwrap();
    let res = client
        .post(format!("{base}/console/login"))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "admin"),
            ("password", admin_password.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "console login");
    assert_eq!(res.headers()["location"], "/console");
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let res = client
        .get(format!("{base}/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let home = res.text().await.unwrap();

    // The dashboard's numbers are the API's.
    // The plan is fixed (docs/demo.md): these are its numbers.
    let mut total = 0;
    for (status, planned) in [
        ("scheduled", 20),
        ("travelling", 3),
        ("on_site", 3),
        ("completed", 27),
        ("unable_to_complete", 3),
        ("cancelled", 4),
    ] {
        let list: Value =
            serde_json::from_str(&get(format!("/v1/jobs?status={status}&limit=1000")).await)
                .unwrap();
        let n = list["jobs"].as_array().unwrap().len() as i64;
        assert_eq!(n, planned, "{status} jobs");
        assert_eq!(figure(&home, &format!("jobs-{status}")), n, "{status}");
        total += n;
    }
    assert_eq!(total, 60, "about 60 jobs");
    let stock: Value = serde_json::from_str(&get("/v1/inventory/stock".into()).await).unwrap();
    let stock = stock.as_array().unwrap();
    let with = |s: &str| stock.iter().filter(|r| r["status"] == s).count() as i64;
    assert_eq!((with("low"), with("negative")), (13, 1), "{stock:?}");
    assert_eq!(figure(&home, "stock-low"), with("low"));
    assert_eq!(figure(&home, "stock-negative"), with("negative"));
    let responses: Value =
        serde_json::from_str(&get("/v1/feedback/responses".into()).await).unwrap();
    let responses = responses.as_array().unwrap();
    let answered = responses.iter().filter(|r| !r["answer"].is_null()).count() as i64;
    assert_eq!(figure(&home, "feedback-requests"), responses.len() as i64);
    assert_eq!(figure(&home, "feedback-answers"), answered);
    assert_eq!((responses.len(), answered), (27, 21), "asked, answered");
    let followups: Value =
        serde_json::from_str(&get("/v1/feedback/followups".into()).await).unwrap();
    let open = followups.as_array().unwrap().len() as i64;
    assert_eq!(open, 6, "low results to follow up");
    assert_eq!(figure(&home, "followups-open"), open);
    let metrics = get("/metrics".into()).await;
    let rejected: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fieldsync_jobs_with_rejected_changes "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(rejected, 3, "three phones sent a refused change");
    assert_eq!(figure(&home, "jobs-rejected"), rejected);
    // Some completed jobs carry the office's concurrent cancellation.
    let completed: Value =
        serde_json::from_str(&get("/v1/jobs?status=completed&limit=1000".into()).await).unwrap();
    let mut conflicts = 0;
    for job in completed["jobs"].as_array().unwrap() {
        let view: Value =
            serde_json::from_str(&get(format!("/v1/jobs/{}", job["id"].as_str().unwrap())).await)
                .unwrap();
        if view["job"]["status_conflicts"]
            .as_array()
            .is_some_and(|c| c.iter().any(|s| s == "cancelled"))
        {
            conflicts += 1;
        }
    }
    assert_eq!(conflicts, 3, "completed over the office's cancellation");

    // Stop it; a second demo on the same database refuses and writes nothing.
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = running.0.wait().unwrap();
    assert!(status.success(), "demo exit status {status}");
    let store = fieldsync_server::store::open(&match backend {
        TestBackend::Sqlite => format!("sqlite://{}", db.dir.path().join("fieldsync.db").display()),
        TestBackend::Postgres => db.url.clone(),
    })
    .await
    .unwrap();
    let before = counts(store.as_ref()).await;
    assert_eq!(before.0, 12);
    assert_eq!(before.1, 60);
    let out = demo(&db, backend).output().unwrap();
    assert!(!out.status.success(), "a second demo ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already has data") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Console:"),
        "it printed logins"
    );
    assert_eq!(counts(store.as_ref()).await, before, "nothing changed");
}
