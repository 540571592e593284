//! A throwaway PostgreSQL cluster for `--postgres`: `initdb` into a
//! temporary directory and `pg_ctl start`, listening only on a unix socket
//! there. Unlike the test harness it keeps PostgreSQL's durable defaults
//! (fsync, synchronous_commit), so it compares fairly with SQLite's
//! `synchronous=FULL`. As root the cluster runs as `nobody` (PostgreSQL
//! refuses root). Stopped and removed on drop.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::scenario::Backend;

const NOBODY: u32 = 65534;
const PORT: &str = "5432";

/// The database a run writes: a fresh SQLite file in `dir`, or a throwaway
/// cluster (kept alive by the returned handle for the run). Returns the
/// handle and the server's database URL.
pub fn database(backend: Backend, dir: &Path) -> anyhow::Result<(Option<PgCluster>, String)> {
    Ok(match backend {
        Backend::Postgres => {
            let pg = PgCluster::start().context("start PostgreSQL")?;
            let url = pg.url();
            (Some(pg), url)
        }
        Backend::Sqlite => (
            None,
            format!("sqlite://{}", dir.join("fieldsync.db").display()),
        ),
    })
}

pub struct PgCluster {
    bin: PathBuf,
    base: tempfile::TempDir,
    as_root: bool,
}

impl PgCluster {
    pub fn start() -> anyhow::Result<Self> {
        let bin = bin_dir()?;
        // Short path: the socket path limit is 107 bytes.
        let base = tempfile::Builder::new()
            .prefix("fsb-pg-")
            .tempdir_in("/tmp")
            .context("temporary directory")?;
        let as_root = std::fs::metadata("/proc/self")?.uid() == 0;
        if as_root {
            std::os::unix::fs::chown(base.path(), Some(NOBODY), Some(NOBODY))
                .context("chown the cluster directory to nobody")?;
        }
        let cluster = Self { bin, base, as_root };
        let data = cluster.base.path().join("data");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        )?;
        let options = format!(
            "-c listen_addresses= -k {} -p {PORT} -c max_connections=200",
            cluster.base.path().display()
        );
        let log = cluster.base.path().join("postgres.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-s".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        )?;
        cluster.run(
            "createdb",
            &[
                "-h".as_ref(),
                cluster.base.path().as_os_str(),
                "-p".as_ref(),
                PORT.as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "fieldsync".as_ref(),
            ],
        )?;
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!(
            "postgres://postgres@localhost:{PORT}/fieldsync?host={}",
            self.base.path().display()
        )
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
        let path = self.bin.join(program);
        let mut cmd = if self.as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&path)
                .current_dir("/");
            c
        } else {
            Command::new(&path)
        };
        let out = cmd
            .args(args)
            .output()
            .with_context(|| format!("run {}", path.display()))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.base.path().join("data");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-s".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

/// `FIELDSYNC_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> anyhow::Result<PathBuf> {
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
    versions
        .pop()
        .map(|(_, b)| b)
        .filter(|b| Path::new(b).exists())
        .context("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (set FIELDSYNC_PG_BIN)")
}
