//! A real S3-compatible server for the blob store tests: moto's server
//! (`python3 -m moto.server`, PyPI `moto[server]`, installed by
//! scripts/install-test-tools) on a loopback port, one per test, with one
//! bucket. Missing moto fails the test: nothing is skipped.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Polls happen every 100 ms; this many make the longest wait (30 s).
const MAX_POLLS: usize = 300;
/// Ports tried before giving up.
const ATTEMPTS: usize = 5;

pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
}

impl S3Server {
    /// Starts moto and creates the bucket `fieldsync-test`.
    pub async fn start() -> Self {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            match Self::try_start().await {
                Ok(server) => return server,
                Err(e) => last = e,
            }
        }
        panic!("{last}: run scripts/install-test-tools (PyPI moto[server])");
    }

    /// One start on a free port. The port is free when picked but may be
    /// taken before moto binds it (tests run in parallel): then moto exits,
    /// or another server answers the bucket request, and the caller tries
    /// another port.
    async fn try_start() -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 not found (the S3 tests run moto's server with it)");
        let mut server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: "fieldsync-test".into(),
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..MAX_POLLS {
            if let Some(status) = server.child.try_wait().unwrap() {
                return Err(format!("moto's server exited ({status}) on port {port}"));
            }
            // moto takes unsigned requests: the bucket is made with a plain PUT.
            let url = format!("{}/{}", server.endpoint, server.bucket);
            match client.put(&url).send().await {
                Ok(res) if res.status().is_success() => return Ok(server),
                Ok(res) => {
                    // Not moto (yet): keep polling until moto answers or exits.
                    let answer = res.status();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if server.child.try_wait().unwrap().is_some() {
                        server.stop();
                        return Err(format!("port {port} was taken ({answer} to create bucket)"));
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        server.stop();
        Err(format!(
            "moto's server did not answer on {}",
            server.endpoint
        ))
    }

    /// The `--blob-url` of this server's bucket under `prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// object_store's S3 options that point at this server.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint.clone()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", "test".into()),
            ("aws_secret_access_key", "test".into()),
            ("aws_region", "us-east-1".into()),
        ]
    }

    /// The same options as the AWS_* environment variables a server
    /// process reads.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// The object keys in the bucket (ListObjectsV2, unsigned).
    pub async fn keys(&self) -> Vec<String> {
        let url = format!("{}/{}?list-type=2", self.endpoint, self.bucket);
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
