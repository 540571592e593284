//! `fieldsync-bench --storage-days 30`: database bytes per job after that
//! many simulated days of the visit workload, before and after compaction
//! (change rows pruned into snapshots, closed jobs archived: issue 19
//! item 4).
//!
//! The server runs in this process (its `AppState` served on loopback), so
//! the bench can move the server's clock (`Clock::advance`, the seam tests
//! use). Each simulated day the office creates `jobs_per_day` jobs per
//! technician and edits the first; each technician syncs, works every visit
//! offline (20-40 changes, as in the load run) and syncs after each. Then
//! the database is measured as it is (no compaction), the clock moves past
//! the retentions (refresh-token lifetime for pruning, the archive's
//! `--archive-closed-after-days`), the housekeeping's compaction runs until
//! it has nothing left, and the database is measured again. Bytes, not
//! speed: everything runs one request at a time.
//!
//! Sizes: SQLite `page_count * page_size` after `VACUUM`; PostgreSQL
//! `pg_total_relation_size` summed over the schema's tables after
//! `VACUUM FULL`. Document payload: the bytes of change rows and snapshots.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use fieldsync_core::{JobId, Role, Timestamp, UserId};
use fieldsync_server::app::{AppState, housekeeping_round, open_store, serve_state};
use fieldsync_server::attachments::BlobStore;
use fieldsync_server::config::Settings;
use fieldsync_server::store::sql::Query;
use fieldsync_server::store::{self, Backend as StoreBackend, SqlStore, Store};
use serde_json::json;

use crate::device::{Device, id_bytes};
use crate::pg::database;
use crate::scenario::{Backend, Office, login, new_job, stock_the_fleet};
use crate::server::PASSWORD;

pub struct StorageConfig {
    pub backend: Backend,
    pub technicians: usize,
    pub days: usize,
    pub jobs_per_day: usize,
    pub seed: u64,
}

/// The database at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sizes {
    pub database_bytes: i64,
    pub change_rows: i64,
    pub change_bytes: i64,
    pub snapshot_bytes: i64,
    pub receipts: i64,
    pub archived_jobs: i64,
}

pub struct StorageRun {
    pub jobs: usize,
    /// The database before the first job.
    pub empty: Sizes,
    pub changes_sent: usize,
    pub before: Sizes,
    pub after: Sizes,
    pub seconds: f64,
}

