//! Headless Chromium over raw W3C WebDriver (chromedriver + reqwest),
//! shared by the test binaries that drive web pages.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    /// http://127.0.0.1:PORT/session/ID
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A phone in portrait (the customer's feedback form).
pub const PHONE: (u32, u32) = (412, 915);
/// A laptop (the depot managers' console).
pub const LAPTOP: (u32, u32) = (1024, 900);
/// A tablet in portrait: the narrowest width the console is laid out for.
pub const TABLET: (u32, u32) = (768, 1024);
/// A small phone (the customer's pages at their narrowest).
pub const SMALL_PHONE: (u32, u32) = (390, 844);

/// axe-core's engine (tools/axe, pinned by its package-lock.json and
/// installed by scripts/install-test-tools), read once.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tools/axe/node_modules/axe-core/axe.min.js"
        );
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{path}: {e} (scripts/install-test-tools installs axe-core)")
        })
    })
}

/// One axe-core rule a page breaks, with the elements that break it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AxeViolation {
    /// The rule, e.g. `color-contrast`, `label`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: String,
    pub help: String,
    /// CSS selectors of the offending elements.
    pub targets: Vec<String>,
}

impl AxeViolation {
    /// What the console must never have (issue #18: zero of these).
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

impl Browser {
    /// A fresh Chromium profile with a `(width, height)` window.
    pub async fn start((width, height): (u32, u32)) -> Self {
        // --port=0: chromedriver picks a free port and prints it.
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("chromedriver not found (scripts/install-test-tools installs chromium-driver)");
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port: u16 = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) =
                    line.strip_prefix("ChromeDriver was started successfully on port ")
                {
                    return rest.trim_end_matches('.').parse().unwrap();
                }
            }
            panic!("chromedriver exited before it was ready")
        })
        .await
        .expect("chromedriver did not start in 20 s");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
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
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session failed: {resp}"))
            .to_owned();
        let b = Browser {
            http,
            base: format!("{root}/session/{id}"),
            driver,
            _profile: profile,
        };
        b.cmd(
            "POST",
            "/timeouts",
            json!({"implicit": 5000, "pageLoad": 10000, "script": 60000}),
        )
        .await;
        b
    }

    /// One WebDriver command; returns `value`, panics on a W3C error.
    pub async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_cmd(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn try_cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp: Value = req
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(err) = resp["value"]["error"].as_str() {
            return Err(format!(
                "{method} {path}: {err}: {}",
                resp["value"]["message"]
            ));
        }
        Ok(resp["value"].clone())
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT].as_str().expect("element id").to_owned()
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/click"), json!({}))
            .await;
    }

    /// Replaces the field's value (a prefilled one included) with `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{e}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            json!({"text": text}),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.cmd("GET", &format!("/element/{e}/text"), json!({}))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs a script in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// The page's path, once a script can run in it (`None` while it is
    /// unloading).
    pub async fn path(&self) -> Option<String> {
        self.try_cmd(
            "POST",
            "/execute/sync",
            json!({"script": "return location.pathname + location.search;", "args": []}),
        )
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// Waits (bounded) until the page's path and query satisfy `done`:
    /// after a click that submits a form or follows a link, so the next
    /// command reads the new page, not the old one.
    pub async fn wait_for_path(&self, done: impl Fn(&str) -> bool) -> String {
        let mut last = None;
        for _ in 0..100 {
            last = self.path().await;
            if last.as_deref().is_some_and(&done) {
                return last.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page did not change as expected: still at {last:?}")
    }

    /// Logs in on the console at `base` (http://host:port) and waits until
    /// the login form's answer has loaded: a `goto` issued while the form
    /// is still posting would cancel it and land on the login page without
    /// a session.
    pub async fn console_login(&self, base: &str, user: &str, password: &str) {
        self.goto(&format!("{base}/console/login")).await;
        self.type_into("#username", user).await;
        self.type_into("#password", password).await;
        self.click("#login").await;
        self.wait_for_path(|p| p != "/console/login").await;
    }

    /// Runs axe-core (its default rules: WCAG 2.x A and AA and best
    /// practices) on the current page, injecting it first; returns every
    /// violation. WebDriver's scripts run outside the page's
    /// Content-Security-Policy, so the console's `script-src 'none'` stays.
    pub async fn axe(&self) -> Vec<AxeViolation> {
        if self.eval("return typeof window.axe === 'undefined';").await == Value::Bool(true) {
            self.cmd(
                "POST",
                "/execute/sync",
                json!({"script": axe_source(), "args": []}),
            )
            .await;
        }
        let found = self
            .cmd(
                "POST",
                "/execute/async",
                json!({"script": "const done = arguments[arguments.length - 1];
                    axe.run(document, {resultTypes: ['violations']})
                      .then(r => done(r.violations.map(v => ({
                          id: v.id, impact: v.impact || 'minor', help: v.help,
                          targets: v.nodes.map(n => n.target.join(' ')),
                      }))))
                      .catch(e => done({error: String(e)}));",
                    "args": []}),
            )
            .await;
        assert!(found.get("error").is_none(), "axe.run failed: {found}");
        serde_json::from_value(found).expect("axe violations")
    }

    /// Resizes the window to `(width, height)` (its inner width is the
    /// page's viewport in headless Chromium).
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Saves a PNG of the window; returns its size in bytes.
    pub async fn screenshot(&self, path: &std::path::Path) -> usize {
        let b64 = self.cmd("GET", "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 PNG"))
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &png).unwrap();
        png.len()
    }

    pub async fn quit(self) {
        self.cmd("DELETE", "", json!({})).await;
    }
}

impl Drop for Browser {
    /// A failed assert skips `quit()`; killing chromedriver alone would
    /// orphan Chromium, so kill the whole process group.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}
