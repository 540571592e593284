//! A real SMTP server for the email tests: `feedback/smtp_sink.py` under
//! aiosmtpd, on a port the system picks, optionally with STARTTLS (a
//! self-signed certificate made here with `openssl`) and AUTH.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Polls happen every 50 ms; this many make the longest wait (30 s).
const MAX_POLLS: usize = 600;

/// A self-signed certificate for 127.0.0.1 and localhost, and its key.
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCert {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let out = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=fieldsync test relay"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .args(["-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl not found (the STARTTLS tests make their certificate with it)");
        assert!(
            out.status.success(),
            "openssl req: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            cert,
            key,
            _dir: dir,
        }
    }
}

impl Default for TestCert {
    fn default() -> Self {
        Self::new()
    }
}

/// How the SMTP server is secured.
#[derive(Default)]
pub struct SmtpSecurity<'a> {
    /// Offer STARTTLS with this certificate, and take no mail without it.
    pub tls: Option<&'a TestCert>,
    /// Require AUTH with this user and password.
    pub auth: Option<(&'a str, &'a str)>,
}

/// The running server; dropping it stops it.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl SmtpSink {
    /// Plain SMTP, no authentication.
    pub async fn start() -> Self {
        Self::start_with(SmtpSecurity::default()).await
    }

    pub async fn start_with(security: SmtpSecurity<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/feedback/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(dir.path());
        if let Some(cert) = security.tls {
            cmd.arg("--tls").arg(&cert.cert).arg(&cert.key);
        }
        if let Some((user, password)) = security.auth {
            cmd.args(["--auth", user, password]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 not found (the SMTP tests need python3 with aiosmtpd: scripts/install-test-tools)");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = next_line(&mut stdout)
            .await
            .expect("SMTP sink exited: is aiosmtpd installed? (scripts/install-test-tools)");
        let port = line
            .strip_prefix("LISTENING ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected SMTP sink output {line:?}"));
        Self {
            port,
            dir,
            stdin,
            stdout,
            _child: child,
        }
    }

    /// An outage on the same port: every new connection is dropped at once
    /// (`true`) until the server is back (`false`). Returns once in effect.
    pub async fn set_down(&mut self, down: bool) {
        let command = if down { "down" } else { "up" };
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        let line = next_line(&mut self.stdout).await.expect("SMTP sink exited");
        assert_eq!(line, format!("OK {command}"));
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
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
    /// For servers whose own worker sends (a separate process); tests that
    /// drive the worker themselves read [`Self::messages`] after each round.
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

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("no answer from the SMTP sink in 20 s")
        .unwrap()
}