pub async fn run(cfg: &StorageConfig) -> anyhow::Result<StorageRun> {
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("fieldsync-storage-")
        .tempdir()?;
    // The cluster lives until the run ends.
    let (_pg, url) = database(cfg.backend, dir.path())?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.path().to_owned(),
        database_url: Some(url.clone()),
        // The run takes longer than an access token lives.
        access_ttl_secs: 24 * 3600,
        ..Settings::default()
    };
    let store = open_store(&settings).await?;
    let raw = store::open(&url).await?;
    fieldsync_server::cli::create_user(
        store.as_ref(),
        "bench-admin".parse()?,
        Role::Admin,
        PASSWORD.into(),
    )
    .await?;
    fieldsync_server::cli::create_user(
        store.as_ref(),
        "bench-office".parse()?,
        Role::Dispatcher,
        PASSWORD.into(),
    )
    .await?;
    let mut users = Vec::new();
    for i in 0..cfg.technicians {
        let name = format!("tech-{i:05}");
        let id = fieldsync_server::cli::create_user(
            store.as_ref(),
            name.parse()?,
            Role::Technician,
            PASSWORD.into(),
        )
        .await?;
        users.push((name, id));
    }
    let blobs = BlobStore::open_with(None, dir.path(), &[])?;
    let state = AppState::with_parts(settings.clone(), store.clone(), blobs).await?;
    let clock = state.clock.clone();
    let served = state.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_state(served, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    let client = reqwest::Client::new();
    let admin = Office::login(&client, &base, "bench-admin", id_bytes(1, 0xAD)).await?;
    let vans = stock_the_fleet(
        &admin,
        users.iter().map(|(name, user)| (name.as_str(), *user)),
    )
    .await?;
    let office = Office::login(&client, &base, "bench-office", id_bytes(2, 0x0F)).await?;
    let mut devices = Vec::new();
    for (i, ((name, user), van)) in users.iter().zip(vans).enumerate() {
        let actor = id_bytes(i as u64 + 1, 0x7E);
        let tokens = login(&client, &base, name, actor).await?;
        let token = tokens["access_token"].as_str().context("token")?.to_owned();
        let seed = cfg.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        devices.push(Device::new(i, *user, token, actor, seed, van));
    }
    let sync_url = format!("{base}/v1/sync");
    // Schema, users, vans and the price book: what no job costs.
    let empty = measure(&raw).await?;

    let mut jobs = 0;
    let mut changes_sent = 0;
    for day in 0..cfg.days {
        eprintln!(
            "[storage/{}] day {}/{}",
            cfg.backend.name(),
            day + 1,
            cfg.days
        );
        for (device, (_, user)) in devices.iter_mut().zip(&users) {
            let today = create_day(&office, *user, day, device.index, cfg.jobs_per_day).await?;
            jobs += today.len();
            device.prepare();
            let first = device.sync(&client, &sync_url).await?;
            anyhow::ensure!(first.rejected == 0, "the day's first sync was refused");
            for job in today {
                let now = Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000);
                device.start_travel(job, now)?;
                changes_sent += 1 + device.work_job(job, now, &[])?;
                device.prepare();
                let record = device.sync(&client, &sync_url).await?;
                anyhow::ensure!(record.rejected == 0, "a visit's sync was refused");
            }
        }
    }

    let before = measure(&raw).await?;
    // Past both retentions: every closed job and every snapshot qualifies.
    let archive_after = settings
        .archive_closed_after()
        .context("the archive is on by default")?;
    let ttl = time::Duration::try_from(settings.refresh_ttl())?;
    clock.advance(archive_after.max(ttl) + time::Duration::days(1));
    compact(&state, archive_after, ttl).await?;
    let after = measure(&raw).await?;
    let _ = stop.send(());
    server.await??;
    Ok(StorageRun {
        jobs,
        empty,
        changes_sent,
        before,
        after,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The office's jobs for one technician's day, the first one edited.
async fn create_day(
    office: &Office,
    user: UserId,
    day: usize,
    tech: usize,
    n: usize,
) -> anyhow::Result<Vec<JobId>> {
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let body = new_job(&format!("Customer {tech}-{day}-{k}"), user, k)?;
        let view = office
            .call(reqwest::Method::POST, "/v1/jobs", &body)
            .await?;
        let id: JobId = view["job"]["id"].as_str().context("job id")?.parse()?;
        out.push(id);
    }
    if let Some(first) = out.first() {
        office
            .call(
                reqwest::Method::PATCH,
                &format!("/v1/jobs/{first}"),
                &json!({"problem": "No hot water; customer called again", "priority": "high"}),
            )
            .await?;
    }
    Ok(out)
}

/// The housekeeping round, then its two compaction steps until neither has
/// anything left (a round takes a bounded batch of each).
async fn compact(
    state: &AppState,
    archive_after: time::Duration,
    ttl: time::Duration,
) -> anyhow::Result<()> {
    housekeeping_round(state).await;
    for _ in 0..10_000 {
        let now = state.clock.now();
        let archived = fieldsync_server::jobs::archive::archive_closed(
            state,
            archive_after,
            now,
            fieldsync_server::jobs::archive::ARCHIVE_JOBS_PER_ROUND,
        )
        .await?;
        let pruned = state.store.prune_changes(now - ttl, 1_000).await?;
        if archived == 0 && pruned == 0 {
            return Ok(());
        }
    }
    anyhow::bail!("compaction did not finish")
}

async fn scalar(store: &SqlStore, sql: &'static str) -> anyhow::Result<i64> {
    let row = store.db().fetch_one(Query::new(sql)).await?;
    Ok(row.get::<Option<i64>>("n")?.unwrap_or(0))
}

async fn measure(store: &Arc<SqlStore>) -> anyhow::Result<Sizes> {
    let database_bytes = match store.backend() {
        StoreBackend::Sqlite => {
            store.db().execute(Query::new("VACUUM")).await?;
            store
                .db()
                .execute(Query::new("PRAGMA wal_checkpoint(TRUNCATE)"))
                .await?;
            scalar(
                store,
                "SELECT p.page_count * s.page_size AS n \
                 FROM pragma_page_count() p, pragma_page_size() s",
            )
            .await?
        }
        StoreBackend::Postgres => {
            store.db().execute(Query::new("VACUUM FULL")).await?;
            scalar(
                store,
                "SELECT CAST(SUM(pg_total_relation_size(c.oid)) AS BIGINT) AS n \
                 FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace \
                 WHERE c.relkind = 'r' AND ns.nspname = 'public'",
            )
            .await?
        }
    };
    Ok(Sizes {
        database_bytes,
        change_rows: scalar(store, "SELECT COUNT(*) AS n FROM doc_changes").await?,
        change_bytes: scalar(
            store,
            "SELECT CAST(SUM(length(bytes)) AS BIGINT) AS n FROM doc_changes",
        )
        .await?,
        snapshot_bytes: scalar(
            store,
            "SELECT CAST(SUM(length(bytes)) AS BIGINT) AS n FROM doc_snapshots",
        )
        .await?,
        receipts: scalar(store, "SELECT COUNT(*) AS n FROM doc_change_receipts").await?,
        archived_jobs: scalar(
            store,
            "SELECT COUNT(*) AS n FROM documents WHERE archived_at IS NOT NULL",
        )
        .await?,
    })
}

impl StorageRun {
    pub fn markdown(&self, cfg: &StorageConfig) -> String {
        let jobs = self.jobs.max(1) as f64;
        let per_job = |v: i64| v as f64 / jobs;
        let row = |name: &str, s: &Sizes| {
            format!(
                "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} |\n",
                per_job(s.database_bytes),
                per_job(s.database_bytes - self.empty.database_bytes),
                per_job(s.change_bytes),
                per_job(s.snapshot_bytes),
                s.change_rows,
                s.receipts,
                s.archived_jobs,
            )
        };
        let mut out = format!(
            "{} technicians x {} days x {} jobs = {} jobs ({} changes sent) on {}, {:.0} s\n\n\
             | compaction | database B/job | above the empty database, B/job | change rows B/job | snapshots B/job | change rows | receipts | archived jobs |\n\
             |---|---|---|---|---|---|---|---|\n",
            cfg.technicians,
            cfg.days,
            cfg.jobs_per_day,
            self.jobs,
            self.changes_sent,
            cfg.backend.name(),
            self.seconds,
        );
        out.push_str(&row("off (as stored after the days)", &self.before));
        out.push_str(&row("on (past the retentions)", &self.after));
        let grown = |s: &Sizes| (s.database_bytes - self.empty.database_bytes).max(1) as f64;
        out.push_str(&format!(
            "\nempty database {} B; after / before, above it: {:.2}\n",
            self.empty.database_bytes,
            grown(&self.after) / grown(&self.before)
        ));
        out
    }
}
