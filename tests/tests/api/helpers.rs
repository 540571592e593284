//! `spawn_app()`: a real server on 127.0.0.1:0 with a fresh database, and
//! the client-side steps tests share.

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use fieldsync_core::{Role, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::app::{AppState, open_store, serve_state};
use fieldsync_server::attachments::BlobStore;
use fieldsync_server::auth::{TokenResponse, jwt};
use fieldsync_server::cli::create_user;
use fieldsync_server::config::Settings;
use fieldsync_server::store::{SigningKey, now_utc};
use fieldsync_server::testing::{TestBackend, TestDatabase};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Expands each listed test (an `async fn(TestBackend)`) into
/// `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(fieldsync_server::testing::TestBackend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(fieldsync_server::testing::TestBackend::Postgres).await
                }
            )+
        }
    };
}
pub(crate) use backend_tests;

pub const PASSWORD: &str = "correct horse battery";

/// A running server and the database behind it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub store: Arc<dyn AppStore>,
    /// The app's blob store (attachments).
    pub blobs: BlobStore,
    /// The app's bound on uploads finishing at once, and the sync gate
    /// whose memory budget they share (tests hold them to fill them).
    pub finishing: Arc<fieldsync_server::attachments::finishing::Finishing>,
    pub sync_gate: Arc<fieldsync_server::sync::gate::SyncGate>,
    /// The served state (tests run a housekeeping round with it); before
    /// `db`, so its connections close before the database is dropped.
    #[allow(dead_code)]
    pub state: AppState,
    pub db: TestDatabase,
    /// The server's clock: tests move it forward (recalls' overdue dates;
    /// not every binary that includes this file reads it).
    #[allow(dead_code)]
    pub clock: fieldsync_server::clock::Clock,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app(backend: TestBackend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with settings adjusted first.
pub async fn spawn_app_with(backend: TestBackend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(backend, &[], adjust).await
}

/// Like [`spawn_app_with`], the blob store opened with these S3 options
/// (object_store's names) over the environment's: a test's own S3 server.
pub async fn spawn_app_on(
    backend: TestBackend,
    s3_options: &[(&str, &str)],
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_with_state(backend, s3_options, adjust, |_| {}).await
}

/// [`spawn_app_on`], with the built state adjusted before it serves.
pub async fn spawn_app_with_state(
    backend: TestBackend,
    s3_options: &[(&str, &str)],
    adjust: impl FnOnce(&mut Settings),
    adjust_state: impl FnOnce(&mut AppState),
) -> TestApp {
    let db = TestDatabase::new(backend).await;
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: db.dir.path().to_owned(),
        database_url: Some(db.url.clone()),
        ..Settings::default()
    };
    // Many test servers share two cores here: an upload's checks at the
    // default nice +10 can starve behind other tests' threads past a test's
    // wait. The priority itself is tested in `attachments::finishing`.
    settings.attachments.finishing_niceness = 0;
    adjust(&mut settings);
    let store = open_store(&settings).await.expect("open the database");
    let blobs = BlobStore::open_with(
        settings.attachments.blob_url.as_deref(),
        &settings.data_dir,
        s3_options,
    )
    .expect("open the blob store");
    let mut state = AppState::with_parts(settings, store, blobs)
        .await
        .expect("build app state");
    adjust_state(&mut state);
    let store = state.store.clone();
    let blobs = state.blobs.clone();
    let clock = state.clock.clone();
    let (finishing, sync_gate) = (state.finishing.clone(), state.sync_gate.clone());
    let served = state.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        serve_state(state, listener, async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        store,
        blobs,
        finishing,
        sync_gate,
        db,
        clock,
        state: served,
        shutdown: Some(tx),
    }
}

/// A 16-byte actor id as hex, distinct per `n`.
pub fn actor(n: u8) -> String {
    hex::encode([n; 16])
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates a user the way the admin command does; returns its id.
    pub async fn user(&self, username: &str, role: Role) -> UserId {
        create_user(
            self.store.as_ref(),
            username.parse().unwrap(),
            role,
            PASSWORD.into(),
        )
        .await
        .expect("create user")
    }

    pub async fn login_raw(
        &self,
        username: &str,
        password: &str,
        actor_id: &str,
    ) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/login"))
            .json(&json!({
                "username": username,
                "password": password,
                "device": {"name": "test device", "actor_id": actor_id},
            }))
            .send()
            .await
            .unwrap()
    }

    /// Logs in with [`PASSWORD`]; panics unless it succeeds.
    pub async fn login(&self, username: &str, actor_id: &str) -> TokenResponse {
        let res = self.login_raw(username, PASSWORD, actor_id).await;
        assert_eq!(
            res.status(),
            200,
            "login failed: {}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .await
            .unwrap()
    }

    pub async fn me(&self, access_token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/v1/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// The key the server signs with now.
    pub async fn active_key(&self) -> SigningKey {
        let keys = self.store.signing_keys(now_utc()).await.unwrap();
        keys.into_iter()
            .find(|k| k.retired_at.is_none())
            .expect("an active signing key")
    }

    /// Runs the real `fieldsync` binary against this app's database.
    pub fn fieldsync(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        run_fieldsync(&self.db.url, args, env, stdin)
    }
}

/// The `fieldsync` binary, built by cargo from the server's `main.rs`.
pub fn fieldsync_bin() -> &'static str {
    env!("CARGO_BIN_EXE_fieldsync-e2e")
}

pub fn run_fieldsync(
    database_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(fieldsync_bin());
    cmd.args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("FIELDSYNC_PASSWORD")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start fieldsync");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        // A command that refuses its arguments exits before reading its
        // input; the broken pipe is then expected, and the test judges the
        // exit status and output instead.
        match pipe.write_all(input.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write fieldsync's standard input"),
        }
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Asserts a JSON error response with this status and code; returns the body.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status(), status, "unexpected status");
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

/// Claims for hand-made tokens; tests change fields to break them.
pub fn claims(user: UserId, device: &str) -> Value {
    let now = now_utc().unix_timestamp();
    json!({
        "sub": user.to_string(),
        "exp": now + 600,
        "iat": now,
        "aud": jwt::AUDIENCE,
        "iss": jwt::ISSUER,
        "role": "technician",
        "did": device,
    })
}

/// Signs `claims` with `key` the way the server does, with `alg` and `kid`.
pub fn sign(key: &SigningKey, alg: jsonwebtoken::Algorithm, claims: &Value) -> String {
    let mut header = jsonwebtoken::Header::new(alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_secret(&key.secret),
    )
    .unwrap()
}

/// Unpadded base64url, as in JWTs.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
