//! The real `fieldsync` binary as a child process, for tests that need
//! several server processes or kill one.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::helpers::fieldsync_bin;

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Its `--data-dir` (the default blob store lives there), removed with it.
    _data: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `fieldsync serve` on a free loopback port against `database_url`.
    pub fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[])
    }

    /// Like [`Self::start`], with more command-line flags.
    pub fn start_with(database_url: &str, flags: &[&str]) -> Self {
        Self::start_full(database_url, flags, &[])
    }

    /// Like [`Self::start`], with settings in the environment, as a
    /// deployment sets them.
    pub fn start_with_env(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_full(database_url, &[], env)
    }

    fn start_full(database_url: &str, flags: &[&str], env: &[(&str, &str)]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(fieldsync_bin());
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database_url,
        ])
        .arg("--data-dir")
        .arg(data.path())
        .args(flags)
        .env("FIELDSYNC_LOG_JSON", "1")
        .env("RUST_LOG", "info,tower_http=warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fieldsync");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Read the address from the "serving" line, then keep draining so
            // the server never blocks on a full pipe.
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let Some(sender) = tx.as_ref() else { continue };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "serving"
                    && let Some(addr) = v["addr"].as_str()
                {
                    let _ = sender.send(addr.parse::<SocketAddr>().unwrap());
                    tx = None;
                }
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
            _data: data,
        }
    }

    /// The server's process id (for reading its CPU time and memory in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown, no flushing, as a power cut or OOM kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
