//! Test harness (feature `testing`): fresh databases on both backends.
//!
//! PostgreSQL tests run against a throwaway cluster that this module starts
//! from the machine's PostgreSQL binaries, once per test process: `initdb`
//! into a temporary directory, `postgres` listening only on a unix socket in
//! that directory, `fsync=off`. Every test gets its own database in it.
//! As root (CI), the cluster runs as `nobody` through `setpriv`, because
//! PostgreSQL refuses to run as root.
//!
//! If the cluster cannot start, every PostgreSQL test fails with the reason:
//! nothing is skipped, with or without `CI` set.
//!
//! The cluster stops, and its directory is removed, when the test process
//! exits: a small shell watcher holds the read end of a pipe whose write end
//! only this process holds, and stops `postgres` when it closes.
//!
//! ```no_run
//! # async fn demo() {
//! use fieldsync_server::testing::{TestBackend, TestDatabase};
//! let db = TestDatabase::new(TestBackend::Postgres).await;
//! let store = fieldsync_server::store::open(&db.url).await.unwrap();
//! # }
//! ```

use std::fmt;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use tempfile::TempDir;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

impl fmt::Display for TestBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TestBackend::Sqlite => "sqlite",
            TestBackend::Postgres => "postgres",
        })
    }
}

/// An empty database for one test. SQLite files live in a temporary
/// directory removed on drop; PostgreSQL databases live until the cluster goes.
pub struct TestDatabase {
    pub backend: TestBackend,
    pub url: String,
    /// The SQLite file's directory (also handy as a data dir).
    pub dir: TempDir,
}

impl TestDatabase {
    pub async fn new(backend: TestBackend) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("fieldsync-test-")
            .tempdir()
            .expect("create a temporary directory");
        let url = match backend {
            TestBackend::Sqlite => {
                format!("sqlite://{}", dir.path().join("fieldsync.db").display())
            }
            TestBackend::Postgres => pg_cluster().create_database().await,
        };
        Self { backend, url, dir }
    }
}

/// A running throwaway PostgreSQL cluster.
pub struct PgCluster {
    base: PathBuf,
    port: u16,
    /// Closing this (process exit) tells the watcher to stop the cluster.
    _lifeline: Mutex<ChildStdin>,
}

const PG_PORT: u16 = 5432;
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The cluster of this test process, started on first use.
///
/// # Panics
/// If it cannot start: the message says why (binaries missing, initdb failed, ...).
pub fn pg_cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();
    match CLUSTER.get_or_init(PgCluster::start) {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL tests need a throwaway cluster, and it did not start: {e}\n\
             Install PostgreSQL (Debian: apt-get install postgresql) or point \
             FIELDSYNC_PG_BIN at its bin directory. These tests never skip."
        ),
    }
}

impl PgCluster {
    /// A `postgres://` URL for database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{name}?host={}",
            self.port,
            self.base.display()
        )
    }

    /// Creates an empty database and returns its URL.
    pub async fn create_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test cluster");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.ok();
        self.url(&name)
    }

    fn start() -> Result<Self, String> {
        let bin = pg_bin_dir()?;
        let base = tempfile::Builder::new()
            .prefix("fieldsync-pg-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?
            .keep();
        Self::start_in(&bin, base.clone()).inspect_err(|_| {
            // Once running, the watcher removes it; before that, we do.
            let _ = std::fs::remove_dir_all(&base);
        })
    }

    fn start_in(bin: &Path, base: PathBuf) -> Result<Self, String> {
        let as_root = std::fs::metadata("/proc/self")
            .map_err(|e| e.to_string())?
            .uid()
            == 0;
        if as_root {
            // PostgreSQL refuses root: hand the directory to `nobody`.
            std::os::unix::fs::chown(&base, Some(NOBODY), Some(NOBODY))
                .map_err(|e| format!("chown {}: {e}", base.display()))?;
        }
        let data = base.join("data");
        let log = base.join("postgres.log");

        let out = unprivileged(as_root, &bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .map_err(|e| format!("run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        // The watcher: starts postgres, then waits for EOF on stdin.
        let script = r#"
            "$0" -D "$1" -k "$2" -p "$3" -c listen_addresses= -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
                 >"$4" 2>&1 &
            pid=$!
            while read -r _; do :; done
            kill -INT "$pid" 2>/dev/null
            wait "$pid"
            rm -rf "$2"
        "#;
        let mut watcher = unprivileged(as_root, Path::new("/bin/sh"))
            .arg("-c")
            .arg(script)
            .arg(bin.join("postgres"))
            .arg(&data)
            .arg(&base)
            .arg(PG_PORT.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start postgres: {e}"))?;
        let lifeline = watcher.stdin.take().ok_or("no stdin pipe to the watcher")?;

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .arg("-h")
                .arg(&base)
                .args(["-p", &PG_PORT.to_string(), "-U", "postgres", "-q"])
                .status()
                .map_err(|e| format!("run pg_isready: {e}"))?;
            if ready.success() {
                break;
            }
            if let Ok(Some(status)) = watcher.try_wait() {
                return Err(format!("postgres watcher exited ({status})"));
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!(
                    "postgres not ready after {START_TIMEOUT:?}; log:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            base,
            port: PG_PORT,
            _lifeline: Mutex::new(lifeline),
        })
    }
}

const NOBODY: u32 = 65534;

fn unprivileged(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program)
            // `nobody` may not be able to read the test's working directory.
            .current_dir("/");
        c
    } else {
        Command::new(program)
    }
}

/// `FIELDSYNC_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `pg_config --bindir`.
fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("FIELDSYNC_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|_| "no PostgreSQL binaries found (no /usr/lib/postgresql/*/bin, no pg_config)")?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if dir.join("initdb").exists() {
        Ok(dir)
    } else {
        Err(format!("no initdb in {}", dir.display()))
    }
}
