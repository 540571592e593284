//! The real `fieldsync` binary as a child process: users created with its
//! admin CLI, then `serve` on a loopback port; its CPU time and peak memory
//! read from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};

pub const PASSWORD: &str = "bench password 1";

/// The server binary: `--server-bin`, else `fieldsync-bench-server` (the
/// server's `main.rs` built by this package) next to this executable.
pub fn server_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    let me = std::env::current_exe().context("locate the bench executable")?;
    let bin = me
        .parent()
        .context("bench executable has no directory")?
        .join("fieldsync-bench-server");
    if !bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p fieldsync-bench` or pass --server-bin",
            bin.display()
        );
    }
    Ok(bin)
}

/// `fieldsync admin create-user` against `database_url`; returns the user id it prints.
pub fn create_user(
    bin: &Path,
    database_url: &str,
    data_dir: &Path,
    username: &str,
    role: &str,
) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args([
            "admin",
            "create-user",
            "--username",
            username,
            "--role",
            role,
        ])
        .arg("--database-url")
        .arg(database_url)
        .arg("--data-dir")
        .arg(data_dir)
        .env("FIELDSYNC_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .context("run fieldsync admin create-user")?;
    if !out.status.success() {
        bail!(
            "create-user {username} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    ticks_per_sec: f64,
}

impl ServerProcess {
    /// Starts `fieldsync serve` on a free loopback port, its blobs in
    /// `blob_url` (`FIELDSYNC_BLOB_URL`) if given, else under the data dir.
    pub fn start(
        bin: &Path,
        database_url: &str,
        data_dir: &Path,
        doc_cache_entries: Option<usize>,
        blob_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(bin);
        if let Some(n) = doc_cache_entries {
            command.env("FIELDSYNC_DOC_CACHE_ENTRIES", n.to_string());
        }
        if let Some(url) = blob_url {
            command.env("FIELDSYNC_BLOB_URL", url);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(database_url)
            .arg("--data-dir")
            .arg(data_dir)
            // The server's default log filter, as deployed (a line per request).
            .env("FIELDSYNC_LOG_JSON", "1")
            .env_remove("RUST_LOG")
            // A long run must not outlive the access tokens of its logins.
            .env("FIELDSYNC_ACCESS_TTL_SECS", "28800")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Read the address from the "serving" line, then keep draining so
            // the server never blocks on a full pipe.
            let mut tx = Some(tx);
            let mut shown = 0;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let Some(sender) = tx.as_ref() else {
                    // Warnings and errors matter to the figures: show a few.
                    if shown < 20 && (line.contains("\"WARN\"") || line.contains("\"ERROR\"")) {
                        shown += 1;
                        eprintln!("server: {line}");
                    }
                    continue;
                };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "serving"
                    && let Some(addr) = v["addr"].as_str().and_then(|a| a.parse().ok())
                {
                    let _ = sender.send(addr);
                    tx = None;
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("fieldsync did not log \"serving\" within 60 s");
            }
        };
        Ok(Self {
            child,
            addr,
            ticks_per_sec: clock_ticks(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// User + system CPU seconds the server has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("odd /proc stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).context("no utime")?.parse()?;
        let stime: f64 = fields.get(12).context("no stime")?.parse()?;
        Ok((utime + stime) / self.ticks_per_sec)
    }

    /// Starts a new peak-memory measurement (the setup's logins hash
    /// passwords with argon2, which the day's figures should not include).
    pub fn reset_peak_rss(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .context("reset VmHWM through /proc/PID/clear_refs")
    }

    /// Peak resident memory (VmHWM) in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .context("no VmHWM")?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("odd VmHWM")?
            .parse()?;
        Ok(kb * 1024)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `getconf CLK_TCK` (100 on Linux unless configured otherwise).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
