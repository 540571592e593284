//! The console in headless Chromium (chromedriver over raw WebDriver): a
//! depot manager logs in, finds a low-stock part, transfers to the van and
//! sees the stock change. Screenshot: target/test-artifacts/inventory-transfer.png.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::helpers::{PASSWORD, spawn_app_with};
use crate::setup::{self, ok, on_hand};

/// W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Result<Self> {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .context("chromedriver not found: run scripts/install-test-tools (chromium, chromium-driver)")?;
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port: u16 = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) =
                    line.strip_prefix("ChromeDriver was started successfully on port ")
                {
                    return Ok(rest.trim_end_matches('.').parse()?);
                }
            }
            bail!("chromedriver exited before it was ready")
        })
        .await??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1024,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        let resp: Value = http
            .post(format!("{root}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let id = resp["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("new session failed: {resp}"))?;
        let b = Browser {
            http,
            base: format!("{root}/session/{id}"),
            driver,
            _profile: profile,
        };
        b.cmd(
            "POST",
            "/timeouts",
            json!({"implicit": 5000, "pageLoad": 10000}),
        )
        .await?;
        Ok(b)
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp: Value = req.send().await?.json().await?;
        if let Some(err) = resp["value"]["error"].as_str() {
            bail!("{method} {path}: {err}: {}", resp["value"]["message"]);
        }
        Ok(resp["value"].clone())
    }

    async fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", json!({"url": url}))
            .await
            .map(drop)
    }

    async fn find(&self, css: &str) -> Result<String> {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await?;
        Ok(v[ELEMENT].as_str().context("no element id")?.to_owned())
    }

    async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let e = self.find(css).await?;
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}))
            .await?;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        )
        .await
        .map(drop)
    }

    async fn click(&self, css: &str) -> Result<()> {
        let e = self.find(css).await?;
        self.cmd("POST", &format!("/element/{e}/click"), json!({}))
            .await
            .map(drop)
    }

    async fn text(&self, css: &str) -> Result<String> {
        let e = self.find(css).await?;
        Ok(self
            .cmd("GET", &format!("/element/{e}/text"), json!({}))
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    async fn screenshot(&self, path: &std::path::Path) -> Result<usize> {
        let b64 = self.cmd("GET", "/screenshot", json!({})).await?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(b64.as_str().context("no png")?)?;
        std::fs::write(path, &png)?;
        Ok(png.len())
    }

    async fn quit(self) -> Result<()> {
        self.cmd("DELETE", "", json!({})).await.map(drop)
    }
}

impl Drop for Browser {
    /// Kill chromedriver's whole process group, so no Chromium is orphaned.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_depot_manager_transfers_low_stock_to_a_van() -> Result<()> {
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    let d = setup::depot(&app).await;
    // The van uses two valves: 2 left, below its reorder point of 3.
    let res = setup::movement(&app, &d.manager, json!({
        "id": Uuid::new_v4(), "kind": "consumption", "sku": "VALVE-22", "quantity": 2, "from": d.van,
    })).await;
    assert_eq!(res.status(), 201);

    let b = Browser::start().await?;
    b.goto(&app.url("/console/login")).await?;
    b.type_into("#username", "mgr").await?;
    b.type_into("#password", PASSWORD).await?;
    b.click("#login").await?;

    // The stock page marks the van's valves low; its link opens the transfer form.
    let low = format!(
        "table[data-location='{}'] tr.low[data-sku='VALVE-22']",
        d.van
    );
    assert_eq!(b.text(&format!("{low} td.qty")).await?, "2");
    b.click(&format!("{low} a.transfer")).await?;
    b.type_into("#quantity", "5").await?;
    b.click("#submit").await?;

    assert_eq!(b.text("#notice").await?, "Transfer recorded.");
    let row = format!("table[data-location='{}'] tr[data-sku='VALVE-22']", d.van);
    assert_eq!(b.text(&format!("{row} td.qty")).await?, "7");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir)?;
    let bytes = b.screenshot(&dir.join("inventory-transfer.png")).await?;
    assert!(bytes > 1000);
    b.quit().await?;

    // The ledger agrees: 6 - 5 in the depot, 2 + 5 in the van.
    let stock = ok(&app, Method::GET, &d.manager, "/v1/inventory/stock", None).await;
    assert_eq!(on_hand(&stock, d.depot, "VALVE-22"), 1);
    assert_eq!(on_hand(&stock, d.van, "VALVE-22"), 7);
    Ok(())
}
